//! `exec` checked from inside the container: joining the init's namespaces (user namespace
//! included), its options, detached with a pid file, and refusing a stopped or missing
//! container.

mod features_common;

use features_common::*;
use hull_conformance::*;
use serde_json::json;
use std::fs;

// ---------------------------------------------------------------------------
// exec
// ---------------------------------------------------------------------------

#[test]
fn exec_joins_init_namespaces() {
    let rt = Runtime::new();
    let id = unique_id("execns");
    let mut b = idle_bundle(&id);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    b.save();
    let c = Container::started(&rt, &b, &id);
    let pid = c.pid();
    let o = c.exec(&["sh", "-c", &ns_script()]);
    assert_ok(&o, "exec");
    let out = stdout_str(&o);
    let m = kv_lines(&out);
    for k in NS_KINDS {
        assert_eq!(
            m[*k],
            ns_link(pid, k),
            "exec'd process not in init's {k} ns"
        );
    }
    assert_ne!(m["selfpid"], "1");
    // same cgroups as the init (both seen through the container's cgroup namespace)
    let o = c.exec(&[
        "sh",
        "-c",
        "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup",
    ]);
    assert_ok(&o, "exec cat cgroup");
    let out = stdout_str(&o);
    let (mine, init) = out.split_once("---\n").expect("separator");
    assert_eq!(mine, init, "exec'd process not in the init's cgroups");
}

