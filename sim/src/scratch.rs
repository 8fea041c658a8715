//! Scratch directories for the unit tests: made under the system's temporary directory,
//! named by the process so parallel test binaries do not meet, and removed with what they
//! hold when the test ends (a failing one too), so test runs leave nothing behind.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// `offsim-{what}-{pid}-{n}-{name}` under the temporary directory, `n` counting the
    /// process's scratch directories, so two alive at once never share one.
    pub(crate) fn new(what: &str, name: &str) -> Scratch {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let d =
            std::env::temp_dir().join(format!("offsim-{what}-{}-{n}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
