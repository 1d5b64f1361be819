//! Processes that meet the outside of their container: the seccomp agent
//! (`linux.seccomp.listenerPath` receives the state and the notify fd), a second container
//! joining namespaces by path, `--pidfd-socket`, and `exec --cgroup`.
//!
//! Checked against runc 1.3.6 (the sid root); Debian 12's runc 1.1.5 has no --pidfd-socket.

mod process_exec_common;

use hull_conformance::*;
use process_exec_common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;

// seccomp agent
// ---------------------------------------------------------------------------

/// crun 1.28 bug: for an exec'd process it sends `"pid": 0` (also as state.pid) and
/// `"bundle": "."`, where runtime.md's container process state has the process's pid and
/// state.bundle is "the absolute path to the container's bundle directory".
#[test]
fn seccomp_listener_receives_state_and_notify_fd() {
    let rt = Runtime::new();
    let id = unique_id("scmpl");
    let mut b = Bundle::sleeping(&id);
    let sock = b.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "meta-for-agent",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    });
    b.save();
    let agent = spawn_agent(listener.try_clone().unwrap());
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    assert_ok(&o, "create with a seccomp listener");
    // crun 1.28, with noNewPrivileges (the harness's default), loads the filter as late as it
    // can, just before the program's execve, so the agent hears from it only at `start`
    // (still with status "creating"); the spec does not say when the state is sent.
    let started_early = is_crun();
    if started_early {
        c.start();
    }
    let (data, fd) = agent.join().unwrap();
    let v: Value = serde_json::from_slice(&data)
        .unwrap_or_else(|e| panic!("payload not JSON ({e}): {}", String::from_utf8_lossy(&data)));
    assert_eq!(v["fds"], json!(["seccompFd"]), "{v}");
    assert_eq!(v["metadata"], "meta-for-agent", "{v}");
    assert!(v["pid"].as_i64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["state"]["id"], json!(id), "{v}");
    assert_eq!(v["state"]["status"], "creating", "{v}");
    assert!(v["ociVersion"].is_string(), "{v}");
    let fd = fd.expect("no fd with the payload");
    let link = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    assert!(
        link.to_string_lossy().contains("seccomp"),
        "the fd is not a seccomp notify fd: {}",
        link.display()
    );
    assert_eq!(
        v["pid"].as_i64(),
        Some(c.pid() as i64),
        "the init's host pid: {v}"
    );
    drop(fd);
    // an exec'd process's filter goes to the agent too, with status "running"
    if !started_early {
        c.start();
    }
    let agent = spawn_agent(listener);
    let pidfile = b.dir.join("x.pid");
    let o = exec(
        &rt,
        &id,
        &[
            "-d",
            "--pid-file",
            pidfile.to_str().unwrap(),
            "--",
            "sleep",
            "1000",
        ],
    );
    assert_ok(&o, "exec with a seccomp listener");
    let (data, fd) = agent.join().unwrap();
    let v: Value = serde_json::from_slice(&data).unwrap();
    let pid: i64 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(v["pid"].as_i64(), Some(pid), "{v}");
    assert_eq!(v["state"]["status"], "running", "{v}");
    assert!(fd.is_some(), "no fd for the exec'd process");
    c.delete_force();
}

