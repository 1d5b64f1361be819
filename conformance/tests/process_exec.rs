//! Process creation and `exec`: capabilities (`exec --cap`, unknown names, ambient),
//! environment and HOME, process groups, stdio ownership, loopback, UTS sysctls, the fds the
//! waiting init holds, and runc's words and exit codes for exec failures, kill and help.
//! Seccomp agent, joined namespaces, `--pidfd-socket` and `exec --cgroup` are in
//! process_join.rs.
//!
//! Checked against runc 1.3.6 (the sid root), whose deviations are noted where they occur.
//! Debian 12's runc 1.1.5 is older than these behaviours (no --pidfd-socket, other hook and
//! exec words, no ambient warning, kill semantics) and fails several of them.

mod process_exec_common;

use hull_conformance::*;
use process_exec_common::*;
use serde_json::json;
use std::fs;
use std::os::fd::AsRawFd;
use std::process::Stdio;

/// The capability sets of a /proc/<pid>/status text, in the order CapInh, CapPrm, CapEff,
/// CapBnd, CapAmb.
#[track_caller]
fn assert_caps(status: &str, want: [&str; 5]) {
    for (f, w) in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
        .iter()
        .zip(want)
    {
        assert_eq!(status_of(status, f), w, "{f}: {status}");
    }
}

