//! Running the binary (and other commands) with timeouts, stretched time budgets, and
//! reading and asserting on their output.

use crate::binary::{unique_id, BUNDLE_BASE};
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Default timeout for one invocation of the runtime binary (stretched by `budget`).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// A wall-clock budget for something a test times, stretched by `HULL_TEST_SLOW` (an integer
/// factor; the pure cgroup v2 VM sets it because it runs under emulation).
pub fn budget(base: Duration) -> Duration {
    let f = std::env::var("HULL_TEST_SLOW")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    base * f
}

fn tmp_capture_file(tag: &str) -> PathBuf {
    let dir = Path::new(BUNDLE_BASE).join("io");
    fs::create_dir_all(&dir).expect("create capture dir");
    dir.join(format!("{}-{}", unique_id("cap"), tag))
}

/// Run `cmd` with stdin null and stdout/stderr redirected to temporary files
/// (never pipes: a container created by the command may inherit them and keep
/// them open forever). Waits at most `timeout`; on timeout the command's
/// process group is killed and this panics.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let out_p = tmp_capture_file("out");
    let err_p = tmp_capture_file("err");
    let out_f = File::create(&out_p).expect("create stdout capture");
    let err_f = File::create(&err_p).expect("create stderr capture");
    cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
    let desc = format!("{:?}", cmd);
    let status = match cmd.spawn() {
        Ok(mut child) => wait_child(&mut child, timeout, &desc),
        Err(e) => {
            let _ = fs::remove_file(&out_p);
            let _ = fs::remove_file(&err_p);
            panic!("cannot spawn {desc}: {e}");
        }
    };
    let stdout = fs::read(&out_p).unwrap_or_default();
    let stderr = fs::read(&err_p).unwrap_or_default();
    let _ = fs::remove_file(&out_p);
    let _ = fs::remove_file(&err_p);
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Wait for `child` at most `timeout`; kill it and panic on timeout.
pub fn wait_child(child: &mut std::process::Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    let mut sleep = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st,
            Ok(None) => {}
            Err(e) => panic!("wait for {what}: {e}"),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timeout after {timeout:?}: {what}");
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
}

/// Exit code of a process as a shell would report it: the code, or 128+signal.
pub fn exit_code(st: &ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// Lossy UTF-8 of stdout.
pub fn stdout_str(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Lossy UTF-8 of stderr.
pub fn stderr_str(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Human-readable summary of an Output for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "status={:?} stdout={:?} stderr={:?}",
        o.status,
        stdout_str(o),
        stderr_str(o)
    )
}

/// Assert success, with the output in the panic message.
#[track_caller]
pub fn assert_ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed: {}", describe(o));
}

/// Assert the command failed with exit code 1 (runc's error exit code).
#[track_caller]
pub fn assert_fail1(o: &Output, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what}: expected exit code 1: {}",
        describe(o)
    );
}

/// Poll `f` until it returns true or `timeout` passes; returns the last result.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True if `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the ")" closing the comm
            let st = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(st, Some(Some('Z')) | Some(Some('X')))
        }
        Err(_) => false,
    }
}
