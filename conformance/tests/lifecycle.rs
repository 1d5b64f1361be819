//! Container lifecycle per the OCI runtime spec: create / state / start /
//! kill / delete, foreground `run`, `run -d`, `--pid-file`.

use hull_conformance::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// A writable busybox bundle with an explicit test cgroup path.
fn bundle_for(id: &str, script: &str) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_args(&["sh", "-c", script]);
    b.save();
    b
}

/// Script that installs signal traps, signals readiness with /ready and idles.
/// TERM makes it exit (pid 1 in a pid namespace ignores signals it has no handler for).
const IDLE: &str = "trap 'exit 0' TERM; touch /ready; while :; do sleep 0.1; done";

#[test]
fn create_state_start_kill_delete() {
    let rt = Runtime::new();
    let id = unique_id("life");
    let b = bundle_for(
        &id,
        "trap 'exit 0' TERM; touch /ran; while :; do sleep 0.1; done",
    );
    let c = Container::with_id(&rt, &b, &id);
    let before = now_unix();
    c.create();

    // state after create
    let st = c.state();
    assert_eq!(st["status"], "created", "state: {st}");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().expect("pid is a number");
    assert!(pid > 0, "pid must be > 0: {st}");
    assert!(pid_alive(pid as i32), "container init pid {pid} not alive");
    let bundle = st["bundle"].as_str().expect("bundle string");
    assert!(
        Path::new(bundle).is_absolute(),
        "bundle not absolute: {bundle}"
    );
    assert_eq!(
        fs::canonicalize(bundle).unwrap(),
        fs::canonicalize(&b.dir).unwrap()
    );
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "ociVersion missing: {st}"
    );
    let created = st["created"].as_str().expect("created string");
    let ts = parse_rfc3339(created).unwrap_or_else(|| panic!("created not RFC3339: {created}"));
    assert!(
        ts.frac_digits > 0,
        "created has no fractional seconds: {created}"
    );
    assert!(
        ts.unix_secs >= before - 2 && ts.unix_secs <= now_unix() + 2,
        "created {created} is not now"
    );
    // runc leaves owner empty for a container root created; crun names the user ("root")
    let owner = if is_crun() { "root" } else { "" };
    assert_eq!(st["owner"], owner, "owner: {st}");

    // the user program must not have run yet
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !c.host_path("/ran").exists(),
        "user program ran before start"
    );
    assert_eq!(c.state()["status"], "created");

    // start
    c.start();
    c.wait_file("/ran", T);
    assert_eq!(c.state()["status"], "running");
    assert_eq!(c.pid() as i64, pid, "pid changed across start");

    // start again fails
    let o = c.try_start();
    assert_fail1(&o, "second start");

    // kill TERM -> stopped
    c.kill("TERM");
    c.wait_status("stopped", T);

    // delete removes the state
    c.delete();
    assert_no_state(&rt, &id);
    let o = c.try_state();
    assert_fail1(&o, "state after delete");
    // runc's words; crun's: "container `<id>` does not exist: open `<root>/<id>/status`: ..."
    let words = if is_crun() {
        "does not exist"
    } else {
        "container does not exist"
    };
    assert!(stderr_str(&o).contains(words), "{}", describe(&o));
    assert!(
        poll_until(T, || !pid_alive(pid as i32)),
        "init pid still alive"
    );
    assert!(
        poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()),
        "cgroup left: {:?}",
        cgroup_leftovers(&test_cgroups_path(&id))
    );
}

#[test]
fn kill_sigkill_stops_container() {
    let rt = Runtime::new();
    let id = unique_id("kill9");
    let b = bundle_for(&id, "sleep 1000");
    let c = Container::started(&rt, &b, &id);
    c.wait_status("running", T);
    c.kill("KILL");
    c.wait_status("stopped", T);
    let st = c.state();
    assert_eq!(st["status"], "stopped");
    // like runc, a stopped container reports pid 0
    assert_eq!(st["pid"], 0, "stopped state: {st}");
    c.delete();
    assert_no_state(&rt, &id);
}

