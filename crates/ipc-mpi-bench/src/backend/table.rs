//! What the harness knows about each backend besides its code: the native entries of
//! `python/ipc_benchmark/backends.json`, the one file the Python registry and the
//! analysis read too, embedded at build time.

use std::sync::LazyLock;

use serde::Deserialize;

const FILE: &str = include_str!("../../../../python/ipc_benchmark/backends.json");

/// One entry of backends.json, as far as the native harness uses it.
/// Its strings borrow from the embedded file, hence `Facts<'static>` (and no escapes
/// in the strings it reads: the unit tests parse the file).
#[derive(Debug, Deserialize)]
pub struct Facts<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    harnesses: Vec<&'a str>,
    pub display_name: &'a str,
    /// "rust" for every backend of this harness.
    pub implementation: &'a str,
    /// The Python reference design this one is the native counterpart of.
    #[serde(borrow)]
    pub reference: Option<&'a str>,
    /// Exercises the harness itself: runs only when named in --backends.
    #[serde(default)]
    pub self_test: bool,
    /// None for a self-test backend.
    #[serde(borrow)]
    pub properties: Option<Properties<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Properties<'a> {
    /// Every read consumes a message the writer sent for it (`Backend::consumes_messages`).
    pub message_per_read: bool,
    /// Readers may run on other machines than the writer; else such cases are skipped.
    pub across_machines: bool,
    /// Why, in a few words.
    pub note: &'a str,
}

#[derive(Deserialize)]
struct File<'a> {
    #[serde(borrow)]
    backends: Vec<Facts<'a>>,
}

static NATIVE: LazyLock<Vec<Facts<'static>>> = LazyLock::new(|| {
    let file: File = serde_json::from_str(FILE).expect("backends.json parses");
    file.backends
        .into_iter()
        .filter(|b| b.harnesses.contains(&"rust"))
        .collect()
});

/// The entries the native harness runs, in the file's order.
pub fn native() -> &'static [Facts<'static>] {
    &NATIVE
}

/// The native entry called `name`.
pub fn facts(name: &str) -> Option<&'static Facts<'static>> {
    native().iter().find(|f| f.name == name)
}
