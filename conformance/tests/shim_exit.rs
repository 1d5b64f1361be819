//! What containerd's runc shim runs after a container's init exits, on every state a container
//! can be in by then, with runc 1.3's answers: exit code, stdout, stderr and the `--log
//! --log-format json` error line the shim reads back (its `getLastRuntimeError`).
//!
//! The shim (containerd 2.1, cmd/containerd-shim-runc-v2/process) calls, after the init exits:
//! `kill --all <id> 9` when the container has no pid namespace of its own (`KillAll`, logged as
//! "failed to kill init's children" on error), `delete <id>` (an error containing "does not
//! exist" counts as already deleted), `resume <id>` if it was paused, and from `shim delete`
//! (cleanup after a shim crash) `delete --force <id>`. `kill [--all]` errors containing
//! "container not running" or "does not exist" are mapped to "not found".
//!
//! The states: stopped (init gone, empty cgroup), stopped with a leftover child (no pid
//! namespace), stopped with the cgroup already removed, a state directory without its state
//! file (a create killed right after claiming the id, a delete interrupted after removing the
//! file), a corrupt state file, a created container whose exec fifo was removed, and a missing
//! container.
//!
//! Checked against runc 1.3.6 (sid root) and runc 1.1.5; where they differ it is said in the
//! test.

use hull_conformance::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// A writable busybox bundle with the test cgroup path and `args` as the init.
fn bundle(id: &str, args: &[&str], own_pid_ns: bool) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_args(args);
    if !own_pid_ns {
        b.remove_namespace("pid");
    }
    b.save();
    b
}

/// A started container whose init was then SIGKILLed from the host (as if it had exited on
/// its own), once `state` says stopped. Returns the init's pid.
fn stopped<'a>(rt: &'a Runtime, b: &'a Bundle, id: &str) -> (Container<'a>, i32) {
    let c = Container::started(rt, b, id);
    let pid = c.pid();
    // SAFETY: plain kill(2) of the init we just started (state gave its pid).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    c.wait_status("stopped", budget(T));
    (c, pid)
}