#[test]
fn delete_running_requires_force() {
    let rt = Runtime::new();
    let id = unique_id("delrun");
    let b = bundle_for(&id, "sleep 1000");
    let c = Container::started(&rt, &b, &id);
    let pid = c.pid();
    let o = c.try_delete();
    assert_fail1(&o, "delete of running container without --force");
    assert!(
        !stderr_str(&o).is_empty(),
        "no error message: {}",
        describe(&o)
    );
    assert_eq!(
        c.state()["status"],
        "running",
        "container harmed by failed delete"
    );
    assert!(pid_alive(pid));

    let o = c.delete_force();
    assert_ok(&o, "delete --force");
    assert_no_state(&rt, &id);
    assert!(
        poll_until(T, || !pid_alive(pid)),
        "process survived delete --force"
    );
    assert!(
        poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()),
        "cgroup left after delete --force"
    );
}

#[test]
fn delete_created_never_started() {
    let rt = Runtime::new();
    let id = unique_id("delcreated");
    let b = bundle_for(&id, "touch /ran; sleep 1000");
    let c = Container::with_id(&rt, &b, &id);
    c.create();
    let pid = c.pid();
    c.delete();
    assert_no_state(&rt, &id);
    assert!(
        poll_until(T, || !pid_alive(pid)),
        "init of deleted container alive"
    );
    assert!(
        !c.host_path("/ran").exists(),
        "user program ran although never started"
    );
    assert!(
        poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()),
        "cgroup left"
    );
}

#[test]
fn state_of_unknown_container() {
    let rt = Runtime::new();
    let o = rt.run(&["state", "no-such-container"]);
    assert_fail1(&o, "state of unknown id");
    // runc's words; crun passes on the ENOENT of its state ("container `<id>` does not exist:
    // open `<root>/<id>/status`: No such file or directory", "cannot open directory ...")
    let words = if is_crun() {
        "No such file or directory"
    } else {
        "container does not exist"
    };
    assert!(stderr_str(&o).contains(words), "{}", describe(&o));
    assert!(o.stdout.is_empty(), "stdout not empty: {}", describe(&o));
    for cmd in [
        vec!["start", "no-such-container"],
        vec!["kill", "no-such-container", "KILL"],
        vec!["delete", "no-such-container"],
    ] {
        let o = rt.run(&cmd);
        assert_fail1(&o, &format!("{cmd:?}"));
        assert!(stderr_str(&o).contains(words), "{cmd:?}: {}", describe(&o));
    }
}

#[test]
fn create_twice_same_id_keeps_first() {
    let rt = Runtime::new();
    let id = unique_id("twice");
    let b1 = bundle_for(&id, "touch /ran; sleep 1000");
    let b2 = bundle_for(&id, "touch /ran2; sleep 1000");
    let c1 = Container::with_id(&rt, &b1, &id);
    c1.create();
    let st1 = c1.state();

    let c2 = Container::with_id(&rt, &b2, &id);
    let o = c2.try_create();
    assert_fail1(&o, "second create with the same id");
    assert!(!stderr_str(&o).is_empty(), "no error message");
    std::mem::forget(c2); // its Drop would delete the first container

    let st = c1.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], st1["pid"]);
    assert_eq!(st["bundle"], st1["bundle"]);
    assert!(pid_alive(st["pid"].as_i64().unwrap() as i32));
    c1.start();
    c1.wait_file("/ran", T);
    assert!(!b2.rootfs().join("ran2").exists());
    assert_eq!(c1.state()["status"], "running");
}

