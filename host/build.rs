//! Builds the guest component and embeds it in the host binary.
//!
//! The host must not depend on `okta-normalizer-core` (the WIT is its only contract), so the
//! guest is built here by a nested cargo for `wasm32-wasip2` into its own target directory, and the
//! resulting component is copied to `OUT_DIR`. `OKTA_NORMALIZER_COMPONENT=path` skips the build and
//! embeds a component built elsewhere.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dest = out.join("okta_normalizer.wasm");
    println!("cargo:rerun-if-env-changed=OKTA_NORMALIZER_COMPONENT");
    if let Some(prebuilt) = env::var_os("OKTA_NORMALIZER_COMPONENT") {
        // A new build of the same file must be picked up too, not only another path.
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        copy(Path::new(&prebuilt), &dest);
        return;
    }

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ sits in the workspace root").to_path_buf();
    for dir in ["guest/core/src", "guest/core/data", "guest/core/Cargo.toml", "guest/component", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    // A separate target dir: the outer cargo holds a lock on its own.
    let target_dir = root.join("target").join("guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--package", "okta-normalizer-guest", "--target", "wasm32-wasip2", "--profile", "component"])
        .arg("--target-dir")
        .arg(&target_dir);
    // Do not leak the outer build's settings (flags for the host target, clippy's wrapper,
    // coverage instrumentation) into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    // SIMD lets LLVM vectorize the string scanning in the guest; wasmtime runs it by default.
    cmd.env("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", "-Ctarget-feature=+simd128");
    let status = cmd.status().expect("could not run cargo to build the guest component");
    assert!(
        status.success(),
        "building the guest component failed; run `cargo build -p okta-normalizer-guest --target wasm32-wasip2 --profile component` to see why \
         (the target is installed by rust-toolchain.toml: `rustup target add wasm32-wasip2`)"
    );
    copy(&target_dir.join("wasm32-wasip2/component/okta_normalizer_guest.wasm"), &dest);
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("could not copy the component from {}: {e}", from.display()));
}