/// Pids in the container's cgroup, in any hierarchy.
fn cgroup_pids(cg: &str) -> Vec<i32> {
    let mut v: Vec<i32> = cgroup_leftovers(cg)
        .iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// One command as the shim runs it: `--log <file> --log-format json` before the command.
struct ShimRun {
    out: Output,
    /// The `msg` of the last `"level":"error"` line in the log, as the shim reads it back.
    log_error: Option<String>,
    log: String,
}

fn shim_run(rt: &Runtime, args: &[&str]) -> ShimRun {
    let dir = TempDir::new("shimlog");
    let log = dir.path().join("log.json");
    let log_str = log.to_str().expect("utf-8 path");
    let mut full = vec!["--log", log_str, "--log-format", "json"];
    full.extend_from_slice(args);
    let out = rt.run(&full);
    let log = fs::read_to_string(&log).unwrap_or_default();
    // a stream of JSON values, as the shim decodes it (crun pretty-prints each over lines)
    let log_error = serde_json::Deserializer::from_str(&log)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .filter(|v| v["level"] == "error")
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .last();
    ShimRun {
        out,
        log_error,
        log,
    }
}

/// Succeeds with nothing on stdout and no error line in the log.
#[track_caller]
fn assert_quiet_ok(r: &ShimRun, what: &str) {
    assert_ok(&r.out, what);
    assert_eq!(r.log_error, None, "{what}: log: {}", r.log);
    assert!(r.out.stdout.is_empty(), "{what}: {}", describe(&r.out));
}

/// Exit 1, nothing on stdout, exactly `msg` as the log's error line and on stderr (runc 1.3
/// prints the bare message to stderr when it logs to a file).
#[track_caller]
fn assert_error(r: &ShimRun, what: &str, msg: &str) {
    assert_fail1(&r.out, what);
    assert!(r.out.stdout.is_empty(), "{what}: {}", describe(&r.out));
    assert_eq!(r.log_error.as_deref(), Some(msg), "{what}: log: {}", r.log);
    assert!(
        stderr_str(&r.out).contains(msg),
        "{what}: {}",
        describe(&r.out)
    );
}

/// The error of a command on a container that does not exist or whose state file is missing:
/// runc's "container does not exist"; crun passes on the ENOENT of its state directory or file
/// (`status`), in words that vary by command.
#[track_caller]
fn assert_no_state_file_error(r: &ShimRun, what: &str) {
    if !is_crun() {
        return assert_error(r, what, "container does not exist");
    }
    assert_fail1(&r.out, what);
    assert!(r.out.stdout.is_empty(), "{what}: {}", describe(&r.out));
    assert!(
        r.log_error
            .as_deref()
            .is_some_and(|m| m.contains("No such file or directory")),
        "{what}: log: {}",
        r.log
    );
}

/// Without --log: exit 1 and runc's text line `level=error msg="<msg>"` on stderr.
#[track_caller]
fn assert_text_error(o: &Output, what: &str, msg: &str) {
    assert_fail1(o, what);
    let want = format!("level=error msg={}", serde_json::to_string(msg).unwrap());
    assert!(stderr_str(o).contains(&want), "{what}: {}", describe(o));
}

#[track_caller]
fn assert_stopped_state(r: &ShimRun, id: &str) {
    assert_ok(&r.out, "state of a stopped container");
    assert_eq!(r.log_error, None, "state: log: {}", r.log);
    let st: Value = serde_json::from_slice(&r.out.stdout).expect("state JSON");
    assert_eq!(st["id"], id, "{st}");
    assert_eq!(st["status"], "stopped", "{st}");
    assert_eq!(st["pid"], 0, "{st}");
}

/// The shim's whole exit path on a container with its own pid namespace whose init exited:
/// every answer is runc's.
#[test]
fn stopped_container_answers_as_runc() {
    let rt = Runtime::new();
    let id = unique_id("shimstop");
    let b = bundle(&id, &["sleep", "1000"], true);
    let cg = test_cgroups_path(&id);
    let (_c, _) = stopped(&rt, &b, &id);

    assert_stopped_state(&shim_run(&rt, &["state", &id]), &id);
    // `--all` turns "not running" into success, whatever the signal (runc's kill.bats uses 0)
    for sig in ["KILL", "9", "TERM", "0"] {
        let r = shim_run(&rt, &["kill", "--all", &id, sig]);
        assert_quiet_ok(&r, &format!("kill --all {sig} of a stopped container"));
    }
    for sig in ["KILL", "TERM", "0"] {
        let r = shim_run(&rt, &["kill", &id, sig]);
        assert_error(&r, &format!("kill {sig}"), "container not running");
        let o = rt.run(&["kill", &id, sig]);
        assert_text_error(
            &o,
            &format!("kill {sig} (text log)"),
            "container not running",
        );
    }
    let r = shim_run(&rt, &["resume", &id]);
    assert_error(&r, "resume of a stopped container", "container not paused");

    assert_quiet_ok(&shim_run(&rt, &["delete", &id]), "delete");
    assert_no_state(&rt, &id);
    assert_no_cgroup(&cg);

    // and once deleted, what the shim may still send
    for args in [
        vec!["state", &id],
        vec!["kill", "--all", &id, "9"],
        vec!["kill", &id, "9"],
        vec!["delete", &id],
        vec!["resume", &id],
    ] {
        let r = shim_run(&rt, &args);
        assert_error(
            &r,
            &format!("{args:?} after delete"),
            "container does not exist",
        );
        let o = rt.run(&args);
        assert_text_error(
            &o,
            &format!("{args:?} (text log)"),
            "container does not exist",
        );
    }
    assert_quiet_ok(
        &shim_run(&rt, &["delete", "--force", &id]),
        "delete --force of a deleted container",
    );
}

/// `shim delete` (cleanup) runs `delete --force` on a stopped container.
#[test]
fn stopped_container_delete_force() {
    let rt = Runtime::new();
    let id = unique_id("shimstopf");
    let b = bundle(&id, &["sleep", "1000"], true);
    let (_c, _) = stopped(&rt, &b, &id);
    assert_quiet_ok(
        &shim_run(&rt, &["delete", "--force", &id]),
        "delete --force",
    );
    assert_no_state(&rt, &id);
    assert_no_cgroup(&test_cgroups_path(&id));
}

/// Without its own pid namespace the init's death leaves its children: `kill --all 9` (what the
/// shim sends) kills them, and a plain `delete` of such a container kills what is left too.
#[test]
fn leftover_children_without_pid_ns() {
    let rt = Runtime::new();
    let cg_of = |id: &str| test_cgroups_path(id);
    let script = "sleep 1007 & exec sleep 1000";

    // kill --all, then delete
    let id = unique_id("shimorph");
    let b = bundle(&id, &["sh", "-c", script], false);
    let (_c, init) = stopped(&rt, &b, &id);
    let left: Vec<i32> = cgroup_pids(&cg_of(&id));
    assert!(
        !left.is_empty() && !left.contains(&init),
        "the background sleep outlives the init: {left:?}"
    );
    assert_stopped_state(&shim_run(&rt, &["state", &id]), &id);
    assert_quiet_ok(&shim_run(&rt, &["kill", "--all", &id, "9"]), "kill --all 9");
    assert!(
        poll_until(budget(T), || left.iter().all(|p| !pid_alive(*p))),
        "leftover children survived kill --all: {left:?}"
    );
    assert_quiet_ok(&shim_run(&rt, &["delete", &id]), "delete");
    assert_no_state(&rt, &id);
    assert_no_cgroup(&cg_of(&id));

    // delete alone
    let id = unique_id("shimorphd");
    let b = bundle(&id, &["sh", "-c", script], false);
    let (_c, _) = stopped(&rt, &b, &id);
    let left = cgroup_pids(&cg_of(&id));
    assert!(!left.is_empty(), "no leftover child");
    assert_quiet_ok(
        &shim_run(&rt, &["delete", &id]),
        "delete with a leftover child",
    );
    assert!(
        left.iter().all(|p| !pid_alive(*p)),
        "delete left children alive: {left:?}"
    );
    assert_no_state(&rt, &id);
    assert_no_cgroup(&cg_of(&id));
}

/// A delete interrupted after removing the cgroup (or a cgroup removed by someone else): the
/// state file still says where it was. Everything answers as for a stopped container.
#[test]
fn cgroup_removed_after_exit() {
    let rt = Runtime::new();
    let id = unique_id("shimnocg");
    let b = bundle(&id, &["sleep", "1000"], true);
    let cg = test_cgroups_path(&id);
    let (_c, _) = stopped(&rt, &b, &id);
    remove_cgroup(&cg);
    assert_no_cgroup(&cg);

    assert_stopped_state(&shim_run(&rt, &["state", &id]), &id);
    assert_quiet_ok(&shim_run(&rt, &["kill", "--all", &id, "9"]), "kill --all 9");
    let r = shim_run(&rt, &["kill", &id, "9"]);
    assert_error(&r, "kill 9", not_running_words());
    assert_quiet_ok(&shim_run(&rt, &["delete", &id]), "delete");
    assert_no_state(&rt, &id);
    assert_no_cgroup(&cg);
}

/// A state directory without its state file: what a create killed right after claiming the id
/// leaves, or a delete interrupted after removing the file. runc: the container does not
/// exist, and `delete` removes the leftover directory (exit 1 without --force, as the
/// container did not exist; 0 with it).
#[test]
fn state_dir_without_state_file() {
    let rt = Runtime::new();
    for force in [false, true] {
        let id = unique_id("shimnostate");
        let b = bundle(&id, &["sleep", "1000"], true);
        let (_c, _) = stopped(&rt, &b, &id);
        let dir = rt.state_dir(&id);
        fs::remove_file(dir.join(state_file())).expect("remove the state file");

        if !force {
            for args in [
                vec!["state", &id],
                vec!["kill", "--all", &id, "9"],
                vec!["kill", &id, "9"],
                vec!["resume", &id],
            ] {
                let r = shim_run(&rt, &args);
                assert_no_state_file_error(&r, &format!("{args:?}"));
                assert!(dir.exists(), "{args:?} removed the state directory");
            }
            let r = shim_run(&rt, &["delete", &id]);
            if is_crun() {
                // crun removes what it cannot read, as with --force
                assert_quiet_ok(&r, "delete");
            } else {
                assert_no_state_file_error(&r, "delete");
            }
        } else {
            let r = shim_run(&rt, &["delete", "--force", &id]);
            assert_quiet_ok(&r, "delete --force");
        }
        assert_no_state(&rt, &id);
        // neither runtime knows the cgroup any more: the test removes it
        remove_cgroup(&test_cgroups_path(&id));
    }
}

/// A create killed midway (here by its own createRuntime hook, as a caller's timeout would kill
/// it): nothing will ever start the container. hull recorded the state (pid 0, and which process
/// was creating it) before launching the init: with that process gone, the container is
/// stopped, the shim's `kill --all 9` and `delete` succeed and leave nothing behind. runc 1.3.6
/// (and 1.1.5) has written no state file yet: every command says "container does not exist",
/// `delete` removes the directory but leaks the waiting `runc init` and the cgroup (a runc bug:
/// the test removes them there). crun 1.28 has no state file yet either (its errors name the
/// missing `status`); its `delete` exits 0 but leaks the cgroup too (a crun bug, not tolerated).
#[test]
fn create_killed_midway() {
    let rt = Runtime::new();
    let id = unique_id("shimkilled");
    let mut b = bundle(&id, &["sleep", "1000"], true);
    b.config["hooks"] = serde_json::json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}]
    });
    b.save();
    let cg = test_cgroups_path(&id);
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    assert_eq!(exit_code(&o.status), 128 + 9, "create: {}", describe(&o));
    assert!(
        rt.state_dir(&id).exists(),
        "the killed create left no state dir"
    );

    if is_runc() || is_crun() {
        for args in [vec!["state", &id], vec!["kill", "--all", &id, "9"]] {
            let r = shim_run(&rt, &args);
            assert_no_state_file_error(&r, &format!("{args:?}"));
        }
        let r = shim_run(&rt, &["delete", &id]);
        if is_crun() {
            // crun removes what it cannot read, as with --force. crun 1.28 bug: like runc, it
            // leaks the killed create's cgroup (conformance/peers/crun-1.28.txt)
            assert_quiet_ok(&r, "delete");
            assert_no_state(&rt, &id);
            assert_no_cgroup(&cg);
            return;
        }
        assert_no_state_file_error(&r, "delete");
        assert_no_state(&rt, &id);
        remove_cgroup(&cg);
        return;
    }
    assert_stopped_state(&shim_run(&rt, &["state", &id]), &id);
    assert_quiet_ok(&shim_run(&rt, &["kill", "--all", &id, "9"]), "kill --all 9");
    let r = shim_run(&rt, &["kill", &id, "9"]);
    assert_error(&r, "kill 9", not_running_words());
    assert_quiet_ok(&shim_run(&rt, &["delete", &id]), "delete");
    assert_no_state(&rt, &id);
    assert_no_cgroup(&cg);
}

