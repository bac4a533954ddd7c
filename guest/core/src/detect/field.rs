//! The field resolver: how a rule's dotted path finds values in an Okta event.
//!
//! - Keys compare case-insensitively on both sides (`eventType` = `EVENTTYPE` = `eventtype`).
//! - The raw LogEvent is looked up first; only when the path finds nothing there is the ECS
//!   document looked up: the typed document the normalizer just built, read in place through
//!   `normalize::json::Members` (never written out and parsed again), or, for explanations and
//!   restored snapshots, its text, parsed once.
//! - Arrays are transparent: a path through an array visits every element.
//!   `target[type=User].alternateId` keeps only the elements whose `type` is `User`.
//! - A string met where the path goes on (`debugData.behaviors.New IP`) is read as a map when it
//!   is Okta's `{k=v, ...}` form or a JSON object (`logOnlySecurityData`); each such string is
//!   parsed at most once per event.
//!
//! Events are held as a light borrowed [`Tree`] (`decode/tree.rs`; strings borrow from the event
//! text); when every event meets a rule, the typed LogEvent is read from the same tree, so the
//! text is read once. The rule set numbers equal paths ([`FieldPath::id`]), so
//! a path many rules test (`eventType`, `client.userAgent.rawUserAgent`) is resolved once per event
//! and replayed for the others.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;

use bumpalo::Bump;

use crate::FixedHash;
use crate::decode::lenient::last_of_each_key;
use crate::decode::tree::{self, Num, Text, Tree};
use crate::normalize::debug_data::{JavaEntries, is_braced};
use crate::normalize::json::{Members, Node};

/// One value a path reached.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'v> {
    Null,
    Bool(bool),
    Num(Num),
    Str(&'v str),
    /// An object (present, but not a scalar).
    Object,
}

impl Val<'_> {
    /// The scalar as text (numbers and booleans as JSON writes them); `None` for null and objects.
    pub(crate) fn text(&self) -> Option<Cow<'_, str>> {
        match *self {
            Val::Str(s) => Some(Cow::Borrowed(s)),
            Val::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Val::Num(n) => Some(Cow::Owned(n.text())),
            Val::Null | Val::Object => None,
        }
    }
}

/// A parsed field path such as `target[type=User].alternateId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    /// As written in the rule.
    pub(crate) text: String,
    segments: Vec<Segment>,
    /// Whether the ECS document may hold it: not when it starts with a key only the raw
    /// LogEvent has (`actor`, `debugContext`, ...), which saves parsing the document.
    in_ecs: bool,
    /// The rule set's number for this path (equal paths share one), so an event resolves it
    /// once however many rules test it; `None` outside a rule set.
    pub(crate) id: Option<u32>,
}

/// Top-level LogEvent keys (lowercased) that the ECS document does not have.
const RAW_ONLY: &[&str] = &[
    "actor",
    "authenticationcontext",
    "debugcontext",
    "displaymessage",
    "eventtype",
    "legacyeventtype",
    "outcome",
    "published",
    "request",
    "securitycontext",
    "severity",
    "target",
    "transaction",
    "uuid",
    "version",
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// Lowercased.
    key: String,
    /// Whether `key` is ASCII (then a key of another length never equals it).
    ascii: bool,
    /// `[key=value]`: lowercased key and value.
    select: Option<(String, String)>,
}

impl FieldPath {
    /// Parses a dotted path; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<FieldPath, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        loop {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.trim().is_empty() {
                return Err(format!(
                    "the field name '{text}' has an empty part; write it as a dotted path such as actor.alternateId"
                ));
            }
            rest = &rest[end..];
            let mut select = None;
            if let Some(inner) = rest.strip_prefix('[') {
                let Some(close) = inner.find(']') else {
                    return Err(format!("'{text}' opens '[' without closing it; write key[type=User].field"));
                };
                let Some((k, v)) = inner[..close].split_once('=') else {
                    return Err(format!("'{text}' needs key=value inside [...], for example target[type=User]"));
                };
                if k.trim().is_empty() {
                    return Err(format!("'{text}' has an empty key inside [...]"));
                }
                select = Some((k.trim().to_lowercase(), v.trim().to_lowercase()));
                rest = &inner[close + 1..];
            }
            let key = key.to_lowercase();
            segments.push(Segment { ascii: key.is_ascii(), key, select });
            if rest.is_empty() {
                break;
            }
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => return Err(format!("'{text}' has text after ']' that does not start with '.'")),
            }
        }
        let in_ecs = !RAW_ONLY.contains(&segments[0].key.as_str());
        Ok(FieldPath { text: text.to_owned(), segments, in_ecs, id: None })
    }

    /// Numbers this path: the number its [`FieldPath::key`] has in `ids`, or the next one.
    pub(crate) fn number_in(&mut self, ids: &mut BTreeMap<String, u32>) {
        let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        self.id = Some(*ids.entry(self.key()).or_insert(next));
    }

    /// What makes two paths resolve alike: their lowercased segments.
    pub(crate) fn key(&self) -> String {
        let mut key = String::new();
        for s in &self.segments {
            key.push_str(&s.key);
            if let Some((k, v)) = &s.select {
                key.push_str(&format!("[{k}={v}]"));
            }
            key.push('.');
        }
        key
    }

    /// The lowercased key, when the path is a single plain key.
    pub(crate) fn single_key(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [s] if s.select.is_none() => Some(&s.key),
            _ => None,
        }
    }
}

/// `key` equals the lowercased `lower`, ignoring case.
fn key_eq(key: &str, lower: &str) -> bool {
    key_eq_known(key, lower, lower.is_ascii())
}

/// [`key_eq`], with whether `lower` is ASCII already known.
#[inline]
fn key_eq_known(key: &str, lower: &str, lower_ascii: bool) -> bool {
    if key.len() == lower.len() && key.eq_ignore_ascii_case(lower) {
        return true;
    }
    // Unicode case folding can change lengths; only then is the slow path needed.
    !lower_ascii && key.to_lowercase() == lower
}

/// Strings that hold maps, each parsed at most once per event into the event's arena, keyed by
/// their address in the event.
struct Embedded<'a> {
    arena: &'a Bump,
    parsed: RefCell<Vec<(usize, usize, Option<Tree<'a>>)>>,
}

