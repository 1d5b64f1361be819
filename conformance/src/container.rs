//! The `Container` handle (create, start, state, kill, exec, delete; force-deleted on drop)
//! and one-shot foreground runs.

use crate::binary::unique_id;
use crate::bundle::Bundle;
use crate::process::{
    assert_ok, budget, describe, exit_code, output_with_timeout, poll_until, stderr_str,
    stdout_str, wait_child, CMD_TIMEOUT,
};
use crate::runtime::Runtime;
use serde_json::Value;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Assert the runtime has no state dir for `id`.
#[track_caller]
pub fn assert_no_state(rt: &Runtime, id: &str) {
    let p = rt.state_dir(id);
    assert!(
        fs::symlink_metadata(&p).is_err(),
        "state left behind: {} exists",
        p.display()
    );
}

/// A container handle. Drop runs `delete --force` (best effort).
///
/// The container's stdout/stderr (and the runtime's own output of `create`)
/// go to `<bundle>/<id>.out` / `<bundle>/<id>.err` (see [`Container::stdout`]).
pub struct Container<'a> {
    pub id: String,
    pub runtime: &'a Runtime,
    pub bundle: &'a Bundle,
}

impl<'a> Container<'a> {
    /// A handle with a fresh unique id (nothing is created yet).
    pub fn new(runtime: &'a Runtime, bundle: &'a Bundle) -> Container<'a> {
        Container::with_id(runtime, bundle, &unique_id("c"))
    }

    pub fn with_id(runtime: &'a Runtime, bundle: &'a Bundle, id: &str) -> Container<'a> {
        Container {
            id: id.to_string(),
            runtime,
            bundle,
        }
    }

    /// A container of `bundle` with `id`, created and started (both asserted to succeed).
    #[track_caller]
    pub fn started(runtime: &'a Runtime, bundle: &'a Bundle, id: &str) -> Container<'a> {
        let c = Container::with_id(runtime, bundle, id);
        c.create().start();
        c
    }

    pub fn stdout_path(&self) -> PathBuf {
        self.bundle.dir.join(format!("{}.out", self.id))
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.bundle.dir.join(format!("{}.err", self.id))
    }

    /// What was written so far to the container's stdout file.
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// What was written so far to the container's stderr file.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// `create --bundle <dir> <id>`; panics on failure.
    #[track_caller]
    pub fn create(&self) -> &Self {
        let o = self.try_create();
        assert_ok(&o, &format!("create {}", self.id));
        self
    }

    /// `create --bundle <dir> <id>` without asserting success.
    pub fn try_create(&self) -> Output {
        self.create_with(&[], &self.stdout_path(), &self.stderr_path())
    }

    /// `create --bundle <dir> [extra...] <id>` with the container's (and the
    /// create command's) stdout/stderr going to the given files (created or
    /// truncated). stdin is null. The returned Output holds what the files
    /// contained when `create` exited.
    pub fn create_with(&self, extra: &[&str], stdout: &Path, stderr: &Path) -> Output {
        let out_f = File::create(stdout).expect("create stdout file");
        let err_f = File::create(stderr).expect("create stderr file");
        let mut args: Vec<&str> = vec!["create", "--bundle", self.bundle.dir_str()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let mut cmd = self.runtime.cmd(&args);
        cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
        let desc = format!("{:?}", cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
        let status = wait_child(&mut child, budget(CMD_TIMEOUT), &desc);
        Output {
            status,
            stdout: fs::read(stdout).unwrap_or_default(),
            stderr: fs::read(stderr).unwrap_or_default(),
        }
    }

    /// `start <id>`; panics on failure.
    #[track_caller]
    pub fn start(&self) -> &Self {
        let o = self.try_start();
        assert_ok(&o, &format!("start {}", self.id));
        self
    }

    pub fn try_start(&self) -> Output {
        self.runtime.run(&["start", &self.id])
    }

    /// `state <id>` parsed; panics on failure.
    #[track_caller]
    pub fn state(&self) -> Value {
        let o = self.try_state();
        assert_ok(&o, &format!("state {}", self.id));
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}): {}", describe(&o)))
    }

    pub fn try_state(&self) -> Output {
        self.runtime.run(&["state", &self.id])
    }

    /// The current status, or None if `state` fails.
    pub fn status(&self) -> Option<String> {
        let o = self.try_state();
        if !o.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        v["status"].as_str().map(str::to_string)
    }

    /// The container's init pid from `state`.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().expect("state pid") as i32
    }

    /// `kill <id> <sig>`; panics on failure.
    #[track_caller]
    pub fn kill(&self, sig: &str) -> &Self {
        let o = self.try_kill(sig);
        assert_ok(&o, &format!("kill {} {}", self.id, sig));
        self
    }

    pub fn try_kill(&self, sig: &str) -> Output {
        self.runtime.run(&["kill", &self.id, sig])
    }

    /// `delete <id>`; panics on failure.
    #[track_caller]
    pub fn delete(&self) -> &Self {
        let o = self.try_delete();
        assert_ok(&o, &format!("delete {}", self.id));
        self
    }

    pub fn try_delete(&self) -> Output {
        self.runtime.run(&["delete", &self.id])
    }

    pub fn delete_force(&self) -> Output {
        self.runtime.run(&["delete", "--force", &self.id])
    }

    /// Poll `state` until status == `status`; panics with the last state on timeout.
    #[track_caller]
    pub fn wait_status(&self, status: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            last = self.status();
            if last.as_deref() == Some(status) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "container {} did not reach status {status:?} within {timeout:?} (last: {last:?})",
                    self.id
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Path of a file inside the container's rootfs as seen from the host.
    pub fn host_path(&self, in_container: &str) -> PathBuf {
        self.bundle
            .rootfs()
            .join(in_container.trim_start_matches('/'))
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if self.runtime.state_dir(&self.id).exists() {
            let mut c = self.runtime.cmd(&["delete", "--force", &self.id]);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                output_with_timeout(&mut c, Duration::from_secs(15))
            }));
        }
    }
}

