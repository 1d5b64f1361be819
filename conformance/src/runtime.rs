//! The runtime under test with its own state root (`--root`), cleaned up on drop.

use crate::binary::{hull_bin, unique_id, STATE_BASE};
use crate::process::{assert_ok, budget, output_with_timeout, CMD_TIMEOUT};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A runtime invocation context with its own unique `--root` state directory.
/// Drop force-deletes every container left in the root and removes the root.
pub struct Runtime {
    pub root: PathBuf,
    pub bin: PathBuf,
}

impl Runtime {
    pub fn new() -> Runtime {
        let root = Path::new(STATE_BASE).join(unique_id("root"));
        fs::create_dir_all(&root).expect("create state root");
        Runtime {
            root,
            bin: hull_bin(),
        }
    }

    /// A command for the runtime with `--root <root>` prepended.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// A command for the runtime without `--root` (for `--version`, `spec`, ...).
    pub fn bare_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args);
        c
    }

    /// Run with stdin null, capture stdout/stderr, 30 s timeout.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_timeout(args, budget(CMD_TIMEOUT))
    }

    pub fn run_timeout(&self, args: &[&str], timeout: Duration) -> Output {
        output_with_timeout(&mut self.cmd(args), timeout)
    }

    /// Run with stdin null, capture output, 30 s timeout; panics unless it succeeds.
    #[track_caller]
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        assert_ok(&o, &format!("{:?}", args));
        o
    }

    /// `<root>/<id>`
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Container ids that have a state dir in the root.
    ///
    /// Dot entries are left out: no test id starts with a dot (`unique_id`), and crun keeps a
    /// shared `.empty-directory` in its root that is no container's state.
    pub fn ids_in_root(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let dotted = e.file_name().as_encoded_bytes().starts_with(b".");
                if !dotted && e.file_type().is_ok_and(|t| t.is_dir()) {
                    v.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        v
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids_in_root() {
            let mut c = self.cmd(&["delete", "--force", &id]);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                output_with_timeout(&mut c, Duration::from_secs(15))
            }));
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}