impl<'a> Embedded<'a> {
    fn new(arena: &'a Bump) -> Embedded<'a> {
        Embedded { arena, parsed: RefCell::default() }
    }

    /// The map `text` holds, if it holds one.
    fn map(&self, text: &str) -> Option<Tree<'a>> {
        let trimmed = text.trim();
        if !is_braced(trimmed) {
            return None;
        }
        let key = (text.as_ptr() as usize, text.len());
        if let Some((_, _, parsed)) = self.parsed.borrow().iter().find(|(p, l, _)| (*p, *l) == key) {
            return *parsed;
        }
        let parsed = parse_embedded(trimmed, self.arena);
        self.parsed.borrow_mut().push((key.0, key.1, parsed));
        parsed
    }
}

/// One event as the rules see it: the raw LogEvent, and the ECS document.
pub(crate) struct EventView<'a> {
    raw: Tree<'a>,
    /// Where the event's tree, and the maps parsed from its strings, are.
    arena: &'a Bump,
    /// The text `raw` was read from, which its strings borrow.
    raw_text: &'a str,
    ecs: Ecs<'a>,
    embedded: Embedded<'a>,
    /// What the rule set's plain paths found in the raw event, gathered in one walk when the
    /// view is made ([`PathTrie`]): the values, grouped by path number in walk order, and each
    /// number's range in them.
    gathered: Vec<Found<'a>>,
    ranges: Vec<Gathered>,
    /// Path number → whether the walk resolved it (the trie's own list; empty without a trie).
    /// A path it did not is resolved on its own.
    held: &'a [bool],
    /// What each other numbered path resolved to, once per event (see [`FieldPath::id`]).
    memo: RefCell<Vec<Option<Rc<[Found<'a>]>>>>,
    /// Paths given as text (the correlations' group-by and value fields), parsed and numbered
    /// across events, so they share `memo` with the rules' paths. Without one (explanations,
    /// restored snapshots) such a path is parsed and resolved on every read.
    book: Option<&'a RefCell<PathBook>>,
    /// Shared test number → what the test answered on this event: 0 not asked yet, 1 false,
    /// 2 true (see [`FieldTest::shared`](super::modifiers::FieldTest)).
    verdicts: RefCell<Vec<u8>>,
    /// The walk's buffer, empty once the view is made (kept for the next view).
    found: Vec<(u32, Found<'static>)>,
}

/// An event view's buffers, kept by the detector from one event to the next so that a view does
/// not allocate them again (empty between views).
#[derive(Debug, Default)]
pub(crate) struct ViewScratch {
    found: Vec<(u32, Found<'static>)>,
    gathered: Vec<Found<'static>>,
    ranges: Vec<Gathered>,
    memo: Vec<Option<Rc<[Found<'static>]>>>,
    verdicts: Vec<u8>,
}

/// The raw event detection reads: its text, and the tree when the caller already read it from
/// that text (the typed LogEvent was read from it too); without one the text is read here. Both
/// into `arena`, which the caller empties between events.
#[derive(Clone, Copy)]
pub(crate) struct RawEvent<'a> {
    pub(crate) text: &'a str,
    pub(crate) tree: Option<Tree<'a>>,
    pub(crate) arena: &'a Bump,
}

#[cfg(test)]
impl<'a> RawEvent<'a> {
    pub(crate) fn text(text: &'a str, arena: &'a Bump) -> RawEvent<'a> {
        RawEvent { text, tree: None, arena }
    }
}

/// The rule set's numbered paths, as a tree of lowercased keys (with their `[key=value]`
/// selections), so that one walk over an event resolves all of them (instead of one walk per
/// path).
#[derive(Debug, Clone, Default)]
pub(crate) struct PathTrie {
    root: TrieNode,
    /// Path number → whether this tree holds it.
    holds: Vec<bool>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// The paths that end here.
    ends: Vec<u32>,
    children: Vec<TrieChild>,
    /// The lengths an event's key can have to name one of `children` ([`TrieNode::may_name`]):
    /// bit `n` for length `n`, the top bit for every length from 63 on; every bit once a key is
    /// not ASCII (Unicode case folding can change a length). Most keys of an object the walk
    /// enters name no child, and most of those are told apart by this one test.
    lengths: u64,
}

impl TrieNode {
    fn length_bit(len: usize) -> u64 {
        1 << len.min(63)
    }

    /// Whether an event's key of `len` bytes may name one of the children.
    #[inline]
    fn may_name(&self, len: usize) -> bool {
        self.lengths & TrieNode::length_bit(len) != 0
    }
}

#[derive(Debug, Clone)]
struct TrieChild {
    /// The lowercased key.
    key: String,
    /// Whether `key` is ASCII (then an event's key matches it ignoring ASCII case only).
    ascii: bool,
    /// `[key=value]`, lowercased: only the elements (or the object) where `key` has `value`.
    select: Option<(String, String)>,
    node: TrieNode,
}

impl TrieChild {
    /// Whether an event's `key` names this child. Spelled out for the ASCII case (all of the
    /// pack's keys), which the walk inlines: it meets every key of every object it enters.
    #[inline]
    fn is(&self, key: &str) -> bool {
        if self.ascii {
            key.len() == self.key.len() && key.eq_ignore_ascii_case(&self.key)
        } else {
            key_eq_known(key, &self.key, false)
        }
    }
}

impl PathTrie {
    /// Adds a numbered path.
    pub(crate) fn add(&mut self, path: &FieldPath) {
        let Some(id) = path.id else { return };
        if self.holds(id) {
            return;
        }
        let mut node = &mut self.root;
        for segment in &path.segments {
            let at = match node.children.iter().position(|c| c.key == segment.key && c.select == segment.select) {
                Some(at) => at,
                None => {
                    let child = TrieChild {
                        key: segment.key.clone(),
                        ascii: segment.ascii,
                        select: segment.select.clone(),
                        node: TrieNode::default(),
                    };
                    node.lengths |= if segment.ascii { TrieNode::length_bit(segment.key.len()) } else { u64::MAX };
                    node.children.push(child);
                    node.children.len() - 1
                }
            };
            node = &mut node.children[at].node;
        }
        node.ends.push(id);
        let id = id as usize;
        if self.holds.len() <= id {
            self.holds.resize(id + 1, false);
        }
        self.holds[id] = true;
    }

    pub(crate) fn holds(&self, id: u32) -> bool {
        self.holds.get(id as usize).copied().unwrap_or(false)
    }
}

/// Where a path's gathered values are: `start..start + len` of [`EventView::gathered`].
#[derive(Debug, Clone, Copy, Default)]
struct Gathered {
    start: u32,
    len: u32,
}

/// Walks `tree` once below `node`, collecting `(path number, value)` in walk order: the order a
/// walk of each path alone would give (arrays are transparent; a string where paths go on is
/// read as a map when it holds one, as [`Walker`] does).
fn gather<'a>(tree: &Tree<'a>, node: &TrieNode, embedded: &Embedded<'a>, out: &mut Vec<(u32, Found<'a>)>) {
    if let Tree::Arr(items) = tree {
        for item in *items {
            gather(item, node, embedded, out);
        }
        return;
    }
    for &id in &node.ends {
        let found = match tree {
            Tree::Null => Found::Null,
            Tree::Bool(b) => Found::Bool(*b),
            Tree::Num(n) => Found::Num(*n),
            Tree::Str(s) => Found::Str(Cow::Borrowed(s.as_str()), Fold::new()),
            Tree::Arr(_) | Tree::Obj(_) => Found::Object,
        };
        out.push((id, found));
    }
    if !node.children.is_empty() {
        gather_below(tree, node, embedded, out);
    }
}