/// A corrupt state file (empty, or cut off mid-write): every command fails with one error
/// line, exit 1. `delete --force` must still get rid of the container: hull removes the state
/// directory (with a warning naming the file). runc 1.1/1.3 refuse it with a bare "EOF" /
/// "unexpected EOF" and leave the container undeletable, a runc bug the test tolerates there.
#[test]
fn corrupt_state_file() {
    let rt = Runtime::new();
    for (what, cut) in [("empty", 0usize), ("truncated", 40)] {
        let id = unique_id("shimcorrupt");
        let b = bundle(&id, &["sleep", "1000"], true);
        let (_c, _) = stopped(&rt, &b, &id);
        let file = rt.state_dir(&id).join(state_file());
        let data = fs::read(&file).expect("read the state file");
        fs::write(&file, &data[..cut.min(data.len())]).expect("cut the state file");

        for args in [
            vec!["state", &id],
            vec!["kill", "--all", &id, "9"],
            vec!["kill", &id, "9"],
            vec!["delete", &id],
        ] {
            let r = shim_run(&rt, &args);
            let ctx = format!("{args:?} with a {what} state file");
            assert_fail1(&r.out, &ctx);
            assert!(r.out.stdout.is_empty(), "{ctx}: {}", describe(&r.out));
            assert!(r.log_error.is_some(), "{ctx}: no error line: {}", r.log);
            assert!(file.exists(), "{ctx}: removed the state");
        }
        let r = shim_run(&rt, &["delete", "--force", &id]);
        if is_runc() {
            // runc bug: the container cannot be deleted at all
            assert_fail1(&r.out, "runc delete --force with a corrupt state file");
            fs::remove_dir_all(rt.state_dir(&id)).expect("remove runc's state dir");
        } else {
            assert_ok(&r.out, &format!("delete --force with a {what} state file"));
            assert_eq!(r.log_error, None, "log: {}", r.log);
            assert!(
                r.log.contains(state_file()),
                "the warning names the file: {}",
                r.log
            );
        }
        assert_no_state(&rt, &id);
        remove_cgroup(&test_cgroups_path(&id));
    }
}