/// Field `field:` of a /proc/<pid>/status text; panics when it is missing.
fn status_of(status: &str, field: &str) -> String {
    status_field(status, field).unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn env_values(env: &str, key: &str) -> Vec<String> {
    env.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// capabilities
// ---------------------------------------------------------------------------

#[test]
fn exec_cap_adds_to_bounding_effective_permitted_only() {
    let rt = Runtime::new();
    let id = unique_id("xcap");
    let mut b = Bundle::sleeping(&id);
    b.config["process"]["capabilities"] = json!({});
    b.save();
    let _c = Container::started(&rt, &b, &id);
    let s = exec_ok(&rt, &id, &["cat", "/proc/self/status"]);
    assert_caps(&s, ["0000000000000000"; 5]);
    let s = exec_ok(
        &rt,
        &id,
        &[
            "--cap",
            "CAP_KILL",
            "--cap",
            "CAP_AUDIT_WRITE",
            "--",
            "cat",
            "/proc/self/status",
        ],
    );
    // CAP_KILL = 5, CAP_AUDIT_WRITE = 26
    assert_caps(
        &s,
        [
            "0000000000000000",
            "0000000020000020",
            "0000000020000020",
            "0000000020000020",
            "0000000000000000",
        ],
    );
}

/// crun 1.28 bug: even a plain exec (no --cap) gets CapPrm/CapEff 0000000400000021: CAP_SYSLOG,
/// only in inheritable and bounding, beyond the spec's permitted set.
#[test]
fn exec_cap_goes_to_ambient_when_the_spec_has_inheritable() {
    // runc 1.3: --cap is also added to ambient when the spec sets an inheritable set (the
    // kernel only raises ambient caps that are inheritable; the others are skipped).
    let rt = Runtime::new();
    let id = unique_id("xcapa");
    let mut b = Bundle::sleeping(&id);
    b.config["process"]["capabilities"] = json!({
        "inheritable": ["CAP_CHOWN", "CAP_SYSLOG"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "effective": ["CAP_KILL"],
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_SYSLOG"],
        "ambient": ["CAP_CHOWN"],
    });
    b.save();
    let _c = Container::started(&rt, &b, &id);
    let s = exec_ok(&rt, &id, &["cat", "/proc/self/status"]);
    assert_caps(
        &s,
        [
            "0000000400000001",
            "0000000000000021",
            "0000000000000021",
            "0000000400000021",
            "0000000000000001",
        ],
    );
    let s = exec_ok(
        &rt,
        &id,
        &["--cap", "CAP_SYSLOG", "--", "cat", "/proc/self/status"],
    );
    assert_caps(
        &s,
        [
            "0000000400000001",
            "0000000400000021",
            "0000000400000021",
            "0000000400000021",
            "0000000400000001",
        ],
    );
}

/// crun 1.28 bug: it skips CAP_UNKNOWN silently (stderr empty), where config.md says "Any value
/// which cannot be mapped to a relevant kernel interface, or cannot be granted otherwise MUST be
/// logged as a warning by the runtime".
#[test]
fn unknown_capability_is_a_warning() {
    // runtime-spec 1.1+: unknown capability values MUST be logged as a warning and the
    // runtime SHOULD NOT fail.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["capabilities"]["bounding"] =
        json!(["CAP_UNKNOWN", "UNKNOWN_CAP", "CAP_KILL"]);
    let (code, out, err) = run_container(&rt, &mut b, &["cat", "/proc/self/status"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains("CAP_UNKNOWN"), "{err}");
    assert_eq!(status_of(&out, "CapBnd"), "0000000000000020", "{out}");
    assert_eq!(status_of(&out, "CapInh"), "0000000000000000", "{out}");
}

/// crun 1.28 bug: exec --cap CAP_UNKNOWN runs without a warning (see
/// unknown_capability_is_a_warning).
#[test]
fn exec_unknown_capability_is_a_warning() {
    let rt = Runtime::new();
    let id = unique_id("xcapu");
    let mut b = Bundle::sleeping(&id);
    b.config["process"]["capabilities"] = json!({});
    b.save();
    let _c = Container::started(&rt, &b, &id);
    let o = exec(
        &rt,
        &id,
        &[
            "--cap",
            "CAP_UNKNOWN",
            "--cap",
            "CAP_KILL",
            "--",
            "cat",
            "/proc/self/status",
        ],
    );
    assert_ok(&o, "exec --cap CAP_UNKNOWN");
    assert!(stderr_str(&o).contains("CAP_UNKNOWN"), "{}", describe(&o));
    assert_eq!(status_of(&stdout_str(&o), "CapBnd"), "0000000000000020");
    // the same in a process.json
    let p = b.dir.join("p.json");
    fs::write(
        &p,
        json!({"args": ["cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
               "env": ["PATH=/bin:/usr/bin"],
               "capabilities": {"bounding": ["CAP_UNKNOWN", "CAP_KILL"], "permitted": ["CAP_KILL"],
                                "effective": ["CAP_KILL"]}})
        .to_string(),
    )
    .unwrap();
    let o = exec(&rt, &id, &["-p", p.to_str().unwrap(), "--"]);
    assert_ok(&o, "exec -p with CAP_UNKNOWN");
    assert_eq!(status_of(&stdout_str(&o), "CapBnd"), "0000000000000020");
}

/// crun 1.28 bug: the ambient CAP_CHOWN it cannot raise is dropped without any warning (stderr
/// empty); config.md: a capability that "cannot be granted otherwise MUST be logged as a
/// warning".
#[test]
fn ambient_capability_not_inheritable_is_a_warning() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    b.config["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_CHOWN"]);
    let (code, out, err) = run_container(&rt, &mut b, &["cat", "/proc/self/status"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        err.contains("can't raise ambient capability CAP_CHOWN: "),
        "{err}"
    );
    assert_eq!(status_of(&out, "CapAmb"), "0000000000000020", "{out}");
}

// ---------------------------------------------------------------------------
// environment and HOME
// ---------------------------------------------------------------------------

#[test]
fn exec_env_overrides_and_each_variable_appears_once() {
    let rt = Runtime::new();
    let id = unique_id("xenv");
    let mut b = Bundle::sleeping(&id);
    b.add_env("FOO=from-spec");
    b.add_env("BAR=kept");
    b.save();
    let _c = Container::started(&rt, &b, &id);
    let env = exec_ok(
        &rt,
        &id,
        &["--env", "FOO=from-flag", "--env", "NEW=1", "--", "env"],
    );
    assert_eq!(env_values(&env, "FOO"), ["from-flag"], "{env}");
    assert_eq!(env_values(&env, "BAR"), ["kept"], "{env}");
    assert_eq!(env_values(&env, "NEW"), ["1"], "{env}");
    assert_eq!(env_values(&env, "PATH").len(), 1, "{env}");
    assert_eq!(env_values(&env, "HOME"), ["/root"], "{env}");
}

#[test]
fn home_from_env_is_kept_and_empty_or_missing_comes_from_passwd() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.add_env("HOME=/somewhere");
    let (code, out, err) = run_container(&rt, &mut b, &["env"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env_values(&out, "HOME"), ["/somewhere"], "{out}");

    let mut b = Bundle::busybox();
    b.add_env("HOME=");
    let (code, out, err) = run_container(&rt, &mut b, &["env"]);
    assert_eq!(code, 0, "{err}");
    // runc's rule (an empty HOME is replaced); crun 1.28 keeps `HOME=` as given.
    if !is_crun() {
        assert_eq!(
            env_values(&out, "HOME"),
            ["/root"],
            "an empty HOME is replaced: {out}"
        );
    }

    let mut b = Bundle::busybox();
    let (code, out, err) = run_container(&rt, &mut b, &["env"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env_values(&out, "HOME"), ["/root"], "{out}");
}

#[test]
fn default_home_of_a_non_root_user_is_its_passwd_home() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let (code, out, err) = run_container(&rt, &mut b, &["env"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env_values(&out, "HOME"), ["/home/user"], "{out}");
    // a uid with no passwd entry gets "/" (runc's historical default)
    let mut b = Bundle::busybox();
    b.config["process"]["user"] = json!({"uid": 4321, "gid": 4321});
    let (code, out, err) = run_container(&rt, &mut b, &["env"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env_values(&out, "HOME"), ["/"], "{out}");
}

#[test]
fn exec_home_for_user_and_process_json_with_and_without_env() {
    let rt = Runtime::new();
    let id = unique_id("xhome");
    let b = Bundle::sleeping(&id);
    let _c = Container::started(&rt, &b, &id);
    let out = exec_ok(&rt, &id, &["-u", "1000", "--", "sh", "-c", "echo $HOME"]);
    assert_eq!(out.trim(), "/home/user");
    // -p without env: HOME still comes from passwd
    let p = b.dir.join("p-noenv.json");
    fs::write(
        &p,
        json!({"args": ["/bin/busybox", "env"], "cwd": "/", "user": {"uid": 1000, "gid": 1000}})
            .to_string(),
    )
    .unwrap();
    let out = exec_ok(&rt, &id, &["-p", p.to_str().unwrap(), "--"]);
    if !is_runc() {
        // runc 1.3.6 sets no HOME at all when process.env is absent (runc issue 4688,
        // fixed in later runc); hull takes it from passwd as for any other process
        assert_eq!(env_values(&out, "HOME"), ["/home/user"], "{out}");
    }
    // -p with env
    let p = b.dir.join("p-env.json");
    fs::write(
        &p,
        json!({"args": ["env"], "cwd": "/", "user": {"uid": 0, "gid": 0},
               "env": ["PATH=/bin:/usr/bin", "X=1", "X=2"]})
        .to_string(),
    )
    .unwrap();
    let out = exec_ok(&rt, &id, &["-p", p.to_str().unwrap(), "--"]);
    assert_eq!(env_values(&out, "X"), ["2"], "{out}");
    assert_eq!(env_values(&out, "HOME"), ["/root"], "{out}");
}

// ---------------------------------------------------------------------------
// process group, stdio ownership, loopback
// ---------------------------------------------------------------------------

#[test]
fn exec_process_has_a_visible_process_group() {
    let rt = Runtime::new();
    let id = unique_id("xpgrp");
    let b = Bundle::sleeping(&id);
    let _c = Container::started(&rt, &b, &id);
    // field 5 of /proc/self/stat is the process group id as seen in the container's pid
    // namespace: 0 when the group leader is outside it
    let out = exec_ok(&rt, &id, &["sh", "-c", "cut -d' ' -f5 /proc/self/stat"]);
    let pgrp: i64 = out.trim().parse().unwrap_or_else(|_| panic!("{out}"));
    assert!(pgrp > 0, "exec'd process group is {pgrp} in the container");
}

#[test]
fn stdio_is_chowned_to_the_container_user() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    // No ambient caps: their warnings would go to the same capture file, which the reopen
    // below shares without O_APPEND (a late warning could overwrite "reopened").
    b.config["process"]["capabilities"]["ambient"] = json!([]);
    // stdout/stderr are files of the test's: the user can reopen them only if it owns them
    let (code, out, err) = run_container(
        &rt,
        &mut b,
        &[
            "sh",
            "-c",
            "stat -L -c %u /proc/self/fd/1 /proc/self/fd/2; echo reopened >> /proc/self/fd/2",
        ],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let owners: Vec<&str> = out.lines().collect();
    assert_eq!(owners, ["1000", "1000"], "{out}");
    assert!(err.contains("reopened"), "{err}");
}

#[test]
fn new_network_namespace_has_loopback_up() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, out, err) = run_container(&rt, &mut b, &["cat", "/sys/class/net/lo/flags"]);
    assert_eq!(code, 0, "{err}");
    let flags = u32::from_str_radix(out.trim().trim_start_matches("0x"), 16).unwrap();
    assert!(flags & 1 != 0, "lo is down: flags {out}");
}

// ---------------------------------------------------------------------------
// UTS sysctls
// ---------------------------------------------------------------------------

#[test]
fn sysctl_conflicting_with_hostname_or_domainname_is_refused() {
    let rt = Runtime::new();
    for (field, key) in [
        ("hostname", "kernel.hostname"),
        ("domainname", "kernel.domainname"),
    ] {
        if is_runc() && field == "domainname" {
            // runc 1.3.6 does not check kernel.domainname against domainname (crun does)
            continue;
        }
        let id = unique_id("utsc");
        let mut b = Bundle::busybox();
        b.set_cgroups_path(&test_cgroups_path(&id));
        b.config[field] = json!("one");
        b.config["linux"]["sysctl"] = json!({key: "two"});
        b.save();
        let c = Container::with_id(&rt, &b, &id);
        let o = c.try_create();
        assert_fail1(&o, &format!("{key} conflicting with {field}"));
        assert!(stderr_str(&o).contains(key), "{}", describe(&o));
        assert_no_state(&rt, &id);
        // the same value is no conflict. runc 1.3.6 refuses kernel.hostname whenever the
        // container has a UTS namespace ("conflicts with the OCI \"hostname\" field"), even
        // with an equal or no hostname; crun 1.28 refuses an equal one too ("the sysctl
        // `kernel.hostname` conflicts with OCI field `hostname`"); hull refuses only a real
        // conflict.
        if is_runc() || is_crun() {
            continue;
        }
        let id = unique_id("utsok");
        let mut b = Bundle::busybox();
        b.set_cgroups_path(&test_cgroups_path(&id));
        b.config[field] = json!("same");
        b.config["linux"]["sysctl"] = json!({key: "same"});
        let (code, out, err) =
            run_container(&rt, &mut b, &["cat", &format!("/proc/sys/kernel/{field}")]);
        assert_eq!(code, 0, "{key} equal to {field}: {err}");
        assert_eq!(out.trim(), "same");
    }
}

// ---------------------------------------------------------------------------
// the waiting init's fds
// ---------------------------------------------------------------------------

#[test]
fn waiting_init_holds_no_caller_fd() {
    let rt = Runtime::new();
    let id = unique_id("initfd");
    let b = Bundle::sleeping(&id);
    let marker = b.dir.join("caller-only-file");
    fs::write(&marker, "secret").unwrap();
    let f = fs::File::open(&marker).unwrap();
    // an fd without CLOEXEC, as a careless caller would leave it
    let fd = unsafe { libc::dup(f.as_raw_fd()) };
    assert!(fd > 2);
    let out_f = fs::File::create(b.dir.join("out")).unwrap();
    let err_f = fs::File::create(b.dir.join("err")).unwrap();
    let mut cmd = rt.cmd(&["create", "--bundle", b.dir_str(), &id]);
    cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
    let st = wait_child(&mut cmd.spawn().unwrap(), budget(T * 3), "create");
    unsafe { libc::close(fd) };
    assert!(
        st.success(),
        "create: {}",
        fs::read_to_string(b.dir.join("err")).unwrap()
    );
    let c = Container::with_id(&rt, &b, &id);
    let pid = c.pid();
    let mut held = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let target = fs::read_link(e.path()).unwrap_or_default();
        held.push(format!(
            "{} -> {}",
            e.file_name().to_string_lossy(),
            target.display()
        ));
        assert_ne!(
            target, marker,
            "the waiting init holds the caller's fd: {held:?}"
        );
    }
    c.start();
    c.kill("KILL");
}

// ---------------------------------------------------------------------------

// words and exit codes
// ---------------------------------------------------------------------------

/// Whether `err` has `words`, as is or as the text log format quotes them (`"` as `\"`).
fn has_words(err: &str, words: &str) -> bool {
    err.contains(words) || err.contains(&words.replace('"', "\\\""))
}

#[test]
fn exec_failures_use_runc_words_and_exit_255() {
    let rt = Runtime::new();
    let id = unique_id("xwords");
    let b = Bundle::sleeping(&id);
    fs::write(b.rootfs().join("not-exec"), "data").unwrap();
    // an interpreter that does not exist: execve itself fails with ENOENT
    let script = b.rootfs().join("bad-interp.sh");
    fs::write(&script, "#!/mmnnttbb foo bar\nsh\n").unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let _c = Container::started(&rt, &b, &id);
    let cases: &[(&str, &str)] = &[
        (
            "no-such-binary",
            "exec: \"no-such-binary\": executable file not found in $PATH",
        ),
        (
            "/no/such/file",
            "exec: \"/no/such/file\": stat /no/such/file: no such file or directory",
        ),
        ("/not-exec", "exec: \"/not-exec\": permission denied"),
        ("/bin", "exec: \"/bin\": is a directory"),
        (
            "/bad-interp.sh",
            "exec /bad-interp.sh: no such file or directory",
        ),
    ];
    for (cmd, words) in cases {
        let o = exec(&rt, &id, &[cmd]);
        assert_eq!(o.status.code(), Some(255), "{cmd}: {}", describe(&o));
        assert!(
            has_words(&stderr_str(&o), words),
            "{cmd}: want {words:?}: {}",
            describe(&o)
        );
    }
}

#[test]
fn run_failures_use_runc_words() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, _, err) = run_container(&rt, &mut b, &["no-such-binary"]);
    assert_ne!(code, 0);
    assert!(
        has_words(
            &err,
            "exec: \"no-such-binary\": executable file not found in $PATH"
        ),
        "{err}"
    );
    let mut b = Bundle::busybox();
    let (code, _, err) = run_container(&rt, &mut b, &["/no/such/file"]);
    assert_ne!(code, 0);
    assert!(
        has_words(
            &err,
            "exec: \"/no/such/file\": stat /no/such/file: no such file or directory"
        ),
        "{err}"
    );
}

#[test]
fn kill_of_a_stopped_container_says_not_running() {
    let rt = Runtime::new();
    let id = unique_id("kstop");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.set_args(&["true"]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    c.wait_status("stopped", T);
    // runc's words; crun 1.28 says "kill container: No such process" (exit 1 too).
    let words = |o: &std::process::Output| {
        assert!(
            is_crun() || stderr_str(o).contains("container not running"),
            "{}",
            describe(o)
        );
    };
    let o = c.try_kill("KILL");
    assert_fail1(&o, "kill of a stopped container");
    words(&o);
    let o = c.try_kill("TERM");
    assert_fail1(&o, "kill TERM of a stopped container");
    words(&o);
    drop(c);
    // without a pid namespace KILL goes to the whole cgroup (containerd's shim sends it
    // after the init exits to reap leftovers): nothing left is success, as with runc 1.3.6
    let id = unique_id("kstoph");
    let mut b = host_pidns_bundle(&id);
    b.set_args(&["true"]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    c.wait_status("stopped", T);
    let o = c.try_kill("KILL");
    assert_ok(
        &o,
        "kill KILL of a stopped container without a pid namespace",
    );
    let o = c.try_kill("TERM");
    assert_fail1(
        &o,
        "kill TERM of a stopped container without a pid namespace",
    );
    words(&o);
}

fn host_pidns_bundle(id: &str) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(id));
    b.remove_namespace("pid");
    b.set_args(&["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    b.save();
    b
}

fn cgroup_pids(id: &str) -> Vec<i32> {
    let mut v = Vec::new();
    for d in cgroup_leftovers(&test_cgroups_path(id)) {
        if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
            v.extend(s.lines().filter_map(|l| l.parse::<i32>().ok()));
        }
    }
    v.sort();
    v.dedup();
    v
}

fn wait_cgroup_count(id: &str, want: usize) {
    let ok = poll_until(budget(T), || cgroup_pids(id).len() == want);
    assert!(
        ok,
        "cgroup of {id} has {:?}, want {want} processes",
        cgroup_pids(id)
    );
}

#[test]
fn kill_in_the_host_pid_namespace_kills_every_process() {
    let rt = Runtime::new();
    let id = unique_id("khost");
    let b = host_pidns_bundle(&id);
    let c = Container::started(&rt, &b, &id);
    wait_cgroup_count(&id, 3);
    c.kill("KILL");
    wait_cgroup_count(&id, 0);
    c.wait_status("stopped", T);

    // the init dies first: the others live on, and kill KILL still reaches them
    let id = unique_id("khost2");
    let b = host_pidns_bundle(&id);
    let c = Container::started(&rt, &b, &id);
    wait_cgroup_count(&id, 3);
    let init = c.pid();
    unsafe { libc::kill(init, libc::SIGKILL) };
    wait_cgroup_count(&id, 2);
    c.wait_status("stopped", T);
    let o = c.try_kill("KILL");
    assert_ok(&o, "kill KILL after the init died");
    wait_cgroup_count(&id, 0);
}

fn help_name() -> &'static str {
    if is_runc() {
        "runc"
    } else {
        "hull"
    }
}

#[test]
fn help_output_and_exit_codes_like_runc() {
    let rt = Runtime::new();
    let name = help_name();
    for args in [&["-h"][..], &["--help"], &["help"], &["h"]] {
        let o = output_with_timeout(&mut rt.bare_cmd(args), T);
        assert_ok(&o, &format!("{args:?}"));
        let out = stdout_str(&o);
        for want in [
            "NAME:",
            "USAGE:",
            "COMMANDS:",
            "GLOBAL OPTIONS:",
            "--help, -h",
            "help, h",
        ] {
            assert!(out.contains(want), "{args:?}: no {want:?} in\n{out}");
        }
        assert!(out.contains(&format!("   {name} - ")), "{out}");
    }
    for args in [
        &["kill", "-h"][..],
        &["kill", "--help"],
        &["help", "kill"],
        &["h", "kill"],
    ] {
        let o = output_with_timeout(&mut rt.bare_cmd(args), T);
        assert_ok(&o, &format!("{args:?}"));
        let out = stdout_str(&o);
        assert!(
            out.starts_with(&format!("NAME:\n   {name} kill - ")),
            "{args:?}:\n{out}"
        );
        assert!(
            out.contains(&format!("USAGE:\n   {name} kill ")),
            "{args:?}:\n{out}"
        );
    }
    let o = output_with_timeout(&mut rt.bare_cmd(&["exec", "-h"]), T);
    assert_ok(&o, "exec -h");
    let out = stdout_str(&o);
    for want in [
        "OPTIONS:",
        "--cap value, -c value",
        "--cgroup value",
        "--env value, -e value",
    ] {
        assert!(out.contains(want), "no {want:?} in\n{out}");
    }
    for args in [&["foo", "-h"][..], &["help", "foo"], &["foo"]] {
        let o = output_with_timeout(&mut rt.bare_cmd(args), T);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", describe(&o));
        assert!(
            stderr_str(&o).contains("No help topic for 'foo'"),
            "{args:?}: {}",
            describe(&o)
        );
        assert!(stdout_str(&o).is_empty(), "{args:?}: {}", describe(&o));
    }
}

#[test]
fn unopenable_log_path_is_an_error() {
    let rt = Runtime::new();
    let id = unique_id("logx");
    let b = Bundle::sleeping(&id);
    let o = rt.run(&[
        "--log",
        "/nonexistent-dir/sub/hull.log",
        "create",
        "--bundle",
        b.dir_str(),
        &id,
    ]);
    assert_fail1(&o, "create with an unopenable --log");
    assert!(
        stderr_str(&o).contains("/nonexistent-dir/sub/hull.log"),
        "{}",
        describe(&o)
    );
    assert_no_state(&rt, &id);
}