/// The paths going on below `node` from `tree`.
fn gather_below<'a>(tree: &Tree<'a>, node: &TrieNode, embedded: &Embedded<'a>, out: &mut Vec<(u32, Found<'a>)>) {
    match tree {
        Tree::Obj(entries) => {
            for (key, value) in *entries {
                if !node.may_name(key.len()) {
                    continue;
                }
                for child in &node.children {
                    if child.is(key) {
                        match &child.select {
                            Some((k, v)) => gather_selected(value, k, v, &child.node, embedded, out),
                            None => gather(value, &child.node, embedded, out),
                        }
                    }
                }
            }
        }
        Tree::Arr(items) => {
            for item in *items {
                gather_below(item, node, embedded, out);
            }
        }
        Tree::Str(text) => {
            if let Some(parsed) = embedded.map(text) {
                gather_below(&parsed, node, embedded, out);
            }
        }
        Tree::Null | Tree::Bool(_) | Tree::Num(_) => {}
    }
}

/// `[key=value]` below a key: [`gather`] on the elements (or the object) that are selected, as
/// [`Walker`] selects them.
fn gather_selected<'a>(
    tree: &Tree<'a>,
    key: &str,
    want: &str,
    node: &TrieNode,
    embedded: &Embedded<'a>,
    out: &mut Vec<(u32, Found<'a>)>,
) {
    match tree {
        Tree::Arr(items) => {
            for item in *items {
                gather_selected(item, key, want, node, embedded, out);
            }
        }
        Tree::Obj(entries) if selects(entries, key, want) => gather(tree, node, embedded, out),
        Tree::Obj(_) | Tree::Null | Tree::Bool(_) | Tree::Num(_) | Tree::Str(_) => {}
    }
}

/// Whether an object's `key` (lowercased) has the wanted (lowercased) value: `[key=value]`.
fn selects(entries: &[(Text<'_>, Tree<'_>)], key: &str, want: &str) -> bool {
    entries.iter().any(|(k, v)| {
        key_eq(k, key)
            && match v {
                Tree::Str(s) => key_eq(s, want),
                Tree::Num(n) => n.text() == want,
                Tree::Bool(b) => b.to_string() == want,
                Tree::Null | Tree::Arr(_) | Tree::Obj(_) => false,
            }
    })
}

/// Paths the engine reads by their text (correlation group-by and value fields, geo and session
/// fields), each parsed once and numbered like the rules' paths: the same lowercased path gets
/// the rules' number, so an event resolves it once for both.
#[derive(Debug, Default)]
pub(crate) struct PathBook {
    by_text: HashMap<String, Option<Rc<FieldPath>>, FixedHash>,
    /// [`FieldPath::key`] → number; starts with the rule set's.
    ids: BTreeMap<String, u32>,
}

impl PathBook {
    pub(crate) fn new(ids: BTreeMap<String, u32>) -> PathBook {
        PathBook { by_text: HashMap::default(), ids }
    }

    /// The numbered path written as `text`; `None` when it is not a valid path.
    fn get(&mut self, text: &str) -> Option<Rc<FieldPath>> {
        if let Some(known) = self.by_text.get(text) {
            return known.clone();
        }
        let parsed = FieldPath::parse(text).ok().map(|mut path| {
            path.number_in(&mut self.ids);
            Rc::new(path)
        });
        self.by_text.insert(text.to_owned(), parsed.clone());
        parsed
    }
}

/// A value a path reached, kept for the other rules that test the same path.
#[derive(Debug, Clone)]
enum Found<'a> {
    Null,
    Bool(bool),
    Num(Num),
    /// With its lowercased form, made when a case-insensitive test first needs it.
    Str(Cow<'a, str>, Fold),
    Object,
}

/// A string's lowercased form, made at most once per event however many tests read it:
/// `None` inside when the string has no uppercase (it is its own folded form).
pub(crate) type Fold = OnceCell<Option<Box<str>>>;

impl Found<'_> {
    fn val(&self) -> Val<'_> {
        match self {
            Found::Null => Val::Null,
            Found::Bool(b) => Val::Bool(*b),
            Found::Num(n) => Val::Num(*n),
            Found::Str(s, _) => Val::Str(s),
            Found::Object => Val::Object,
        }
    }

    fn fold(&self) -> Option<&Fold> {
        match self {
            Found::Str(_, fold) => Some(fold),
            _ => None,
        }
    }
}

/// The ECS document: the typed one the normalizer just built (read in place), or its text
/// (parsed on first use; for explanations and restored snapshots).
enum Ecs<'a> {
    Typed(&'a dyn Members),
    Text(&'a str, OnceCell<Tree<'a>>),
}

impl fmt::Debug for EventView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventView").field("raw", &self.raw).finish_non_exhaustive()
    }
}

impl<'a> EventView<'a> {
    /// `raw` is the LogEvent's JSON text, `ecs` the document the normalizer wrote for it; both
    /// are read into `arena` as rules need them.
    pub(crate) fn new(arena: &'a Bump, raw: &'a str, ecs: &'a str) -> EventView<'a> {
        EventView {
            raw: tree::parse(raw, arena).unwrap_or(Tree::Null),
            arena,
            raw_text: "",
            ecs: Ecs::Text(ecs, OnceCell::new()),
            embedded: Embedded::new(arena),
            gathered: Vec::new(),
            ranges: Vec::new(),
            held: &[],
            memo: RefCell::default(),
            book: None,
            verdicts: RefCell::default(),
            found: Vec::new(),
        }
    }

    /// `raw` is the LogEvent (its text, and its tree when already read), `ecs` the typed document
    /// the normalizer built from it; `book` numbers the paths read by their text (it must start
    /// with the rule set's numbers). With `trie`, its paths are all resolved in one walk now.
    #[cfg(test)]
    pub(crate) fn with_document(
        raw: RawEvent<'a>,
        ecs: &'a dyn Members,
        book: Option<&'a RefCell<PathBook>>,
        trie: Option<&'a PathTrie>,
    ) -> EventView<'a> {
        EventView::with_scratch(raw, ecs, book, trie, ViewScratch::default())
    }