/// NOTE: runc 1.1.5 fails this: its create checks for an existing state dir
/// and then creates it non-atomically, so two creates can both proceed and a
/// loser's cleanup removes the winner's state (`container does not exist`
/// afterwards) or two "win". hull must claim the id atomically before touching
/// anything (state, cgroup), so exactly one wins and the winner is intact.
#[test]
fn concurrent_create_same_id_one_wins() {
    let rt = Runtime::new();
    let id = unique_id("race");
    const N: usize = 4;
    let bundles: Vec<Bundle> = (0..N)
        .map(|i| bundle_for(&id, &format!("touch /ran{i}; sleep 1000")))
        .collect();
    let results: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = bundles
            .iter()
            .map(|b| {
                let rt = &rt;
                let id = id.clone();
                s.spawn(move || {
                    let c = Container::with_id(rt, b, &id);
                    let o = c.try_create();
                    std::mem::forget(c);
                    o
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..N).filter(|&i| results[i].status.success()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent create must win: {:?}",
        results.iter().map(describe).collect::<Vec<_>>()
    );
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            assert_fail1(r, "losing concurrent create");
        }
    }
    let w = winners[0];
    let c = Container::with_id(&rt, &bundles[w], &id);
    let st = c.state();
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(
        fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
        fs::canonicalize(&bundles[w].dir).unwrap()
    );
    assert!(
        !cgroup_leftovers(&test_cgroups_path(&id)).is_empty(),
        "winner's cgroup was removed by a loser"
    );
    c.start();
    c.wait_file(&format!("/ran{w}"), T);
    assert_eq!(c.state()["status"], "running");
    c.kill("KILL");
    c.wait_status("stopped", T);
    c.delete();
    assert_no_state(&rt, &id);
}

use std::process::Output;

fn sig_lines(c: &Container) -> Vec<String> {
    fs::read_to_string(c.host_path("/sig"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Send `sig` and wait until a new line `expect` appears in /sig.
fn send_and_expect(c: &Container, sig: &str, expect: &str) {
    let before = sig_lines(c).iter().filter(|l| *l == expect).count();
    c.kill(sig);
    assert!(
        poll_until(T, || sig_lines(c).iter().filter(|l| *l == expect).count()
            > before),
        "signal {sig:?} not received (wanted {expect:?}); /sig = {:?}",
        sig_lines(c)
    );
}

#[test]
fn kill_signal_name_forms() {
    let rt = Runtime::new();
    let id = unique_id("sigs");
    let b = bundle_for(
        &id,
        "trap 'echo USR1 >> /sig' USR1; trap 'echo USR2 >> /sig' USR2; trap 'echo HUP >> /sig' HUP; \
         touch /ready; while :; do sleep 0.1; done",
    );
    let c = Container::started(&rt, &b, &id);
    c.wait_file("/ready", T);
    send_and_expect(&c, "USR1", "USR1");
    send_and_expect(&c, "SIGUSR1", "USR1");
    send_and_expect(&c, "10", "USR1");
    send_and_expect(&c, "SIGUSR2", "USR2");
    // runc (and hull) take lowercase names too; crun: "unknown signal `usr2`"
    if !is_crun() {
        send_and_expect(&c, "usr2", "USR2");
    }
    send_and_expect(&c, "HUP", "HUP");
    send_and_expect(&c, "1", "HUP");
    assert_eq!(c.state()["status"], "running");
}

/// Container trapping SIGRTMIN+3 (37; SIGRTMIN is 34 for glibc/Go userspace) and SIGRTMAX (64).
fn rt_signal_container<'a>(rt: &'a Runtime, b: &'a Bundle, id: &str) -> Container<'a> {
    let c = Container::started(rt, b, id);
    c.wait_file("/ready", T);
    c
}

const RT_SCRIPT: &str =
    "trap 'echo RT37 >> /sig' 37; trap 'echo RT64 >> /sig' 64; touch /ready; while :; do sleep 0.1; done";

#[test]
fn kill_realtime_signals_by_number() {
    let rt = Runtime::new();
    let id = unique_id("rtnum");
    let b = bundle_for(&id, RT_SCRIPT);
    let c = rt_signal_container(&rt, &b, &id);
    send_and_expect(&c, "37", "RT37");
    send_and_expect(&c, "64", "RT64");
}

/// NOTE: runc (1.1.5 and 1.3.6) rejects these names with `unknown signal`; hull accepts them,
/// as kill(1) and crun do.
#[test]
fn kill_realtime_signals_by_name() {
    let rt = Runtime::new();
    let id = unique_id("rtname");
    let b = bundle_for(&id, RT_SCRIPT);
    let c = rt_signal_container(&rt, &b, &id);
    send_and_expect(&c, "SIGRTMIN+3", "RT37");
    send_and_expect(&c, "RTMIN+3", "RT37");
    send_and_expect(&c, "SIGRTMAX", "RT64");
    send_and_expect(&c, "RTMAX", "RT64");
}

#[test]
fn kill_invalid_signal_fails() {
    let rt = Runtime::new();
    let id = unique_id("badsig");
    let b = bundle_for(&id, IDLE);
    let c = Container::started(&rt, &b, &id);
    c.wait_file("/ready", T);
    for sig in ["SIGBOGUS", "NOPE", "999", "-1"] {
        let o = c.try_kill(sig);
        assert_ne!(
            o.status.code(),
            Some(0),
            "kill {sig} must fail: {}",
            describe(&o)
        );
        assert!(!stderr_str(&o).is_empty(), "kill {sig}: no message");
    }
    assert_eq!(c.state()["status"], "running");
}

#[test]
fn kill_default_signal_is_term() {
    let rt = Runtime::new();
    let id = unique_id("defsig");
    let b = bundle_for(&id, IDLE);
    let c = Container::started(&rt, &b, &id);
    c.wait_file("/ready", T);
    let o = rt.run(&["kill", &id]);
    assert_ok(&o, "kill without signal");
    c.wait_status("stopped", T);
}

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::new();
    let id = unique_id("killall");
    let b = bundle_for(
        &id,
        "sh -c \"trap 'echo child >> /sig; exit 0' USR1; touch /ready2; while :; do sleep 0.1; done\" & \
         trap 'echo init >> /sig' USR1; touch /ready; while :; do sleep 0.1; done",
    );
    let c = Container::started(&rt, &b, &id);
    c.wait_file("/ready", T);
    c.wait_file("/ready2", T);
    let o = rt.run(&["kill", "--all", &id, "USR1"]);
    assert_ok(&o, "kill --all USR1");
    assert!(
        poll_until(T, || {
            let l = sig_lines(&c);
            l.contains(&"child".to_string()) && l.contains(&"init".to_string())
        }),
        "kill --all did not reach both processes: {:?}",
        sig_lines(&c)
    );
    let o = rt.run(&["kill", "--all", &id, "KILL"]);
    assert_ok(&o, "kill --all KILL");
    c.wait_status("stopped", T);
}

#[test]
fn kill_stopped_container_fails() {
    let rt = Runtime::new();
    let id = unique_id("killstopped");
    let b = bundle_for(&id, "exit 0");
    let c = Container::started(&rt, &b, &id);
    c.wait_status("stopped", T);
    let o = c.try_kill("KILL");
    assert_fail1(&o, "kill of stopped container");
    // runc's words; crun passes on kill(2)'s ESRCH: "kill container: No such process"
    let words = if is_crun() {
        "No such process"
    } else {
        "container not running"
    };
    assert!(stderr_str(&o).contains(words), "{}", describe(&o));
    c.delete();
    assert_no_state(&rt, &id);
}

#[test]
fn run_foreground_exit_status() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, out, err) =
        run_container(&rt, &mut b, &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(code, 7, "stderr: {err}");
    assert_eq!(out, "out\n");
    assert!(err.contains("err"), "stderr: {err:?}");
    let (code, _, err) = run_container(&rt, &mut b, &["true"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        rt.ids_in_root().is_empty(),
        "run left state: {:?}",
        rt.ids_in_root()
    );
}

#[test]
fn run_foreground_killed_by_signal() {
    // Without a pid namespace sh is not an init and can be killed by its own signal.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "pid");
    let (code, _, err) = run_container(&rt, &mut b, &["sh", "-c", "kill -USR1 $$; sleep 5"]);
    assert_eq!(code, 128 + 10, "stderr: {err}");
}

#[test]
fn run_foreground_killed_from_outside() {
    let rt = Runtime::new();
    let id = unique_id("runkill");
    let b = bundle_for(&id, "sleep 1000");
    let c = Container::with_id(&rt, &b, &id);
    let mut child = c.spawn_run(&[]);
    let ok = poll_until(T, || c.status().as_deref() == Some("running"));
    if !ok {
        let _ = child.kill();
        let _ = child.wait();
        panic!("run did not reach running; stderr {:?}", c.stderr());
    }
    c.kill("KILL");
    let st = wait_child(&mut child, T, "foreground run");
    assert_eq!(exit_code(&st), 137, "stderr {:?}", c.stderr());
    // foreground run deletes the container when it exits
    assert!(
        poll_until(T, || !rt.state_dir(&id).exists()),
        "run left state behind"
    );
}

#[test]
fn run_detached() {
    let rt = Runtime::new();
    let id = unique_id("rund");
    let b = bundle_for(&id, "touch /ran; sleep 1000");
    let c = Container::with_id(&rt, &b, &id);
    let o = rt.run(&["run", "-d", "--bundle", b.dir_str(), &id]);
    assert_ok(&o, "run -d");
    assert_eq!(c.state()["status"], "running");
    c.wait_file("/ran", T);
    c.kill("KILL");
    c.wait_status("stopped", T);
    c.delete();
    assert_no_state(&rt, &id);
}

#[test]
fn pid_file_matches_state() {
    let rt = Runtime::new();
    let id = unique_id("pidf");
    let b = bundle_for(&id, "sleep 1000");
    let c = Container::with_id(&rt, &b, &id);
    let pid_dir = b.dir.join("piddir");
    fs::create_dir(&pid_dir).unwrap();
    let pid_path = pid_dir.join("container.pid");
    let pid_s = pid_path.to_str().unwrap().to_string();

    // Watch the pid file while create runs: whenever it exists it must be complete.
    let done = std::sync::atomic::AtomicBool::new(false);
    let (o, seen) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(data) = fs::read_to_string(&pid_path) {
                    if seen.last() != Some(&data) {
                        seen.push(data);
                    }
                }
                std::thread::yield_now();
            }
            seen
        });
        let o = c.create_with(&["--pid-file", &pid_s], &c.stdout_path(), &c.stderr_path());
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (o, watcher.join().unwrap())
    });
    assert_ok(&o, "create --pid-file");
    let content = fs::read_to_string(&pid_path).expect("pid file written");
    assert!(
        !content.ends_with('\n'),
        "pid file must have no newline: {content:?}"
    );
    let pid: i64 = content
        .parse()
        .unwrap_or_else(|_| panic!("pid file not a number: {content:?}"));
    assert_eq!(Value::from(pid), c.state()["pid"]);
    for s in &seen {
        assert_eq!(s, &content, "pid file observed incomplete: {seen:?}");
    }
    // no temp files left next to it
    let extra: Vec<_> = fs::read_dir(&pid_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "container.pid")
        .collect();
    assert!(extra.is_empty(), "temporary pid files left: {extra:?}");
}