/// A created container whose exec fifo is gone counts as running (the fifo is what marks
/// "created"): delete refuses it with runc's words, delete --force kills it.
#[test]
fn created_container_without_exec_fifo() {
    let rt = Runtime::new();
    let id = unique_id("shimnofifo");
    let b = bundle(&id, &["sleep", "1000"], true);
    let c = Container::with_id(&rt, &b, &id);
    c.create();
    let pid = c.pid();
    fs::remove_file(rt.state_dir(&id).join("exec.fifo")).expect("remove exec.fifo");
    assert_eq!(c.status().as_deref(), Some("running"));
    let r = shim_run(&rt, &["delete", &id]);
    let words = if is_crun() {
        format!("the container `{id}` is not in `created` or `stopped` state")
    } else {
        format!("cannot delete container {id} that is not stopped: running")
    };
    assert_error(&r, "delete", &words);
    assert_quiet_ok(
        &shim_run(&rt, &["delete", "--force", &id]),
        "delete --force",
    );
    assert!(!pid_alive(pid), "init {pid} survived delete --force");
    assert_no_state(&rt, &id);
    assert_no_cgroup(&test_cgroups_path(&id));
}

/// Signal 0 (kill(2)'s existence probe) reaches a live init without harming it; once the init
/// is gone it is "container not running" (runc's kill.bats does the same).
#[test]
fn null_signal_probes_the_init() {
    let rt = Runtime::new();
    let id = unique_id("shimnull");
    let b = bundle(&id, &["sleep", "1000"], true);
    let c = Container::started(&rt, &b, &id);
    for args in [vec!["kill", &id, "0"], vec!["kill", "--all", &id, "0"]] {
        assert_quiet_ok(&shim_run(&rt, &args), &format!("{args:?}"));
        assert_eq!(c.status().as_deref(), Some("running"), "after {args:?}");
    }
}