    /// [`EventView::with_document`] in the buffers of an earlier view ([`EventView::into_scratch`]).
    pub(crate) fn with_scratch(
        raw: RawEvent<'a>,
        ecs: &'a dyn Members,
        book: Option<&'a RefCell<PathBook>>,
        trie: Option<&'a PathTrie>,
        scratch: ViewScratch,
    ) -> EventView<'a> {
        let RawEvent { text: raw, tree, arena } = raw;
        let tree: Tree<'a> = tree.unwrap_or_else(|| tree::parse(raw, arena).unwrap_or(Tree::Null));
        let embedded = Embedded::new(arena);
        let ViewScratch { found, gathered, mut ranges, memo, verdicts } = scratch;
        let (mut found, mut gathered, mut memo) =
            (crate::relabel(found), crate::relabel(gathered), crate::relabel(memo));
        if let Some(trie) = trie {
            gather(&tree, &trie.root, &embedded, &mut found);
            // Stable: each path keeps its walk order.
            found.sort_by_key(|(id, _)| *id);
            ranges.resize(trie.holds.len(), Gathered::default());
            gathered.reserve(found.len());
            for (i, (id, value)) in found.drain(..).enumerate() {
                let range = &mut ranges[id as usize];
                if range.len == 0 {
                    range.start = u32::try_from(i).unwrap_or(u32::MAX);
                }
                range.len += 1;
                gathered.push(value);
            }
        }
        memo.resize(book.map_or(0, |b| b.borrow().ids.len()), None);
        EventView {
            raw: tree,
            arena,
            raw_text: raw,
            ecs: Ecs::Typed(ecs),
            embedded,
            gathered,
            ranges,
            held: trie.map_or(&[], |t| &t.holds),
            memo: RefCell::new(memo),
            book,
            verdicts: RefCell::new(verdicts),
            found: crate::relabel(found),
        }
    }

    /// The view's buffers, emptied, for the next event's view.
    pub(crate) fn into_scratch(self) -> ViewScratch {
        let EventView { gathered, mut ranges, memo, verdicts, found, .. } = self;
        ranges.clear();
        let mut verdicts = verdicts.into_inner();
        verdicts.clear();
        ViewScratch {
            found: crate::relabel(found),
            gathered: crate::relabel(gathered),
            ranges,
            memo: crate::relabel(memo.into_inner()),
            verdicts,
        }
    }

    /// What the shared test `id` answered on this event, if it was asked already.
    pub(crate) fn verdict(&self, id: u32) -> Option<bool> {
        match self.verdicts.borrow().get(id as usize) {
            Some(1) => Some(false),
            Some(2) => Some(true),
            _ => None,
        }
    }

    pub(crate) fn set_verdict(&self, id: u32, verdict: bool) {
        let mut verdicts = self.verdicts.borrow_mut();
        let i = id as usize;
        if verdicts.len() <= i {
            verdicts.resize(i + 1, 0);
        }
        verdicts[i] = 1 + u8::from(verdict);
    }

    /// Calls `f` with every value `path` reaches (raw event first, else the ECS document) until
    /// it returns `true`. Returns whether the path reached anything at all.
    ///
    /// A numbered path is resolved once per event; later visits replay what it found.
    pub(crate) fn visit(&self, path: &FieldPath, f: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
        self.visit_folding(path, &mut |v, _| f(v))
    }

    /// [`EventView::visit`], also handing over each string's [`Fold`] when the value is kept for
    /// the event (numbered paths), so its lowercased form is made once for every test.
    pub(crate) fn visit_folding(&self, path: &FieldPath, f: &mut dyn FnMut(Val<'_>, Option<&Fold>) -> bool) -> bool {
        let Some(id) = path.id.map(|id| id as usize) else {
            return self.resolve(path, &mut |v| f(v, None));
        };
        // Gathered by the walk: what it found, unless it found nothing and the ECS document may
        // still have the path.
        let gathered = self.held.get(id).copied().unwrap_or(false).then(|| self.ranges[id]);
        if let Some(range) = gathered.filter(|r| r.len > 0 || !path.in_ecs) {
            let start = range.start as usize;
            for v in &self.gathered[start..start + range.len as usize] {
                if f(v.val(), v.fold()) {
                    break;
                }
            }
            return range.len > 0;
        }
        let known = self.memo.borrow().get(id).cloned().flatten();
        let found = match known {
            Some(found) => found,
            None => {
                // When the walk found nothing in the raw event, only the ECS document is left.
                let found = self.resolve_all(path, gathered.is_none());
                let mut memo = self.memo.borrow_mut();
                if memo.len() <= id {
                    memo.resize(id + 1, None);
                }
                memo[id] = Some(Rc::clone(&found));
                found
            }
        };
        for v in found.iter() {
            if f(v.val(), v.fold()) {
                break;
            }
        }
        !found.is_empty()
    }

    /// Every scalar value of the path written as `path`, as text; empty when absent or when the
    /// path is not valid. With a book, resolved once per event for each distinct path.
    pub(crate) fn texts_of(&self, path: &str) -> Vec<String> {
        self.with_path(path, |p| self.texts(p)).unwrap_or_default()
    }

    /// The first non-empty one of [`EventView::texts_of`], without collecting the others.
    pub(crate) fn first_text_of(&self, path: &str) -> Option<String> {
        self.on_first_text_of(path, str::to_owned)
    }

    /// Writes [`EventView::first_text_of`] onto `out` as a JSON string, without copying it first;
    /// `false` (and nothing written) when there is none.
    pub(crate) fn write_first_text_of(&self, path: &str, out: &mut Vec<u8>) -> bool {
        self.on_first_text_of(path, |t| crate::normalize::json::write_str(out, t)).is_some()
    }

    /// `f` on the first non-empty text of the path written as `path`; `None` when there is none.
    fn on_first_text_of<R>(&self, path: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
        self.with_path(path, |p| {
            let mut f = Some(f);
            let mut first = None;
            self.visit(p, &mut |v| match v.text() {
                Some(t) if !t.is_empty() => {
                    first = f.take().map(|f| f(&t));
                    true
                }
                _ => false,
            });
            first
        })
        .flatten()
    }

    /// `f` on the path written as `path` (numbered by the book when there is one); `None` when
    /// it is not a valid path.
    fn with_path<R>(&self, path: &str, f: impl FnOnce(&FieldPath) -> R) -> Option<R> {
        match self.book {
            Some(book) => {
                let numbered = book.borrow_mut().get(path)?;
                Some(f(&numbered))
            }
            None => FieldPath::parse(path).ok().map(|p| f(&p)),
        }
    }

    /// Everything `path` reaches, kept to be replayed to the other tests of the same path.
    fn resolve_all(&self, path: &FieldPath, in_raw: bool) -> Rc<[Found<'a>]> {
        let mut all = Vec::new();
        self.resolve_in(path, in_raw, &mut |v| {
            all.push(self.keep(v));
            false
        });
        all.into()
    }

    /// A value to keep: strings of the raw text are borrowed again from it, others copied.
    fn keep(&self, v: Val<'_>) -> Found<'a> {
        match v {
            Val::Null => Found::Null,
            Val::Bool(b) => Found::Bool(b),
            Val::Num(n) => Found::Num(n),
            Val::Object => Found::Object,
            Val::Str(s) => {
                let start = (s.as_ptr() as usize).wrapping_sub(self.raw_text.as_ptr() as usize);
                match self.raw_text.get(start..start.wrapping_add(s.len())) {
                    Some(inner) if inner.as_ptr() == s.as_ptr() => Found::Str(Cow::Borrowed(inner), Fold::new()),
                    _ => Found::Str(Cow::Owned(s.to_owned()), Fold::new()),
                }
            }
        }
    }

    fn resolve(&self, path: &FieldPath, f: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
        self.resolve_in(path, true, f)
    }

    /// [`EventView::resolve`]; `in_raw: false` skips the raw event, known not to hold the path.
    fn resolve_in(&self, path: &FieldPath, in_raw: bool, f: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
        let mut walker = Walker { f, found: false, done: false, embedded: &self.embedded };
        if in_raw {
            walker.walk(&self.raw, &path.segments);
        }
        if !walker.found && path.in_ecs {
            match &self.ecs {
                Ecs::Typed(doc) => walker.walk_node(Node::Object(*doc), &path.segments),
                Ecs::Text(text, tree) => {
                    let tree = tree.get_or_init(|| tree::parse(text, self.arena).unwrap_or(Tree::Null));
                    walker.walk(tree, &path.segments);
                }
            }
        }
        walker.found
    }

    /// Whether `path` reaches a value that is not null.
    pub(crate) fn exists(&self, path: &FieldPath) -> bool {
        let mut present = false;
        self.visit(path, &mut |v| {
            present = !matches!(v, Val::Null);
            present
        });
        present
    }

    /// Every scalar value of `path`, as text.
    pub(crate) fn texts(&self, path: &FieldPath) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(path, &mut |v| {
            if let Some(t) = v.text() {
                out.push(t.into_owned());
            }
            false
        });
        out
    }

    /// Calls `f` with every string in the raw event (keyword search) until it returns `true`.
    pub(crate) fn any_string(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        fn walk(node: &Tree<'_>, f: &mut dyn FnMut(&str) -> bool) -> bool {
            match node {
                Tree::Str(s) => f(s),
                Tree::Arr(items) => items.iter().any(|i| walk(i, f)),
                Tree::Obj(entries) => entries.iter().any(|(_, v)| walk(v, f)),
                Tree::Null | Tree::Bool(_) | Tree::Num(_) => false,
            }
        }
        walk(&self.raw, f)
    }
}