/// A seccomp agent for one connection: the payload and the fd that came with it.
fn spawn_agent(listener: UnixListener) -> std::thread::JoinHandle<(Vec<u8>, Option<OwnedFd>)> {
    std::thread::spawn(move || {
        // never block the test forever: a runtime that does not connect fails it
        let s = accept_within(&listener, budget(Duration::from_secs(20)))
            .unwrap_or_else(|e| panic!("the runtime never connected to listenerPath: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (mut data, fd) = recv_with_fd(&s);
        // the rest of the payload, if the stream split it
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut &s, &mut rest);
        data.extend(rest);
        (data, fd)
    })
}

// ---------------------------------------------------------------------------
// joined namespaces, pidfd socket, exec --cgroup
// ---------------------------------------------------------------------------

#[test]
fn second_container_joins_namespaces_by_path() {
    let rt = Runtime::new();
    let id1 = unique_id("nsa");
    let mut b1 = Bundle::sleeping(&id1);
    b1.config["hostname"] = json!("first-host");
    b1.save();
    let c1 = Container::started(&rt, &b1, &id1);
    let pid1 = c1.pid();
    let mut b2 = Bundle::busybox();
    let id2 = unique_id("nsb");
    b2.set_cgroups_path(&test_cgroups_path(&id2));
    b2.config.as_object_mut().unwrap().remove("hostname");
    let nss = b2.config["linux"]["namespaces"].as_array_mut().unwrap();
    for n in nss.iter_mut() {
        let kind = match n["type"].as_str().unwrap() {
            "network" => "net",
            "ipc" => "ipc",
            "uts" => "uts",
            "pid" => "pid",
            _ => continue,
        };
        n["path"] = json!(format!("/proc/{pid1}/ns/{kind}"));
    }
    let (code, out, err) = run_container(
        &rt,
        &mut b2,
        &["sh", "-c", "hostname; for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; ps -o pid,args"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "first-host", "{out}");
    for (i, kind) in ["net", "ipc", "uts", "pid"].iter().enumerate() {
        assert_eq!(lines[1 + i], ns_link(pid1, kind), "{kind}: {out}");
    }
    // the first container's init is visible as pid 1 from the second
    assert!(out.contains("sleep 1000"), "{out}");
}

fn accept_pidfd(l: &UnixListener) -> OwnedFd {
    let s = accept_within(l, budget(T * 3))
        .unwrap_or_else(|e| panic!("no connection on the pidfd socket: {e}"));
    let (_, fd) = recv_with_fd(&s);
    fd.expect("no pidfd")
}

#[test]
fn create_pidfd_socket_reports_the_container_exit() {
    let rt = Runtime::new();
    let id = unique_id("pidfdx");
    let b = Bundle::sleeping(&id);
    let sock = b.dir.join("pidfd.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let c = Container::with_id(&rt, &b, &id);
    let o = c.create_with(
        &["--pidfd-socket", sock.to_str().unwrap()],
        &c.stdout_path(),
        &c.stderr_path(),
    );
    assert_ok(&o, "create --pidfd-socket");
    let pidfd = accept_pidfd(&l);
    c.start();
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    assert_eq!(
        unsafe { libc::poll(&mut p, 1, 0) },
        0,
        "pidfd readable while running"
    );
    c.kill("KILL");
    let r = unsafe { libc::poll(&mut p, 1, budget(T).as_millis() as i32) };
    assert_eq!(r, 1, "pidfd did not report the exit");
}

/// The container's cgroup directories as the host sees them, with a sub-cgroup `sub`
/// created in each; removed on drop.
struct SubCgroups(Vec<PathBuf>);

impl SubCgroups {
    fn make(id: &str, sub: &str) -> SubCgroups {
        let dirs: Vec<PathBuf> = cgroup_leftovers(&test_cgroups_path(id))
            .into_iter()
            .map(|d| d.join(sub))
            .collect();
        assert!(!dirs.is_empty(), "container cgroup not found");
        for d in &dirs {
            fs::create_dir_all(d).unwrap();
            // a v1 cpuset cgroup takes no process until it has cpus and mems
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = fs::read_to_string(d.parent().unwrap().join(f)) {
                    let _ = fs::write(d.join(f), v.trim());
                }
            }
        }
        SubCgroups(dirs)
    }
}

impl Drop for SubCgroups {
    fn drop(&mut self) {
        remove_cgroup_dirs(&self.0);
    }
}

fn cgroup_line<'a>(proc_cgroup: &'a str, ctrl: &str) -> &'a str {
    proc_cgroup
        .lines()
        .find(|l| {
            let c = l.split(':').nth(1).unwrap_or("");
            if ctrl.is_empty() {
                l.starts_with("0::")
            } else {
                c.split(',').any(|x| x == ctrl)
            }
        })
        .unwrap_or_else(|| panic!("no {ctrl} line in {proc_cgroup}"))
}

#[test]
fn exec_cgroup_joins_a_sub_cgroup_and_rejects_bad_ones() {
    let rt = Runtime::new();
    let id = unique_id("xcg");
    let b = Bundle::sleeping(&id);
    let c = Container::started(&rt, &b, &id);
    let rel = test_cgroups_path(&id);
    let _subs = SubCgroups::make(&id, "sub");
    let v2 = cgroup_kind() == CgroupKind::V2;
    let ctrl = if v2 { "" } else { "pids" };
    let check = |flags: &[&str], want_sub: bool| {
        let mut a: Vec<&str> = flags.to_vec();
        a.extend(["--", "sh", "-c", "cat /proc/self/cgroup"]);
        let out = exec_ok(&rt, &id, &a);
        let line = cgroup_line(&out, ctrl);
        assert_eq!(line.ends_with("/sub"), want_sub, "{flags:?}: {out}");
    };
    check(&[], false);
    check(&["--cgroup", "sub"], true);
    if !v2 {
        check(&["--cgroup", "pids:sub"], true);
        check(&["--cgroup", "pids,memory:sub"], true);
    }
    let o = exec(&rt, &id, &["--cgroup", "..", "--", "true"]);
    assert_eq!(o.status.code(), Some(255), "{}", describe(&o));
    // runc 1.3.6: ".. is not a sub cgroup path"; later runc: "bad sub cgroup path"
    let e = stderr_str(&o);
    assert!(
        e.contains("is not a sub cgroup path") || e.contains("bad sub cgroup path"),
        "{}",
        describe(&o)
    );
    let o = exec(&rt, &id, &["--cgroup", "nonexistent", "--", "true"]);
    assert_eq!(o.status.code(), Some(255), "{}", describe(&o));
    assert!(
        stderr_str(&o).contains(" adding pid ")
            && stderr_str(&o).contains("no such file or directory"),
        "{}",
        describe(&o)
    );
    if !v2 {
        let o = exec(&rt, &id, &["--cgroup", "whaaat:/", "--", "true"]);
        assert_eq!(o.status.code(), Some(255), "{}", describe(&o));
        assert!(
            stderr_str(&o).contains("unknown controller "),
            "{}",
            describe(&o)
        );
    }
    // detached: the process stays in the sub-cgroup
    let pidfile = b.dir.join("x.pid");
    let o = exec(
        &rt,
        &id,
        &[
            "-d",
            "--cgroup",
            "sub",
            "--pid-file",
            pidfile.to_str().unwrap(),
            "--",
            "sleep",
            "1000",
        ],
    );
    assert_ok(&o, "exec -d --cgroup sub");
    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let host_view = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = cgroup_line(&host_view, ctrl);
    assert!(line.ends_with(&format!("{rel}/sub")), "{host_view}");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    c.kill("KILL");
    c.wait_status("stopped", T);
}

// ---------------------------------------------------------------------------
