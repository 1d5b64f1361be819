//! Linux security modules: `process.apparmorProfile`, `process.selinuxLabel`,
//! `linux.mountLabel`, `exec --apparmor` / `--process-label`.
//!
//! Two kinds of tests:
//! - What a host without the LSM does (this development host runs none): a profile or a process
//!   label is refused before anything is created, as runc 1.1.5 and 1.3.6 do; a mount label is
//!   left out (as crun; runc passes `context=` to the kernel, which rejects it: a known runc
//!   deviation, see `mount_label_is_left_out_without_selinux`). These skip (saying so) on a
//!   host where the LSM is on.
//! - AppArmor for real (`#[ignore]`d: they need AppArmor enabled and `apparmor_parser`): run by
//!   `conformance/vm/apparmor/run.sh` in a VM booted with `apparmor=1 security=apparmor`.
//!
//! SELinux cannot be shown on Debian (no policy): the label and mount-context paths are
//! covered by the refusal tests here and by unit tests of the mount option string.

use hull_conformance::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const NEEDS_APPARMOR: &str = "needs AppArmor: conformance/vm/apparmor/run.sh";

/// runc's test for AppArmor (libcontainer/apparmor): securityfs shows it and the module is on.
fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// go-selinux's test, simplified: selinuxfs is mounted and we run under a real context.
fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
        && std::fs::read_to_string("/proc/self/attr/current")
            .is_ok_and(|c| !matches!(c.trim_end_matches(['\0', '\n']), "" | "kernel"))
}

/// A container whose program sleeps, started; the handle deletes it on drop.
fn sleeping<'a>(rt: &'a Runtime, b: &'a mut Bundle) -> Container<'a> {
    b.set_args(&["sleep", "1000"]);
    b.save();
    let c = Container::new(rt, b);
    c.create().start();
    c
}

/// `exec [flags...] <id> [cmd...]` (the harness's `Container::exec` puts everything after
/// the id, where it is the command).
fn exec_with(c: &Container, flags: &[&str], cmd: &[&str]) -> std::process::Output {
    let mut a = vec!["exec"];
    a.extend_from_slice(flags);
    a.push(&c.id);
    a.extend_from_slice(cmd);
    c.runtime.run(&a)
}

fn stderr_has(o: &std::process::Output, what: &str) {
    let err = stderr_str(o);
    assert!(
        err.contains(what),
        "stderr should mention {what:?}: {}",
        describe(o)
    );
}

#[test]
fn features_report_apparmor_and_selinux_support() {
    // runtime-spec features-linux.md: whether the runtime implements them, "irrelevant to the
    // availability ... on the host" (runc 1.1.5/1.3.6 report true on this host too).
    let rt = Runtime::new();
    let o = rt.bare_cmd(&["features"]).output().expect("run features");
    assert_ok(&o, "features");
    let v: Value = serde_json::from_slice(&o.stdout).expect("features JSON");
    assert_eq!(v["linux"]["apparmor"]["enabled"], json!(true), "{v}");
    assert_eq!(v["linux"]["selinux"]["enabled"], json!(true), "{v}");
}