/// Run `args` in a fresh container from `bundle` with foreground `run`
/// (process.args set to `args`, config saved), 60 s timeout.
/// Returns (exit code, stdout, stderr); exit code is 128+sig if the runtime died from a signal.
pub fn run_container(rt: &Runtime, bundle: &mut Bundle, args: &[&str]) -> (i32, String, String) {
    bundle.set_args(args);
    bundle.save();
    let id = unique_id("run");
    let o = {
        let _guard = Container::with_id(rt, bundle, &id);
        let mut cmd = rt.cmd(&["run", "--bundle", bundle.dir_str(), &id]);
        output_with_timeout(&mut cmd, Duration::from_secs(60))
    };
    (exit_code(&o.status), stdout_str(&o), stderr_str(&o))
}

impl Container<'_> {
    /// Spawn `run [extra...] --bundle <dir> <id>` (foreground run) in the
    /// background with stdin null and stdout/stderr to the container's files.
    /// Wait for it with [`wait_child`].
    pub fn spawn_run(&self, extra: &[&str]) -> std::process::Child {
        let out_f = File::create(self.stdout_path()).expect("create stdout file");
        let err_f = File::create(self.stderr_path()).expect("create stderr file");
        let mut args: Vec<&str> = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bundle", self.bundle.dir_str(), &self.id]);
        let mut cmd = self.runtime.cmd(&args);
        cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
        cmd.spawn().expect("spawn run")
    }

    /// `exec <id> args...` (foreground, stdin null, 30 s timeout).
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = vec!["exec", &self.id];
        a.extend_from_slice(args);
        self.runtime.run(&a)
    }

    /// Wait until the file `in_container` exists in the rootfs (seen from the host).
    #[track_caller]
    pub fn wait_file(&self, in_container: &str, timeout: Duration) {
        let p = self.host_path(in_container);
        assert!(
            poll_until(timeout, || p.exists()),
            "{} did not appear within {timeout:?}; container stderr: {:?}",
            p.display(),
            self.stderr()
        );
    }
}