struct Walker<'w, 'f, 'a> {
    f: &'f mut dyn FnMut(Val<'_>) -> bool,
    found: bool,
    done: bool,
    embedded: &'w Embedded<'a>,
}

impl<'a> Walker<'_, '_, 'a> {
    fn walk(&mut self, node: &Tree<'_>, segments: &[Segment]) {
        if self.done {
            return;
        }
        match (node, segments.split_first()) {
            (Tree::Arr(items), _) => {
                for item in *items {
                    self.walk(item, segments);
                }
            }
            (_, None) => {
                self.found = true;
                let val = match node {
                    Tree::Null => Val::Null,
                    Tree::Bool(b) => Val::Bool(*b),
                    Tree::Num(n) => Val::Num(*n),
                    Tree::Str(s) => Val::Str(s),
                    Tree::Arr(_) | Tree::Obj(_) => Val::Object,
                };
                self.done = (self.f)(val);
            }
            (Tree::Obj(entries), Some((segment, rest))) => {
                for (key, value) in *entries {
                    if key_eq_known(key, &segment.key, segment.ascii) {
                        match &segment.select {
                            Some((k, v)) => self.walk_selected(value, k, v, rest),
                            None => self.walk(value, rest),
                        }
                    }
                }
            }
            (Tree::Str(text), Some(_)) => {
                if let Some(parsed) = self.embedded_map(text) {
                    self.walk(&parsed, segments);
                }
            }
            (Tree::Null | Tree::Bool(_) | Tree::Num(_), Some(_)) => {}
        }
    }

    /// [`Walker::walk`] over a typed document. The raw event's walk above is the same walk over a
    /// [`Tree`], kept apart because it is the hot one: reading a tree through `Members` callbacks
    /// cost 3 % more instructions over the whole benchmark (14 % of detection's).
    fn walk_node(&mut self, node: Node<'_>, segments: &[Segment]) {
        if self.done {
            return;
        }
        match (node, segments.split_first()) {
            (Node::Array(items), _) => {
                items.items(&mut |item| {
                    self.walk_node(item, segments);
                    self.done
                });
            }
            (_, None) => {
                self.found = true;
                let val = match node {
                    Node::Null => Val::Null,
                    Node::Bool(b) => Val::Bool(b),
                    Node::I64(i) => Val::Num(Num::I(i)),
                    Node::U64(u) => Val::Num(Num::U(u)),
                    Node::F64(x) => Val::Num(Num::F(x)),
                    Node::Str(s) | Node::Temp(s) => Val::Str(s),
                    Node::Object(_) | Node::Array(_) => Val::Object,
                };
                self.done = (self.f)(val);
            }
            (Node::Object(members), Some((segment, rest))) => {
                members.members(&mut |key, value| {
                    if key_eq_known(key, &segment.key, segment.ascii) {
                        match &segment.select {
                            Some((k, v)) => self.walk_node_selected(value, k, v, rest),
                            None => self.walk_node(value, rest),
                        }
                    }
                    self.done
                });
            }
            (Node::Str(text), Some(_)) => {
                if let Some(parsed) = self.embedded_map(text) {
                    self.walk(&parsed, segments);
                }
            }
            (Node::Temp(text), Some(_)) => {
                if let Some(parsed) = parse_embedded(text.trim(), self.embedded.arena) {
                    self.walk(&parsed, segments);
                }
            }
            (Node::Null | Node::Bool(_) | Node::I64(_) | Node::U64(_) | Node::F64(_), Some(_)) => {}
        }
    }