/// crun 1.28 bug: it ignores the profile and runs the container unconfined, where runtime.md
/// says "If the runtime is unable to create the environment specified in the config.json, it
/// MUST generate an error".
#[test]
fn apparmor_profile_is_refused_without_apparmor() {
    if apparmor_enabled() {
        eprintln!("skipped: AppArmor is enabled here (the apparmor_* ignored tests cover it)");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["apparmorProfile"] = json!("hull-test-profile");
    b.set_args(&["true"]);
    b.save();
    {
        let c = Container::new(&rt, &b);
        let o = c.try_create();
        assert_fail1(&o, "create with a profile on a host without AppArmor");
        stderr_has(&o, "apparmor");
        assert_no_state(&rt, &c.id);
    }
    // run likewise; an empty profile means none
    let (code, _, err) = run_container(&rt, &mut b, &["true"]);
    assert_eq!(code, 1, "run: {err}");
    b.config["process"]["apparmorProfile"] = json!("");
    let (code, _, err) = run_container(&rt, &mut b, &["true"]);
    assert_eq!(code, 0, "an empty apparmorProfile is no profile: {err}");
}

#[test]
fn selinux_label_is_refused_without_selinux() {
    if selinux_enabled() {
        eprintln!("skipped: SELinux is enabled here");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2");
    b.set_args(&["true"]);
    b.save();
    let c = Container::new(&rt, &b);
    let o = c.try_create();
    assert_fail1(&o, "create with an SELinux label on a host without SELinux");
    // runc's words (its config validator). crun 1.28 fails later, in its own words: "write to
    // `/proc/self/attr/keycreate`: Invalid argument".
    if !is_crun() {
        stderr_has(
            &o,
            "selinux label is specified in config, but selinux is disabled or not supported",
        );
    }
    assert_no_state(&rt, &c.id);
}

/// crun 1.28 bug: `exec --apparmor` on a host without AppArmor runs the process unconfined
/// (exit 0), as its create does (see apparmor_profile_is_refused_without_apparmor).
#[test]
fn exec_profile_or_label_is_refused_without_the_lsm() {
    // (flag, process.json field, value, the LSM is on here, what the error says)
    let cases = [
        (
            "--apparmor",
            "apparmorProfile",
            "hull-test-profile",
            apparmor_enabled(),
            "apparmor",
        ),
        (
            "--process-label",
            "selinuxLabel",
            "system_u:system_r:container_t:s0",
            selinux_enabled(),
            "selinux label is specified in config, but selinux is disabled",
        ),
    ];
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let c = sleeping(&rt, &mut b);
    let dir = TempDir::new("lsm-proc");
    for (flag, field, value, enabled, words) in cases {
        if enabled {
            eprintln!("{flag}: skipped, the LSM is enabled here");
            continue;
        }
        // exec failures exit 255, as runc's
        let o = exec_with(&c, &[flag, value], &["true"]);
        assert_eq!(exit_code(&o.status), 255, "exec {flag}: {}", describe(&o));
        stderr_has(&o, words);
        let p = dir.path().join(format!("{field}.json"));
        let proc =
            json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, field: value});
        std::fs::write(&p, proc.to_string()).unwrap();
        let o = exec_with(&c, &["--process", p.to_str().unwrap()], &[]);
        assert_eq!(
            exit_code(&o.status),
            255,
            "exec -p with {field}: {}",
            describe(&o)
        );
        stderr_has(&o, words);
        // an empty value means none
        let o = exec_with(&c, &[flag, ""], &["true"]);
        assert_ok(&o, &format!("exec with an empty {flag}"));
    }
    // nothing of it touched the container
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn mount_label_is_left_out_without_selinux() {
    // runc 1.1.5/1.3.6 fail here (known deviation): they append context="..." to the /dev
    // tmpfs even where SELinux is off, and the kernel rejects the option (EINVAL). crun 1.28
    // and hull add it only where SELinux is enabled, with a debug line otherwise.
    if selinux_enabled() {
        eprintln!("skipped: SELinux is enabled here");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
    let (code, out, err) = run_container(&rt, &mut b, &["cat", "/proc/self/mountinfo"]);
    assert_eq!(code, 0, "run with a mount label: {err}");
    assert!(out.contains(" /dev "), "mountinfo: {out}");
    assert!(
        !out.contains("context="),
        "no SELinux context on any mount: {out}"
    );
    // and --debug says so (hull's words; crun is silent)
    if !is_runc() && hull_bin().to_string_lossy().contains("hull") {
        let id = unique_id("dbg");
        let _guard = Container::with_id(&rt, &b, &id);
        let o = rt.run(&["--debug", "run", "--bundle", b.dir_str(), &id]);
        assert_ok(&o, "run --debug");
        stderr_has(&o, "linux.mountLabel");
    }
}

// ---------------------------------------------------------------------------------------------
// AppArmor enabled (the VM target)
// ---------------------------------------------------------------------------------------------

/// A profile loaded with apparmor_parser for the test's lifetime (removed on drop).
struct Profile {
    name: String,
    file: PathBuf,
    _dir: TempDir,
}

impl Profile {
    /// Allows everything but reading /etc/hull-secret.
    fn load() -> Profile {
        assert!(apparmor_enabled(), "{NEEDS_APPARMOR}");
        let name = unique_id("hull-test");
        let dir = TempDir::new("lsm-profile");
        let file = dir.path().join(&name);
        let text = format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  mount,\n  umount,\n  pivot_root,\n  deny /etc/hull-secret r,\n}}\n"
        );
        std::fs::write(&file, text).unwrap();
        let o = Command::new("apparmor_parser")
            .args(["-r", "-K"])
            .arg(&file)
            .output()
            .expect("run apparmor_parser (Debian package apparmor)");
        assert_ok(&o, "apparmor_parser -r");
        Profile {
            name,
            file,
            _dir: dir,
        }
    }

    /// What /proc/self/attr/current shows for a process confined by it.
    fn current(&self) -> String {
        format!("{} (enforce)", self.name)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = Command::new("apparmor_parser")
            .args(["-R", "-K"])
            .arg(&self.file)
            .output();
    }
}