/// Every command of the exit path on an id the runtime never had.
#[test]
fn missing_container() {
    let rt = Runtime::new();
    let id = unique_id("shimmissing");
    for args in [
        vec!["state", &id],
        vec!["kill", "--all", &id, "9"],
        vec!["kill", &id, "9"],
        vec!["delete", &id],
        vec!["resume", &id],
    ] {
        let r = shim_run(&rt, &args);
        assert_no_state_file_error(&r, &format!("{args:?}"));
    }
    assert_quiet_ok(
        &shim_run(&rt, &["delete", "--force", &id]),
        "delete --force",
    );
    assert_no_state(&rt, &id);
    // a missing state root, too (the shim's root before its first container)
    let gone: PathBuf = rt.root.join("no-such-root");
    let o = output_with_timeout(
        std::process::Command::new(&rt.bin)
            .arg("--root")
            .arg(&gone)
            .args(["delete", "--force", &id]),
        budget(T),
    );
    assert_ok(&o, "delete --force under a missing root");
    if !runc_1_1() && !is_crun() {
        // runc 1.1.5 and crun 1.28 create the root on the way (runc 1.3.6 does not)
        assert!(!Path::new(&gone).exists(), "delete created the root");
    }
}

/// The file in the state directory that says what the container is: crun keeps it in `status`
/// (its config in `config.json`), runc and hull in `state.json`.
fn state_file() -> &'static str {
    if is_crun() {
        "status"
    } else {
        "state.json"
    }
}

/// The error of `kill <id> 9` on a stopped container: runc's words, which containerd's shim
/// maps to "not found"; crun passes on kill(2)'s ESRCH.
fn not_running_words() -> &'static str {
    if is_crun() {
        "kill container: No such process"
    } else {
        "container not running"
    }
}

/// Whether the runtime under test is runc 1.1 (Debian 12's), for its few differences.
fn runc_1_1() -> bool {
    is_runc()
        && std::process::Command::new(hull_bin())
            .arg("--version")
            .output()
            .is_ok_and(|o| stdout_str(&o).contains("runc version 1.1."))
}