    /// `[key=value]` over a typed document.
    fn walk_node_selected(&mut self, node: Node<'_>, key: &str, want: &str, rest: &[Segment]) {
        match node {
            Node::Array(items) => {
                items.items(&mut |item| {
                    self.walk_node_selected(item, key, want, rest);
                    self.done
                });
            }
            Node::Object(members) => {
                let selected = members.members(&mut |k, v| {
                    key_eq(k, key)
                        && match v {
                            Node::Str(s) | Node::Temp(s) => key_eq(s, want),
                            Node::I64(i) => Num::I(i).text() == want,
                            Node::U64(u) => Num::U(u).text() == want,
                            Node::F64(x) => Num::F(x).text() == want,
                            Node::Bool(b) => b.to_string() == want,
                            Node::Null | Node::Object(_) | Node::Array(_) => false,
                        }
                });
                if selected {
                    self.walk_node(node, rest);
                }
            }
            _ => {}
        }
    }

    /// `[key=value]`: only the elements (or the object) whose `key` equals `value`.
    fn walk_selected(&mut self, node: &Tree<'_>, key: &str, want: &str, rest: &[Segment]) {
        match node {
            Tree::Arr(items) => {
                for item in *items {
                    self.walk_selected(item, key, want, rest);
                }
            }
            Tree::Obj(entries) if selects(entries, key, want) => self.walk(node, rest),
            _ => {}
        }
    }

    fn embedded_map(&self, text: &str) -> Option<Tree<'a>> {
        self.embedded.map(text)
    }
}

/// `{"a":1}` (JSON) or `{New IP=POSITIVE, ...}` (Java's map form) as a tree in `arena`.
fn parse_embedded<'a>(text: &str, arena: &'a Bump) -> Option<Tree<'a>> {
    let text = arena.alloc_str(text);
    if text.get(1..).is_some_and(|rest| rest.trim_start().starts_with('"')) {
        return tree::parse(text, arena);
    }
    java_map(text, arena)
}

