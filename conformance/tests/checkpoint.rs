//! Checkpoint and restore with CRIU (`checkpoint`, `restore`), checked from the host: a
//! counting process continues where it stopped, with and without `--leave-running`, after a
//! pre-dump, with an established TCP connection, with a terminal, and in another state root
//! (migration). These need a working CRIU (4.2.1 in the sid root; Debian 12's 3.17 does not
//! run on this kernel), so they are ignored on the host:
//!
//!     make test-sid     (runs the ignored tests inside the sid root)
//!
//! The containers' stdio are pipes (CRIU cannot dump an fd on a host file outside the
//! container; pipes are handed over to the restoring caller, as with runc). Flag and bad-input
//! checks that need no CRIU run everywhere.

use hull_conformance::*;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{ChildStderr, ChildStdout, Stdio};
use std::time::Duration;

const SID: &str = "needs the sid root: make test-sid";

#[path = "checkpoint/clients.rs"]
mod clients;
#[path = "checkpoint/dump_restore.rs"]
mod dump_restore;
#[path = "checkpoint/flags.rs"]
mod flags;
#[path = "checkpoint/namespaces.rs"]
mod namespaces;
#[path = "checkpoint/terminal_tcp.rs"]
mod terminal_tcp;

fn t() -> Duration {
    budget(Duration::from_secs(20))
}

/// The read ends of a container's stdio pipes, kept open while it runs.
struct Pipes {
    _out: ChildStdout,
    err: ChildStderr,
}

impl Pipes {
    /// What is available on stderr now (the container holds the pipe, so no EOF).
    fn err_now(&mut self) -> String {
        let fd = self.err.as_raw_fd();
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
        let mut buf = vec![0u8; 65536];
        let n = self.err.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Runs a runtime command whose container inherits our pipes: waits for the command only.
#[track_caller]
fn run_piped(rt: &Runtime, args: &[&str]) -> Pipes {
    let mut cmd = rt.cmd(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn runtime");
    let status = wait_child(&mut child, t(), &format!("{args:?}"));
    let mut p = Pipes {
        _out: child.stdout.take().unwrap(),
        err: child.stderr.take().unwrap(),
    };
    assert!(
        status.success(),
        "{args:?} failed: {status}: {}",
        p.err_now()
    );
    p
}

/// Counts ten times a second into /count. It forks nothing in its loop (it waits with the
/// shell's own `read -t` on a fifo nobody writes to): a task forking or in vfork when CRIU
/// freezes the cgroup can keep the v1 freezer from reaching FROZEN ("Timeout reached ...
/// Unseizable non-zombie ... state D", runc alike), which made the tests flaky.
const COUNTER: &str = "mkfifo /tick 2>/dev/null; exec 3<>/tick; \
    i=0; while :; do i=$((i+1)); echo $i >> /count; read -t 0.1 x <&3; done";

fn counting_bundle(id: &str, script: &str) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_readonly(false);
    b.set_args(&["sh", "-c", script]);
    b.save();
    b
}

/// The last count the container appended (appending needs no fork, so checkpoints rarely
/// catch a task mid-fork, and a reader never sees a truncated file).
fn count(b: &Bundle) -> Option<u64> {
    last_number(&std::fs::read_to_string(b.rootfs().join("count")).ok()?)
}

fn last_number(s: &str) -> Option<u64> {
    s.lines().rev().find_map(|l| l.trim().parse().ok())
}

#[track_caller]
fn wait_count(b: &Bundle, what: &str, f: impl Fn(u64) -> bool) -> u64 {
    let mut last = None;
    let ok = poll_until(t(), || {
        last = count(b);
        last.is_some_and(&f)
    });
    assert!(ok, "{what}: count stayed at {last:?}");
    last.unwrap()
}

/// The count once it stopped changing (the container is checkpointed and gone).
#[track_caller]
fn frozen_count(b: &Bundle) -> u64 {
    let first = count(b).expect("count file");
    std::thread::sleep(Duration::from_millis(500));
    let again = count(b).expect("count file");
    assert_eq!(first, again, "the counter still runs after checkpoint");
    again
}

fn start_counter<'a>(rt: &'a Runtime, b: &'a Bundle, id: &str) -> (Container<'a>, Pipes) {
    let c = Container::with_id(rt, b, id);
    let pipes = run_piped(rt, &["create", "--bundle", b.dir_str(), id]);
    c.start();
    wait_count(b, "counter started", |n| n >= 3);
    (c, pipes)
}

fn restore_detached(rt: &Runtime, b: &Bundle, id: &str, images: &Path, extra: &[&str]) -> Pipes {
    let mut args = vec![
        "restore",
        "-d",
        "--bundle",
        b.dir_str(),
        "--image-path",
        images.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(id);
    run_piped(rt, &args)
}

/// The restored container is a normal one: running, in its own cgroup, exec works, kill
/// and delete work.
#[track_caller]
fn check_normal_container(c: &Container, b: &Bundle) {
    assert_eq!(c.status().as_deref(), Some("running"));
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap_or_default();
    let want = test_cgroups_path(&c.id);
    assert!(
        cg.lines().any(|l| l.ends_with(&want)),
        "restored init is not in {want}: {cg}"
    );
    let o = c.exec(&["cat", "/count"]);
    assert_ok(&o, "exec in the restored container");
    let seen = last_number(&stdout_str(&o)).expect("count from exec");
    assert!(seen > 0);
    // maskedPaths are still masked (a masked file is /dev/null bound over it).
    let o = c.exec(&["sh", "-c", "cat /proc/timer_list | wc -c"]);
    assert_eq!(
        stdout_str(&o).trim(),
        "0",
        "/proc/timer_list is not masked after restore"
    );
    c.kill("KILL");
    c.wait_status("stopped", t());
    c.delete();
    assert_no_state(c.runtime, &c.id);
    let _ = b;
}
