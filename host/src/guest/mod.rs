//! Runs the normalizer component in wasmtime.
//!
//! [`Runtime`] compiles the component once per process (with wasmtime's on-disk cache, so later
//! processes skip compilation) and [`Normalizer`] is one instance with one `engine` resource in it.
//! The guest imports nothing it uses; the WASI imports that Rust's std links in are defined as traps,
//! so the guest can reach no clock, file or socket even by accident.

mod bindings;

use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow};
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{Cache, CacheConfig, Config, Engine, Store, StoreLimits, StoreLimitsBuilder};

pub use bindings::exports::okta::normalizer::normalizer::{
    Alert, AlertKind, BatchError, BatchOptions, BatchResult, Config as EngineConfig, ConfigError, DetectionConfig,
    Diagnostic, DirectoryChange, DirectoryKind, DirectoryObject, DirectoryProblem, DirectoryResult, DirectoryUpdate,
    EnrichmentConfig, Entity, EventError, GroupMembers, InputFormat, LocatedOutcome, Normalized, Outcome,
    OutputOptions, Placeholder, RuleError, RuleInfo, RuleSource, StateChanges, StatePart, TestResult, UserRoles,
};
use bindings::{OktaNormalizer, OktaNormalizerPre};

/// The component built from `guest/component`, embedded at build time (see `build.rs`).
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/okta_normalizer.wasm"));

/// The most linear memory one guest instance may use.
const MEMORY_LIMIT: usize = 2 << 30;

/// Where the compiled component comes from and where compiled code is cached.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// A component file to load instead of the embedded one.
    pub component: Option<PathBuf>,
    /// Directory for wasmtime's compilation cache; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
}

/// The compiled component, ready to instantiate. Cheap to share.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    component: Component,
    pre: OktaNormalizerPre<Limits>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// Per-store state: the memory limits, and how far the guest's linear memory has grown (wasm
/// memory never shrinks, so this is also its peak).
struct Limits {
    limits: StoreLimits,
    memory_bytes: usize,
}

impl Limits {
    fn new() -> Limits {
        Limits { limits: StoreLimitsBuilder::new().memory_size(MEMORY_LIMIT).build(), memory_bytes: 0 }
    }
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grows = self.limits.memory_growing(current, desired, maximum)?;
        if grows {
            self.memory_bytes = self.memory_bytes.max(desired);
        }
        Ok(grows)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl Runtime {
    /// Compiles (or loads from cache) the component and links it.
    pub fn new(options: &RuntimeOptions) -> Result<Runtime> {
        let mut config = Config::new();
        if std::env::var_os("OKTA_NORMALIZER_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = &options.cache_dir {
            let mut cache = CacheConfig::new();
            cache.with_directory(dir);
            match Cache::new(cache) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(error) => warn(&format!(
                    "the compilation cache in {} is unusable ({error}); compiling without it",
                    dir.display()
                )),
            }
        }
        let engine = Engine::new(&config).map_err(|e| anyhow!("{e}")).context("while setting up wasmtime")?;
        let component = match &options.component {
            Some(path) => Component::from_file(&engine, path)
                .map_err(|e| anyhow!("{e:?}"))
                .with_context(|| format!("while loading the component {}", path.display()))?,
            None => Component::new(&engine, EMBEDDED_COMPONENT)
                .map_err(|e| anyhow!("{e:?}"))
                .context("while compiling the embedded component")?,
        };
        let mut linker = Linker::<Limits>::new(&engine);
        define_hash_seed(&mut linker).context("while linking the component")?;
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(|e| anyhow!("{e:?}"))
            .context("while linking the component")?;
        let instance_pre =
            linker.instantiate_pre(&component).map_err(|e| anyhow!("{e:?}")).context("while linking the component")?;
        let pre = OktaNormalizerPre::new(instance_pre)
            .map_err(|e| anyhow!("{e:?}"))
            .context("the component does not export okta:normalizer@0.6.0; is it from another version?")?;
        Ok(Runtime { engine, component, pre })
    }

    /// The names of everything the component imports (Rust std's WASI shims; see ARCHITECTURE.md).
    pub fn import_names(&self) -> Vec<String> {
        self.component.component_type().imports(&self.engine).map(|(name, _)| name.to_owned()).collect()
    }

    /// A fresh instance with an engine built from `config`.
    ///
    /// The outer `Result` is a host or guest failure (a bug); the inner one is the guest refusing
    /// the config.
    pub fn instantiate(&self, config: &EngineConfig) -> Result<Result<Normalizer, ConfigError>> {
        let mut store = Store::new(&self.engine, Limits::new());
        store.limiter(|limits| limits);
        let bindings: OktaNormalizer = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| anyhow!("{e:?}"))
            .context("while instantiating the component")?;
        let created = bindings
            .okta_normalizer_normalizer()
            .engine()
            .call_create(&mut store, config)
            .map_err(|e| anyhow!("{e:?}"))
            .context("the component trapped while creating its engine (a guest bug)")?;
        Ok(created.map(|engine| Normalizer { store, bindings, engine }))
    }

    /// A bare instance for the interface's free functions (the rule tools), with no engine.
    fn tools(&self) -> Result<(Store<Limits>, OktaNormalizer)> {
        let mut store = Store::new(&self.engine, Limits::new());
        store.limiter(|limits| limits);
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| anyhow!("{e:?}"))
            .context("while instantiating the component")?;
        Ok((store, bindings))
    }

    /// The built-in rule pack's files.
    pub fn builtin_rules(&self) -> Result<Vec<RuleSource>> {
        let (mut store, bindings) = self.tools()?;
        trapped(bindings.okta_normalizer_normalizer().call_builtin_rules(&mut store), "listing the built-in rules")
    }

    /// Checks one rule file on its own.
    pub fn lint_rules(&self, source: &RuleSource) -> Result<Vec<RuleError>> {
        let (mut store, bindings) = self.tools()?;
        trapped(bindings.okta_normalizer_normalizer().call_lint_rules(&mut store, source), "linting rules")
    }

    /// Runs the tests written inside `sources` (and the built-in pack's when `builtin`).
    pub fn test_rules(&self, sources: &[RuleSource], builtin: bool) -> Result<Result<Vec<TestResult>, Vec<RuleError>>> {
        let (mut store, bindings) = self.tools()?;
        trapped(bindings.okta_normalizer_normalizer().call_test_rules(&mut store, sources, builtin), "testing rules")
    }
}