#[test]
fn exec_options() {
    let rt = Runtime::new();
    let id = unique_id("execopt");
    let b = idle_bundle(&id);
    let _c = Container::started(&rt, &b, &id);

    // --env, --cwd
    let o = rt.run(&[
        "exec",
        "--env",
        "HULLX=1 2",
        "--env",
        "HULLY=y",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "echo \"$HULLX|$HULLY\"; pwd",
    ]);
    assert_ok(&o, "exec --env --cwd");
    assert_eq!(stdout_str(&o), "1 2|y\n/tmp\n");

    // --user
    let o = rt.run(&[
        "exec",
        "--user",
        "1000:1000",
        &id,
        "sh",
        "-c",
        "id -u; id -g; echo $HOME",
    ]);
    assert_ok(&o, "exec --user");
    assert_eq!(stdout_str(&o), "1000\n1000\n/home/user\n");

    // --cap
    let o = rt.run(&["exec", &id, "cat", "/proc/self/status"]);
    assert_ok(&o, "exec");
    let without = stdout_str(&o);
    let sys_admin = cap_mask(&["SYS_ADMIN"]);
    assert_eq!(status_hex(&without, "CapEff") & sys_admin, 0);
    let o = rt.run(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    assert_ok(&o, "exec --cap");
    let with = stdout_str(&o);
    for k in ["CapBnd", "CapPrm", "CapEff"] {
        assert_ne!(
            status_hex(&with, k) & sys_admin,
            0,
            "{k} lacks SYS_ADMIN: {with}"
        );
    }
    // the container's default caps are still there. crun 1.28 bug: `exec --cap` ("add a
    // capability", its --help says) replaces them: CapEff is SYS_ADMIN alone
    let base = cap_mask(&["AUDIT_WRITE", "KILL", "NET_BIND_SERVICE"]);
    assert_eq!(status_hex(&with, "CapEff") & base, base);

    // --no-new-privs (the config has noNewPrivileges true: use a config without it)
    assert_eq!(status_field(&without, "NoNewPrivs").as_deref(), Some("1"));

    // exit status propagates
    let o = rt.run(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", describe(&o));
    let o = rt.run(&["exec", &id, "sh", "-c", "kill -9 $$"]);
    assert_eq!(exit_code(&o.status), 137, "{}", describe(&o));

    // --process
    let proc_json = b.dir.join("process.json");
    fs::write(
        &proc_json,
        serde_json::to_vec(&json!({
            "terminal": false,
            "user": { "uid": 1000, "gid": 2000 },
            "args": ["sh", "-c", "echo \"$PJ\"; pwd; id -u; id -g"],
            "env": ["PATH=/bin:/usr/bin", "PJ=from-process-json"],
            "cwd": "/home/user"
        }))
        .unwrap(),
    )
    .unwrap();
    let o = rt.run(&["exec", "--process", proc_json.to_str().unwrap(), &id]);
    assert_ok(&o, "exec --process");
    assert_eq!(
        stdout_str(&o),
        "from-process-json\n/home/user\n1000\n2000\n"
    );
}

#[test]
fn exec_no_new_privs_flag() {
    let rt = Runtime::new();
    let id = unique_id("execnnp");
    let mut b = idle_bundle(&id);
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.save();
    let c = Container::started(&rt, &b, &id);
    let o = c.exec(&["grep", "NoNewPrivs", "/proc/self/status"]);
    assert_ok(&o, "exec");
    assert_eq!(
        status_field(&stdout_str(&o), "NoNewPrivs").as_deref(),
        Some("0")
    );
    let o = rt.run(&[
        "exec",
        "--no-new-privs",
        &id,
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert_ok(&o, "exec --no-new-privs");
    assert_eq!(
        status_field(&stdout_str(&o), "NoNewPrivs").as_deref(),
        Some("1")
    );
}

#[test]
fn exec_detach_with_pid_file() {
    let rt = Runtime::new();
    let id = unique_id("execd");
    let b = idle_bundle(&id);
    let c = Container::started(&rt, &b, &id);
    let init = c.pid();
    let pidfile = b.dir.join("exec.pid");
    let o = rt.run(&[
        "exec",
        "--detach",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "echo $$ > /tmp/exec-nspid; exec sleep 1000",
    ]);
    assert_ok(&o, "exec --detach --pid-file");
    let content = fs::read_to_string(&pidfile).expect("exec pid file");
    assert!(
        !content.ends_with('\n'),
        "pid file has a newline: {content:?}"
    );
    let pid: i32 = content.parse().expect("numeric pid");
    assert!(pid_alive(pid), "detached exec process {pid} not running");
    assert_ne!(pid, init);
    assert_eq!(ns_link(pid, "pid"), ns_link(init, "pid"));
    assert_eq!(ns_link(pid, "mnt"), ns_link(init, "mnt"));
    c.wait_file("/tmp/exec-nspid", T);
    // the shell creates the file before it writes the line: wait for the whole line
    let read_line = || fs::read_to_string(c.host_path("/tmp/exec-nspid")).unwrap_or_default();
    assert!(
        poll_until(T, || read_line().ends_with('\n')),
        "exec did not write its pid"
    );
    let nspid = read_line();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid_field = status_field(&status, "NSpid").unwrap();
    assert_eq!(
        nspid_field.split_whitespace().last(),
        Some(nspid.trim()),
        "pid file pid is not the process that ran: {nspid_field}"
    );
    // delete --force kills it too
    c.delete_force();
    assert!(
        poll_until(T, || !pid_alive(pid)),
        "exec'd process survived delete --force"
    );
}

#[test]
fn exec_into_stopped_or_missing_container_fails() {
    let rt = Runtime::new();
    let id = unique_id("execstop");
    let mut b = idle_bundle(&id);
    b.set_args(&["true"]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    c.wait_status("stopped", T);
    let o = c.exec(&["echo", "SHOULD-NOT-RUN"]);
    // runc exits 255 when exec itself fails ("exec failed: ..."); crun exits 1
    let failed = if is_crun() { 1 } else { 255 };
    assert_eq!(
        o.status.code(),
        Some(failed),
        "exec into stopped container: {}",
        describe(&o)
    );
    assert!(!stdout_str(&o).contains("SHOULD-NOT-RUN"));
    assert!(!o.stderr.is_empty(), "no error message");
    let o = rt.run(&["exec", "no-such-container-x", "true"]);
    assert_eq!(
        o.status.code(),
        Some(failed),
        "exec into missing container: {}",
        describe(&o)
    );
    // runc's words; crun's: "container `<id>` does not exist: open ..."
    let words = if is_crun() {
        "does not exist"
    } else {
        "container does not exist"
    };
    assert!(stderr_str(&o).contains(words), "{}", describe(&o));
}

#[test]
fn exec_joins_user_namespace() {
    let rt = Runtime::new();
    let id = unique_id("execuserns");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.add_user_namespace();
    b.set_args(&["sleep", "1000"]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    let pid = c.pid();
    let o = c.exec(&[
        "sh",
        "-c",
        "echo user $(readlink /proc/self/ns/user); echo mnt $(readlink /proc/self/ns/mnt); \
         echo uid $(id -u); echo uidmap $(cat /proc/self/uid_map)",
    ]);
    assert_ok(&o, "exec into a user-namespaced container");
    let out = stdout_str(&o);
    let m = kv_lines(&out);
    assert_eq!(m["user"], ns_link(pid, "user"), "{out}");
    assert_eq!(m["mnt"], ns_link(pid, "mnt"), "{out}");
    assert_eq!(m["uid"], "0", "{out}");
    assert_eq!(
        m["uidmap"].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    let o = rt.run(&["exec", "--user", "1000:1000", &id, "id", "-u"]);
    assert_ok(&o, "exec --user in userns");
    assert_eq!(stdout_str(&o), "1000\n");
    // host view of the init: mapped uid
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status_field(&st, "Uid")
            .unwrap()
            .split_whitespace()
            .all(|u| u == "100000"),
        "host uid of the init: {st}"
    );
}

/// Kubernetes pods with user namespaces: every container joins the pod's user namespace by
/// path and gets its own pid namespace, which the joined user namespace must own.
#[test]
fn new_pid_namespace_inside_joined_user_namespace() {
    let rt = Runtime::new();
    let id = unique_id("usernsholder");
    let mut holder = Bundle::busybox();
    holder.set_cgroups_path(&test_cgroups_path(&id));
    holder.add_user_namespace();
    holder.set_args(&["sleep", "1000"]);
    holder.save();
    let c = Container::started(&rt, &holder, &id);
    let holder_pid = c.pid();

    let mut b = Bundle::busybox();
    set_namespaces(
        &mut b,
        json!([
            { "type": "user", "path": format!("/proc/{holder_pid}/ns/user") },
            { "type": "pid" },
            { "type": "mount" },
            { "type": "ipc" },
            { "type": "uts" },
            { "type": "network", "path": format!("/proc/{holder_pid}/ns/net") },
        ]),
    );
    b.remove_mount("/sys/fs/cgroup");
    let out = sh_ok(
        &rt,
        &mut b,
        "echo pid $$; echo user $(readlink /proc/self/ns/user); \
         echo pidns $(readlink /proc/self/ns/pid); echo uid $(id -u); \
         echo uidmap $(cat /proc/self/uid_map); echo procs $(ls -d /proc/[0-9]* | wc -l)",
    );
    let m = kv_lines(&out);
    assert_eq!(m["pid"], "1", "not pid 1 of a new pid namespace: {out}");
    assert_eq!(m["user"], ns_link(holder_pid, "user"), "{out}");
    assert_ne!(m["pidns"], ns_link(holder_pid, "pid"), "{out}");
    assert_ne!(m["pidns"], ns_link("self", "pid"), "{out}");
    assert_eq!(m["uid"], "0", "{out}");
    assert_eq!(
        m["uidmap"].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    // /proc is the new pid namespace's: only sh and its children
    assert!(m["procs"].parse::<u32>().unwrap() <= 5, "{out}");
}