#[test]
fn pid_file_relative_path_and_run_detached() {
    let rt = Runtime::new();
    let id = unique_id("pidrel");
    let b = bundle_for(&id, "sleep 1000");
    let c = Container::with_id(&rt, &b, &id);
    // relative to the runtime's working directory
    let mut cmd = rt.cmd(&[
        "run",
        "-d",
        "--pid-file",
        "rel.pid",
        "--bundle",
        b.dir_str(),
        &id,
    ]);
    cmd.current_dir(&b.dir);
    let o = output_with_timeout(&mut cmd, Duration::from_secs(30));
    assert_ok(&o, "run -d --pid-file rel.pid");
    let content = fs::read_to_string(b.dir.join("rel.pid")).expect("relative pid file");
    assert_eq!(content, c.pid().to_string());
}

#[test]
fn default_cgroup_path_created_and_removed() {
    // Without linux.cgroupsPath, hull (like runc's cgroupfs driver) puts the container at
    // <caller's cgroup>/<id> in every hierarchy. Read where the init really is, check the
    // path's shape, and check it is gone after delete.
    let rt = Runtime::new();
    let id = unique_id("defcg");
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    let cgroups =
        fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).expect("init's /proc/pid/cgroup");
    // v1/hybrid: the memory hierarchy's line; pure v2: the unified "0::" line
    let v2 = cgroup_kind() == CgroupKind::V2;
    let want = if v2 { "" } else { "memory" };
    let path = cgroups
        .lines()
        .find_map(|l| {
            l.splitn(3, ':')
                .nth(2)
                .filter(|_| l.split(':').nth(1) == Some(want))
        })
        .map(String::from)
        .unwrap_or_else(|| panic!("init has no {want:?} cgroup line: {cgroups}"));
    assert!(
        path.ends_with(&format!("/{id}")),
        "cgroup {path} does not end with the id"
    );
    let dir = if v2 {
        format!("/sys/fs/cgroup{path}")
    } else {
        format!("/sys/fs/cgroup/memory{path}")
    };
    assert!(std::path::Path::new(&dir).is_dir(), "{dir} missing");
    c.kill("KILL");
    c.wait_status("stopped", T);
    c.delete();
    assert!(
        poll_until(T, || !std::path::Path::new(&dir).exists()),
        "cgroup left: {dir}"
    );
}