fn trapped<T>(result: wasmtime::Result<T>, doing: &str) -> Result<T> {
    result.map_err(|e| anyhow!("{e:?}")).with_context(|| format!("the component trapped while {doing} (a guest bug)"))
}

/// One component instance holding one normalizer engine.
pub struct Normalizer {
    store: Store<Limits>,
    bindings: OktaNormalizer,
    engine: ResourceAny,
}

impl std::fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Normalizer").finish_non_exhaustive()
    }
}

impl Normalizer {
    /// Normalizes one batch: one boundary crossing for all its events.
    ///
    /// The outer `Result` is a trap (a guest bug, after which this instance must not be reused);
    /// the inner one is the guest's answer.
    pub fn normalize(&mut self, input: &[u8], options: &BatchOptions) -> Result<Result<BatchResult, BatchError>> {
        self.bindings
            .okta_normalizer_normalizer()
            .engine()
            .call_normalize(&mut self.store, self.engine, input, options)
            .map_err(|e| anyhow!("{e:?}"))
            .context("the component trapped while normalizing (a guest bug); the batch was not processed")
    }

    /// The detection state, to keep beside the checkpoint.
    pub fn export_state(&mut self) -> Result<Vec<u8>> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(engine.call_export_state(&mut self.store, self.engine), "exporting its detection state")
    }

    /// Restores a detection state; the inner error says why the guest refused it.
    pub fn import_state(&mut self, state: &[u8]) -> Result<Result<(), String>> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(engine.call_import_state(&mut self.store, self.engine, state), "importing its detection state")
    }

    /// The size of the guest's linear memory: the most it has needed so far.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory_bytes
    }

    /// What changed in the detection state since the last call, as changes to its stored parts.
    pub fn export_state_changes(&mut self) -> Result<StateChanges> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(engine.call_export_state_changes(&mut self.store, self.engine), "exporting its detection state changes")
    }

    /// Restores a detection state from its stored parts; the inner error says why the guest refused them.
    pub fn import_state_parts(&mut self, parts: &[StatePart]) -> Result<Result<(), String>> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(
            engine.call_import_state_parts(&mut self.store, self.engine, parts),
            "importing its detection state parts",
        )
    }

    /// Tells detection these uuids were already processed.
    pub fn mark_seen(&mut self, uuids: &[String]) -> Result<()> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(engine.call_mark_seen(&mut self.store, self.engine, uuids), "marking uuids as seen")
    }

    /// The loaded rules.
    pub fn rules(&mut self) -> Result<Vec<RuleInfo>> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(engine.call_rules(&mut self.store, self.engine), "listing its rules")
    }

    /// Loads or updates the directory the engine enriches events with; returns the entity
    /// documents of the users and devices that changed, and the objects the guest skipped.
    pub fn update_directory(&mut self, update: &DirectoryUpdate) -> Result<DirectoryResult> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(engine.call_update_directory(&mut self.store, self.engine, update), "updating its directory")
    }

    /// Replaces the directory with a whole one from a JSON snapshot; `Ok(Err(..))` says what is
    /// wrong with the snapshot.
    pub fn load_directory_snapshot(&mut self, snapshot: &str) -> Result<Result<DirectoryResult, String>> {
        let engine = self.bindings.okta_normalizer_normalizer().engine();
        trapped(
            engine.call_load_directory_snapshot(&mut self.store, self.engine, snapshot),
            "loading a directory snapshot",
        )
    }
}

/// Rust's std seeds `HashMap`s from `wasi:random/insecure-seed` (the user-agent parser builds one
/// table that way). The seed only changes iteration order, which no output depends on; a constant
/// keeps the guest free of any real source of randomness.
fn define_hash_seed(linker: &mut Linker<Limits>) -> Result<()> {
    let mut instance = linker.instance("wasi:random/insecure-seed@0.2.6").map_err(|e| anyhow!("{e:?}"))?;
    instance
        .func_wrap("insecure-seed", |_store, (): ()| Ok(((0x6f6b_7461_u64, 0x6e6f_726d_u64),)))
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

fn warn(message: &str) {
    eprintln!("okta-normalizer: warning: {message}");
}

impl EnrichmentConfig {
    /// The defaults: the standard profile fields and no custom attributes.
    pub fn defaults() -> EnrichmentConfig {
        EnrichmentConfig { profile_fields: Vec::new(), custom_attributes: Vec::new() }
    }
}