fn attr_current(out: &str) -> &str {
    out.lines().next().unwrap_or("").trim_end_matches('\0')
}

#[test]
#[ignore = "needs AppArmor: conformance/vm/apparmor/run.sh"]
fn apparmor_profile_confines_the_container() {
    let profile = Profile::load();
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    std::fs::write(b.rootfs().join("etc/hull-secret"), "secret\n").unwrap();
    std::fs::write(b.rootfs().join("etc/hull-public"), "public\n").unwrap();
    b.config["process"]["apparmorProfile"] = json!(profile.name);
    let script = "cat /proc/self/attr/current; cat /etc/hull-public; \
                  cat /etc/hull-secret 2>/dev/null && echo READ-SECRET || echo DENIED";
    let (code, out, err) = run_container(&rt, &mut b, &["sh", "-c", script]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(attr_current(&out), profile.current(), "{out}");
    assert!(out.contains("public"), "other files stay readable: {out}");
    assert!(
        out.contains("DENIED") && !out.contains("READ-SECRET"),
        "the deny rule holds: {out}"
    );
    // the same without the profile: the file is readable (the denial is the profile's)
    b.config["process"]["apparmorProfile"] = json!(null);
    let (_, out, _) = run_container(&rt, &mut b, &["sh", "-c", script]);
    assert!(out.contains("READ-SECRET"), "unconfined: {out}");
}

#[test]
#[ignore = "needs AppArmor: conformance/vm/apparmor/run.sh"]
fn apparmor_profile_applies_to_a_non_root_user() {
    let profile = Profile::load();
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["apparmorProfile"] = json!(profile.name);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["noNewPrivileges"] = json!(true);
    let (code, out, err) = run_container(&rt, &mut b, &["cat", "/proc/self/attr/current"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(attr_current(&out), profile.current());
}

#[test]
#[ignore = "needs AppArmor: conformance/vm/apparmor/run.sh"]
fn exec_runs_under_the_container_profile_or_the_given_one() {
    let (p1, p2) = (Profile::load(), Profile::load());
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["apparmorProfile"] = json!(p1.name);
    let c = sleeping(&rt, &mut b);
    let cur = |o: &std::process::Output| attr_current(&stdout_str(o)).to_string();
    let o = c.exec(&["cat", "/proc/self/attr/current"]);
    assert_ok(&o, "exec");
    assert_eq!(
        cur(&o),
        p1.current(),
        "an exec inherits the container's profile"
    );
    let o = exec_with(
        &c,
        &["--apparmor", &p2.name],
        &["cat", "/proc/self/attr/current"],
    );
    assert_ok(&o, "exec --apparmor");
    assert_eq!(cur(&o), p2.current());
    let dir = TempDir::new("lsm-proc");
    let pf = dir.path().join("p.json");
    let proc = json!({"args": ["cat", "/proc/self/attr/current"], "cwd": "/",
                      "user": {"uid": 0, "gid": 0}, "apparmorProfile": p2.name});
    std::fs::write(&pf, proc.to_string()).unwrap();
    let o = exec_with(&c, &["--process", pf.to_str().unwrap()], &[]);
    assert_ok(&o, "exec --process with apparmorProfile");
    assert_eq!(cur(&o), p2.current());
    // the init itself kept its profile
    let init = std::fs::read_to_string(format!("/proc/{}/attr/current", c.pid())).unwrap();
    assert_eq!(attr_current(&init), p1.current());
}

#[test]
#[ignore = "needs AppArmor: conformance/vm/apparmor/run.sh"]
fn apparmor_profile_not_loaded_fails_create() {
    assert!(apparmor_enabled(), "{NEEDS_APPARMOR}");
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let missing = unique_id("hull-not-loaded");
    b.config["process"]["apparmorProfile"] = json!(missing);
    b.set_args(&["true"]);
    b.save();
    let c = Container::new(&rt, &b);
    let o = c.try_create();
    assert_fail1(&o, "create with a profile that is not loaded");
    stderr_has(&o, "apparmor");
    assert_no_state(&rt, &c.id);
}

#[test]
#[ignore = "needs AppArmor: conformance/vm/apparmor/run.sh"]
fn apparmor_profile_in_a_user_namespace() {
    // Root of a user namespace: the private procfs hull writes through must work there too (or
    // its fallback to the container's verified /proc).
    let profile = Profile::load();
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.add_user_namespace();
    b.config["process"]["apparmorProfile"] = json!(profile.name);
    let (code, out, err) = run_container(
        &rt,
        &mut b,
        &[
            "sh",
            "-c",
            "cat /proc/self/attr/current; cat /proc/self/uid_map",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(attr_current(&out), profile.current(), "{out}");
    assert!(out.contains("100000"), "in the user namespace: {out}");
}

#[test]
#[ignore = "needs AppArmor: conformance/vm/apparmor/run.sh"]
fn apparmor_profile_cannot_be_dodged_by_a_mount_over_proc_attr() {
    // Mounts over the init's attr files (the init is pid 1 of its pid namespace) would swallow
    // a profile written through the container's /proc, leaving the program unconfined
    // (CVE-2019-16884). runc refuses mounts inside /proc; hull writes through a procfs of its
    // own. Either way the program must never run unconfined.
    let profile = Profile::load();
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    // /proc/self/attr (what a naive runtime writes) and /proc/thread-self/attr (runc, hull)
    let covered = [
        "/proc/1/attr/apparmor/exec",
        "/proc/1/attr/exec",
        "/proc/1/task/1/attr/apparmor/exec",
        "/proc/1/task/1/attr/exec",
    ];
    for dest in covered {
        b.config["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": dest, "type": "bind", "source": "/dev/null", "options": ["bind"]}),
        );
    }
    b.config["process"]["apparmorProfile"] = json!(profile.name);
    let script = "cat /proc/self/attr/current; grep -c ' /proc/1/.*attr/' /proc/self/mountinfo";
    let (code, out, err) = run_container(&rt, &mut b, &["sh", "-c", script]);
    if code == 0 {
        assert_eq!(attr_current(&out), profile.current(), "{out}");
        assert_eq!(out.lines().nth(1), Some("4"), "attr files covered: {out}");
        eprintln!("confined despite the mounts");
    } else {
        eprintln!("refused: {err}");
        assert!(err.contains("/proc"), "refused, naming /proc: {err}");
    }
}