/// A Java map's text as a tree in `arena`, as the normalizer's [`parse_java_map`] reads it: a
/// JSON map, so keys sorted and the last of a repeated key kept; nested maps as objects, every
/// other value a string. Nothing is allocated outside the arena.
///
/// [`parse_java_map`]: crate::normalize::debug_data::parse_java_map
fn java_map<'a>(text: &'a str, arena: &'a Bump) -> Option<Tree<'a>> {
    // Every entry has an `=`, so their count bounds the entries: one pass, no buffer to grow.
    let bound = memchr::memchr_iter(b'=', text.as_bytes()).count();
    let slots = arena.alloc_slice_fill_copy(bound, (Text::new(""), Tree::Null));
    let mut count = 0;
    for entry in JavaEntries::new(text)? {
        let (key, value) = entry?;
        let nested = if is_braced(value) { java_map(value, arena) } else { None };
        *slots.get_mut(count)? = (Text::new(key), nested.unwrap_or(Tree::Str(Text::new(value))));
        count += 1;
    }
    let slots = &mut slots[..count];
    let kept = last_of_each_key(slots, |(key, _)| key.as_str());
    Some(Tree::Obj(&slots[..kept]))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::normalize::debug_data::parse_java_map;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// A Java map reads into the arena as the normalizer's `parse_java_map` reads it into
        /// JSON: the same entries in the same order, the last of a repeated key kept, nested
        /// maps and the texts that are not maps alike.
        #[test]
        fn a_java_map_reads_into_the_arena_as_into_json(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "=", ",", ", ", " ", "a", "A", "b", "New IP", "New-Geo", "x.y", "POSITIVE", "Anomalous Device",
                "{}", "é", "\"", "a=1", "b={c=d}",
            ]), 0..16),
            braced in proptest::prelude::any::<bool>(),
        ) {
            let text = if braced { format!("{{{}}}", tokens.concat()) } else { tokens.concat() };
            let arena = Bump::new();
            let ours = java_map(&text, &arena);
            let theirs = parse_java_map(&text).map(|m| Tree::from_json(&Value::Object(m), &arena));
            proptest::prop_assert_eq!(ours, theirs, "{:?}", text);
        }
    }

    /// A value that holds no map (a debugData value given as JSON reaches here as its text) reads
    /// as none, whatever its first character.
    #[test]
    fn a_text_that_holds_no_map_reads_as_none() {
        let arena = Bump::new();
        for text in ["", "{", "é", "éa}", "5", "null", "[1]"] {
            assert_eq!(parse_embedded(text, &arena), None, "{text:?}");
        }
        assert!(parse_embedded(r#"{"a":1}"#, &arena).is_some());
        assert!(parse_embedded("{a=1}", &arena).is_some());
    }

    #[test]
    fn a_java_map_keeps_the_last_of_a_repeated_key_and_sorts_keys() {
        let arena = Bump::new();
        let tree = java_map("{b=1, a=2, b={c=3}, a=4}", &arena).unwrap();
        assert_eq!(
            format!("{tree:?}"),
            r#"Obj([(Owned("a"), Str(Owned("4"))), (Owned("b"), Obj([(Owned("c"), Str(Owned("3")))]))])"#
        );
    }

    fn texts(view: &EventView<'_>, path: &str) -> Vec<String> {
        view.texts(&FieldPath::parse(path).unwrap())
    }

    const EVENT: &str = r#"{"eventType":"user.session.start","Actor":{"alternateId":"a@example.com"},
        "target":[{"type":"User","alternateId":"u@example.com","displayName":"U"},
                  {"type":"AppInstance","alternateId":"app","displayName":"Okta Admin Console"}],
        "debugContext":{"debugData":{"behaviors":"{New IP=POSITIVE, New Device=NEGATIVE}",
            "logOnlySecurityData":"{\"behaviors\":{\"New Device\":\"POSITIVE\"},\"risk\":{\"level\":\"HIGH\"}}"}},
        "securityContext":{"isProxy":true,"asNumber":42}}"#;
    const ECS: &str =
        r#"{"event":{"action":"user.session.start"},"source":{"ip":"203.0.113.9"},"user":{"name":"a@example.com"}}"#;

    #[test]
    fn keys_are_case_insensitive_on_both_sides() {
        let arena = Bump::new();
        let view = EventView::new(&arena, EVENT, ECS);
        assert_eq!(texts(&view, "EVENTTYPE"), ["user.session.start"]);
        assert_eq!(texts(&view, "actor.AlternateId"), ["a@example.com"]);
    }

    #[test]
    fn arrays_any_element_and_selection() {
        let arena = Bump::new();
        let view = EventView::new(&arena, EVENT, ECS);
        assert_eq!(texts(&view, "target.alternateId"), ["u@example.com", "app"]);
        assert_eq!(texts(&view, "target[type=user].alternateId"), ["u@example.com"]);
        assert_eq!(texts(&view, "target[Type=AppInstance].displayName"), ["Okta Admin Console"]);
        assert!(texts(&view, "target[type=Group].alternateId").is_empty());
    }

    #[test]
    fn a_path_book_shares_the_rules_numbers_and_reads_alike() {
        let mut rule_path = FieldPath::parse("Actor.alternateId").unwrap();
        rule_path.id = Some(0);
        let book = RefCell::new(PathBook::new(BTreeMap::from([(rule_path.key(), 0)])));
        // The same lowercased path gets the rule's number; another gets the next one.
        assert_eq!(book.borrow_mut().get("actor.AlternateId").and_then(|p| p.id), Some(0));
        assert_eq!(book.borrow_mut().get("target.alternateId").and_then(|p| p.id), Some(1));
        assert!(book.borrow_mut().get("a[b").is_none(), "not a path");
        let ecs = serde_json::Map::new();
        let arena = Bump::new();
        let with = EventView::with_document(RawEvent::text(EVENT, &arena), &ecs, Some(&book), None);
        let arena = Bump::new();
        let without = EventView::new(&arena, EVENT, "{}");
        for path in ["actor.alternateId", "ACTOR.ALTERNATEID", "target[type=User].alternateId", "a[b", "nope"] {
            assert_eq!(with.texts_of(path), without.texts_of(path), "{path}");
        }
        // Both spellings of the rule's path and the rule's own test share one resolution (0);
        // the selection (2) and `nope` (3) have theirs; `target.alternateId` (1) was not read.
        assert_eq!(with.texts(&rule_path), ["a@example.com"]);
        let resolved: Vec<bool> = with.memo.borrow().iter().map(Option::is_some).collect();
        assert_eq!(resolved, [true, false, true, true]);
    }

    #[test]
    fn ecs_is_the_fallback() {
        let arena = Bump::new();
        let view = EventView::new(&arena, EVENT, ECS);
        assert_eq!(texts(&view, "source.ip"), ["203.0.113.9"]);
        assert_eq!(texts(&view, "event.action"), ["user.session.start"]);
        assert!(matches!(&view.ecs, Ecs::Text(_, tree) if tree.get().is_some()));
        let arena = Bump::new();
        let view = EventView::new(&arena, EVENT, ECS);
        texts(&view, "eventType");
        texts(&view, "actor.nothing");
        assert!(
            matches!(&view.ecs, Ecs::Text(_, tree) if tree.get().is_none()),
            "raw-only paths never parse the ECS document"
        );
    }

    /// Every dotted path in a JSON value (arrays are transparent), objects included.
    fn all_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Array(items) => items.iter().for_each(|i| all_paths(i, prefix, out)),
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    if !k.is_empty() && !k.contains(['.', '[']) && !out.contains(&path) {
                        out.push(path.clone());
                        all_paths(v, &path, out);
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether `path` reached anything in `view`, and every value it visited.
    fn visited(view: &EventView<'_>, path: &FieldPath) -> (bool, Vec<String>) {
        let mut out = Vec::new();
        let reached = view.visit(path, &mut |v| {
            out.push(format!("{v:?}"));
            false
        });
        (reached, out)
    }

    /// Resolving many paths in one walk ([`PathTrie`]) finds exactly what a walk per path finds,
    /// in the same order: every path (objects included) of every raw case event, the same events
    /// with lowercased top-level keys, an event with case variants, duplicates, arrays and
    /// embedded maps, a key that lowercases to more bytes (`İD`) and keys past 63 bytes (the
    /// trie's length test), the pack's paths, upper-cased paths, paths through strings and
    /// `[key=value]` selections.
    #[test]
    fn one_walk_resolves_like_a_walk_per_path() {
        let mut events = crate::decode::tree::tests::golden_events_also_lowercased();
        events.push(EVENT.to_owned());
        events.push(
            r#"{"actor":{"id":"a"},"dotted":{"İD":"x"},
               "long":{"a_key_longer_than_sixty_three_bytes_which_all_share_the_top_length_bit":1,
                       "a_key_longer_than_sixty_three_bytes_which_all_share_the_top_length_bit_too":2},
               "ACTOR":{"id":"b","Id":"c"},"target":[[{"id":1}],{"id":null},{"ID":[true,{"x":2}]}],
               "debugContext":{"debugData":{"behaviors":"{New IP=NEGATIVE}","x":"{\"New IP\":[\"j\"]}"}},
               "client":"{zone=z}","outcome":[]}"#
                .to_owned(),
        );
        let mut texts: Vec<String> = crate::detect::ruleset::tests::pack_paths();
        for event in &events {
            all_paths(&serde_json::from_str(event).unwrap(), "", &mut texts);
        }
        texts.extend(texts.iter().map(|p| p.to_uppercase()).collect::<Vec<_>>());
        texts.extend(
            [
                "debugContext.debugData.behaviors.New IP",
                "debugContext.debugData.x.New IP",
                "client.zone",
                "client.zone.x",
                "target[type=user].alternateId",
                "target[Type=AppInstance].displayName",
                "target[type=user]",
                "TARGET[TYPE=USER].ALTERNATEID",
                "target[id=1].id",
                "target[id=1]",
                "target[ID=true]",
                "target.ID[x=2].x",
                "actor[id=b].Id",
                "ACTOR[ID=C]",
            ]
            .map(String::from),
        );
        texts.sort();
        texts.dedup();
        let mut trie = PathTrie::default();
        let mut paths = Vec::new();
        for (id, text) in texts.iter().enumerate() {
            let Ok(mut path) = FieldPath::parse(text) else { continue };
            path.id = Some(u32::try_from(id).unwrap());
            trie.add(&path);
            paths.push(path);
        }
        let ecs = serde_json::Map::new();
        let mut checked = 0;
        for event in &events {
            let arena = Bump::new();
            let one_walk = EventView::with_document(RawEvent::text(event, &arena), &ecs, None, Some(&trie));
            let arena = Bump::new();
            let per_path = EventView::new(&arena, event, "{}");
            for path in &paths {
                assert_eq!(visited(&one_walk, path), visited(&per_path, path), "{} in {event}", path.text);
                checked += 1;
            }
        }
        assert!(checked > 40_000, "{checked} paths checked");
    }

    /// A view made in the buffers of the views before it reads what a fresh view reads and has
    /// no answers of theirs; and a value written straight into a group key is the value
    /// `first_text_of` copies, as JSON.
    #[test]
    fn reused_buffers_and_written_keys_read_like_fresh_copies() {
        let events = crate::decode::tree::tests::golden_events_also_lowercased();
        let mut trie = PathTrie::default();
        let mut paths = Vec::new();
        for (id, text) in crate::detect::ruleset::tests::pack_paths().iter().enumerate() {
            let Ok(mut path) = FieldPath::parse(text) else { continue };
            path.id = Some(u32::try_from(id).unwrap());
            trie.add(&path);
            paths.push(path);
        }
        let ecs = serde_json::Map::new();
        let mut scratch = ViewScratch::default();
        let mut written_keys = 0;
        for event in &events {
            let arena = Bump::new();
            let reused = EventView::with_scratch(
                RawEvent::text(event, &arena),
                &ecs,
                None,
                Some(&trie),
                std::mem::take(&mut scratch),
            );
            let arena = Bump::new();
            let fresh = EventView::with_document(RawEvent::text(event, &arena), &ecs, None, Some(&trie));
            assert_eq!(reused.verdict(0), None, "an answer of the view before");
            for path in &paths {
                assert_eq!(visited(&reused, path), visited(&fresh, path), "{} in {event}", path.text);
                let mut key = b"[".to_vec();
                let wrote = reused.write_first_text_of(&path.text, &mut key);
                let first = fresh.first_text_of(&path.text);
                assert_eq!(wrote, first.is_some(), "{}", path.text);
                if let Some(first) = first {
                    assert_eq!(String::from_utf8(key).unwrap(), format!("[{}", serde_json::to_string(&first).unwrap()));
                    written_keys += 1;
                } else {
                    assert_eq!(key, b"[", "nothing written for {}", path.text);
                }
            }
            reused.set_verdict(0, true);
            scratch = reused.into_scratch();
        }
        assert!(written_keys > 1_000, "{written_keys} keys written");
    }

    /// Reading the typed document in place finds exactly what parsing its text finds, for every
    /// path of every golden document (and the same paths upper-cased, selections, and paths
    /// through debugData's embedded maps).
    #[test]
    fn the_typed_document_reads_like_its_text() {
        use crate::normalize::{Context, event_type::Table, normalize_event_then, user_agent};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/normalize");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let config = crate::Config {
            tenant_id: "acme.okta.com".into(),
            tenant_domain: Some("acme.okta.com".into()),
            output: crate::OutputOptions::default(),
            detection: crate::DetectionConfig::default(),
        };
        let ctx = Context { config: &config, ingested: None, table: Table::builtin(), directory: None };
        let mut ua = user_agent::Cache::default();
        let (mut docs, mut paths_checked) = (0, 0);
        for file in files.iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
            let raw = std::fs::read_to_string(file).unwrap();
            normalize_event_then(&raw, &ctx, &mut ua, |_, outcome, doc| {
                let crate::Outcome::Normalized(n) = outcome else { return };
                docs += 1;
                let parsed: Value = serde_json::from_str(&n.document).unwrap();
                let mut paths = Vec::new();
                all_paths(&parsed, "", &mut paths);
                let more: Vec<String> = paths.iter().map(|p| p.to_uppercase()).collect();
                paths.extend(more);
                paths.extend(
                    [
                        "okta.target[type=User].id",
                        "okta.target[TYPE=appinstance].display_name",
                        "okta.debug_context.debug_data.flattened.behaviors.New IP",
                        "okta.debug_context.debug_data.flattened.logOnlySecurityData.risk.level",
                        "nothing.here",
                    ]
                    .map(String::from),
                );
                let arena = Bump::new();
                let typed = EventView::with_document(RawEvent::text("{}", &arena), doc, None, None);
                let arena = Bump::new();
                let text = EventView::new(&arena, "{}", &n.document);
                for path in &paths {
                    let p = FieldPath::parse(path).unwrap();
                    assert_eq!(typed.texts(&p), text.texts(&p), "{path} in {}", file.display());
                    assert_eq!(typed.exists(&p), text.exists(&p), "{path} in {}", file.display());
                    paths_checked += 1;
                }
            });
        }
        assert!(docs >= 80 && paths_checked > 10_000, "{docs} documents, {paths_checked} paths");
    }

    #[test]
    fn debug_data_strings_are_maps() {
        let arena = Bump::new();
        let view = EventView::new(&arena, EVENT, ECS);
        assert_eq!(texts(&view, "debugContext.debugData.behaviors.New IP"), ["POSITIVE"]);
        assert_eq!(texts(&view, "debugcontext.debugdata.behaviors.new device"), ["NEGATIVE"]);
        assert_eq!(texts(&view, "debugContext.debugData.logOnlySecurityData.risk.level"), ["HIGH"]);
        assert_eq!(texts(&view, "debugContext.debugData.logOnlySecurityData.behaviors.New Device"), ["POSITIVE"]);
        assert_eq!(view.embedded.parsed.borrow().len(), 2);
    }

    #[test]
    fn scalars_as_text() {
        let arena = Bump::new();
        let view = EventView::new(&arena, EVENT, ECS);
        assert_eq!(texts(&view, "securityContext.isProxy"), ["true"]);
        assert_eq!(texts(&view, "securityContext.asNumber"), ["42"]);
        assert!(view.exists(&FieldPath::parse("securityContext").unwrap()));
        assert!(!view.exists(&FieldPath::parse("securityContext.nope").unwrap()));
    }

    #[test]
    fn bad_paths_say_why() {
        assert!(FieldPath::parse("a..b").unwrap_err().contains("empty part"));
        assert!(FieldPath::parse("target[type=User").unwrap_err().contains("without closing"));
        assert!(FieldPath::parse("target[User].x").unwrap_err().contains("key=value"));
        assert_eq!(FieldPath::parse("eventType").unwrap().single_key(), Some("eventtype"));
    }
}
