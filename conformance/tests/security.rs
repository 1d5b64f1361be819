//! Security properties of the container setup: mount destinations through
//! symlinks stay inside the rootfs, /proc and /sys symlinks are refused,
//! masking needs a real /dev/null, the device cgroup is enforced, the shipped
//! seccomp profile, no leaked file descriptors or host cwd, and the
//! CVE-2019-5736 class (the waiting init's /proc/<pid>/exe is unreachable).

use hull_conformance::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn sh(rt: &Runtime, b: &mut Bundle, script: &str) -> (i32, String, String) {
    run_container(rt, b, &["sh", "-c", script])
}

fn kv_lines(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Removes (unmounts, then deletes) a host path on drop: cleanup for a
/// runtime that would wrongly create something outside the rootfs.
struct HostPathGuard(PathBuf);

impl Drop for HostPathGuard {
    fn drop(&mut self) {
        unmount_all_under(&self.0);
        let _ = fs::remove_dir(&self.0);
        let _ = fs::remove_file(&self.0);
    }
}

/// True if `p` is a mount point in the test's (host) mount namespace.
fn host_mounted(p: &Path) -> bool {
    !mounts_under(p).is_empty()
}

/// Assert create of `b` fails with exit 1 and leaves nothing behind.
#[track_caller]
fn assert_create_refused(rt: &Runtime, b: &mut Bundle, what: &str) -> String {
    let id = unique_id("refuse");
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.save();
    let c = Container::with_id(rt, b, &id);
    let o = c.try_create();
    assert_fail1(&o, what);
    assert!(!o.stderr.is_empty(), "{what}: no error message");
    assert_no_state(rt, &id);
    assert!(
        poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()),
        "{what}: cgroup left: {:?}",
        cgroup_leftovers(&test_cgroups_path(&id))
    );
    stderr_str(&o)
}

// ---------------------------------------------------------------------------
// mounts and symlinks
// ---------------------------------------------------------------------------

#[test]
fn mount_through_absolute_symlink_stays_in_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let name = unique_id("hull-escape-test");
    let host_target = Path::new("/").join(&name);
    let _g = HostPathGuard(host_target.clone());
    std::os::unix::fs::symlink("/", b.rootfs().join("evil")).unwrap();
    b.add_mount(
        json!({"destination": format!("/evil/{name}"), "type": "tmpfs", "source": "tmpfs",
               "options": ["size=64k"]}),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        &format!("echo fstype $(stat -f -c %T /{name}); grep -c ' /{name} ' /proc/self/mountinfo"),
    );
    // Whatever the outcome, nothing may appear on the host.
    assert!(
        !host_target.exists() && !host_mounted(&host_target),
        "mount escaped the rootfs: {} exists on the host",
        host_target.display()
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(m["fstype"], "tmpfs", "tmpfs not inside the rootfs: {out}");
    // the mount point was created inside the rootfs
    assert!(b.rootfs().join(&name).is_dir());
}

#[test]
fn file_bind_through_dangling_symlink_stays_in_rootfs() {
    // Like runc (securejoin), the destination symlink is resolved inside the
    // rootfs and the missing file is created there.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    // and a file bind through a dangling absolute symlink
    let fname = unique_id("hull-escape-file");
    let host_file = Path::new("/").join(&fname);
    let _g2 = HostPathGuard(host_file.clone());
    std::os::unix::fs::symlink(format!("/{fname}"), b.rootfs().join("evilfile")).unwrap();
    let src = b.dir.join("bindsrc");
    fs::write(&src, "bound-content\n").unwrap();
    b.add_mount(
        json!({"destination": "/evilfile", "type": "bind", "source": src, "options": ["bind"]}),
    );
    let (code, out, err) = sh(&rt, &mut b, &format!("echo file $(cat /{fname})"));
    assert!(
        !host_file.exists(),
        "bind mount escaped the rootfs: {} exists on the host",
        host_file.display()
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert_eq!(kv_lines(&out)["file"], "bound-content", "{out}");
    assert!(b.rootfs().join(&fname).exists());
}

#[test]
fn mount_through_relative_symlink_stays_in_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    let name = unique_id("hull-escape-rel");
    // ../../../../../../../tmp from /up resolves to /tmp inside the rootfs
    std::os::unix::fs::symlink("../../../../../../../../tmp", b.rootfs().join("up")).unwrap();
    let host_target = Path::new("/tmp").join(&name);
    let _g = HostPathGuard(host_target.clone());
    b.add_mount(json!({"destination": format!("/up/{name}"), "type": "tmpfs", "source": "tmpfs"}));
    let (code, out, err) = sh(
        &rt,
        &mut b,
        &format!("echo fstype $(stat -f -c %T /tmp/{name})"),
    );
    assert!(
        !host_target.exists(),
        "mount escaped: {} exists on the host",
        host_target.display()
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert_eq!(kv_lines(&out)["fstype"], "tmpfs", "{out}");
    assert!(b.rootfs().join("tmp").join(&name).is_dir());
}

#[test]
fn proc_symlink_in_rootfs_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    fs::remove_dir(b.rootfs().join("proc")).unwrap();
    fs::create_dir(b.rootfs().join("fakeproc")).unwrap();
    std::os::unix::fs::symlink("/fakeproc", b.rootfs().join("proc")).unwrap();
    assert_create_refused(&rt, &mut b, "create with rootfs/proc a symlink");
    assert!(
        !host_mounted(&b.rootfs().join("fakeproc")),
        "proc mounted through the symlink"
    );
}

/// runc's rule (CVE-2019-16884 class): a config mount inside /proc could swallow writes the
/// runtime or kernel rely on (attr/exec); only the files lxcfs emulates may be covered, and
/// /proc itself only by a procfs. Also through a symlink in the image leading into /proc.
#[test]
fn mounts_inside_proc_are_refused_but_lxcfs_files() {
    let rt = Runtime::new();
    for dest in [
        "/proc/1/attr/exec",
        "/proc/self/attr/exec",
        "/x/../proc/sys/kernel/core_pattern",
    ] {
        let mut b = Bundle::busybox();
        b.add_mount(json!({"destination": dest, "type": "bind", "source": "/dev/null", "options": ["bind"]}),
        );
        let err = assert_create_refused(&rt, &mut b, dest);
        assert!(
            err.contains("cannot be mounted because it is inside /proc"),
            "{dest}: {err}"
        );
    }
    let mut b = Bundle::busybox();
    b.add_mount(
        json!({"destination": "/proc", "type": "bind", "source": "/tmp", "options": ["rbind"]}),
    );
    let err = assert_create_refused(&rt, &mut b, "bind over /proc");
    assert!(
        err.contains("cannot be mounted because it is not of type proc"),
        "{err}"
    );
    // Through a symlink: /pself -> /proc/self, after /proc is mounted.
    let mut b = Bundle::busybox();
    std::os::unix::fs::symlink("/proc/self", b.rootfs().join("pself")).unwrap();
    b.add_mount(json!({"destination": "/pself/attr/exec", "type": "bind", "source": "/dev/null", "options": ["bind"]}),
    );
    let err = assert_create_refused(&rt, &mut b, "bind through a symlink into /proc");
    assert!(err.contains("inside /proc"), "{err}");
    // What lxcfs mounts stays allowed.
    let mut b = Bundle::busybox();
    let fake = b.rootfs().parent().unwrap().join("meminfo");
    fs::write(&fake, "MemTotal: 1 kB\n").unwrap();
    b.add_mount(json!({"destination": "/proc/meminfo", "type": "bind", "source": fake, "options": ["bind", "ro"]}),
    );
    let (code, out, err) = sh(&rt, &mut b, "cat /proc/meminfo");
    assert_eq!((code, out.trim()), (0, "MemTotal: 1 kB"), "{err}");
}

#[test]
fn sys_symlink_in_rootfs_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    fs::remove_dir(b.rootfs().join("sys")).unwrap();
    std::os::unix::fs::symlink("/tmp", b.rootfs().join("sys")).unwrap();
    assert_create_refused(&rt, &mut b, "create with rootfs/sys a symlink");
    assert!(!host_mounted(&b.rootfs().join("tmp")));
}

#[test]
fn masking_with_fake_dev_null_is_refused() {
    // /dev is not mounted and the image's /dev/null is a regular file:
    // bind-mounting it over masked paths would expose its contents.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !m["destination"].as_str().unwrap_or("").starts_with("/dev"));
    let devnull = b.rootfs().join("dev/null");
    fs::write(&devnull, "not-a-device\n").unwrap();
    assert_create_refused(&rt, &mut b, "masking with a regular-file /dev/null");
    assert_eq!(
        fs::read_to_string(&devnull).unwrap(),
        "not-a-device\n",
        "image's /dev/null modified"
    );
}

#[test]
fn old_root_is_not_reachable() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, out, err) = sh(&rt, &mut b, "cat /proc/self/mountinfo; echo ---; ls -a /");
    assert_eq!(code, 0, "{err}");
    let (mi, ls) = out.split_once("---\n").unwrap();
    for l in mi.lines() {
        let mp = l.split(' ').nth(4).unwrap_or("");
        assert!(
            !mp.contains("hull-conf") && !mp.contains("bundle-"),
            "host path visible in the container's mounts: {l}"
        );
    }
    let entries: BTreeSet<&str> = ls.split_whitespace().collect();
    let mut want: BTreeSet<String> = fs::read_dir(b.rootfs())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    want.insert(".".into());
    want.insert("..".into());
    let want: BTreeSet<&str> = want.iter().map(String::as_str).collect();
    assert_eq!(entries, want, "root of the container is not the rootfs");
}

// ---------------------------------------------------------------------------
// device cgroup
// ---------------------------------------------------------------------------

#[test]
fn device_cgroup_denies_unlisted_device() {
    if !Path::new("/sys/fs/cgroup/devices").is_dir() {
        eprintln!("no v1 devices controller: skipped");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let caps = json!([
        "CAP_MKNOD",
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE"
    ]);
    for set in ["bounding", "effective", "permitted", "ambient"] {
        b.config["process"]["capabilities"][set] = caps.clone();
    }
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "mknod /dev/okdev c 1 3 && echo x > /dev/okdev && echo allowed-ok; \
         mknod /dev/fusebad c 10 229 2>&1; (exec 3<>/dev/fusebad) 2>&1 && echo DENIED-DEVICE-OPENED; \
         echo end",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert!(
        out.contains("allowed-ok"),
        "control failed (mknod of c 1:3): {out} {err}"
    );
    assert!(
        !out.contains("DENIED-DEVICE-OPENED"),
        "device cgroup not enforced: {out}"
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("end"));
}

// ---------------------------------------------------------------------------
// seccomp default profile
// ---------------------------------------------------------------------------

/// Compiled in, so the test binary needs no checkout at run time (the v2 VM has none).
const DEFAULT_SECCOMP_PROFILE: &str = include_str!("../../seccomp-profiles/default.json");

fn default_seccomp_profile() -> Value {
    serde_json::from_str(DEFAULT_SECCOMP_PROFILE).expect("default.json is JSON")
}

#[test]
fn seccomp_default_profile_blocks_unshare_and_mount() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    let caps = json!([
        "CAP_SYS_ADMIN",
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE"
    ]);
    for set in [
        "bounding",
        "effective",
        "permitted",
        "ambient",
        "inheritable",
    ] {
        b.config["process"]["capabilities"][set] = caps.clone();
    }
    let script = "echo shell-ok; ls / > /dev/null && echo ls-ok; \
                  (echo a; echo b) | sort -r | head -1; \
                  unshare -m true 2>&1 && echo UNSHARE-OK; \
                  mount -t tmpfs none /tmp 2>&1 && echo MOUNT-OK; \
                  grep Seccomp: /proc/self/status";
    // control: without the profile both succeed (CAP_SYS_ADMIN)
    let (code, out, err) = sh(&rt, &mut b, script);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("UNSHARE-OK") && out.contains("MOUNT-OK"),
        "control run: {out}"
    );
    b.config["linux"]["seccomp"] = default_seccomp_profile();
    let (code, out, err) = sh(&rt, &mut b, script);
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert!(out.contains("shell-ok") && out.contains("ls-ok"), "{out}");
    assert!(
        out.contains("\nb\n"),
        "pipeline broken under the profile: {out}"
    );
    assert!(!out.contains("UNSHARE-OK"), "unshare allowed: {out}");
    assert!(!out.contains("MOUNT-OK"), "mount allowed: {out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
}

// ---------------------------------------------------------------------------
// file descriptors and cwd
// ---------------------------------------------------------------------------

fn fd_set(ls_out: &str) -> BTreeSet<String> {
    ls_out.split_whitespace().map(str::to_string).collect()
}

fn want_fds() -> BTreeSet<String> {
    // 0 1 2 and ls's own directory fd
    ["0", "1", "2", "3"].iter().map(|s| s.to_string()).collect()
}

#[test]
fn no_leaked_fds_in_init_and_exec() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, out, err) = run_container(&rt, &mut b, &["ls", "/proc/self/fd"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        fd_set(&out),
        want_fds(),
        "fds of the container process: {out}"
    );

    let id = unique_id("fds");
    let b = Bundle::sleeping(&id);
    let c = Container::started(&rt, &b, &id);
    let o = c.exec(&["ls", "/proc/self/fd"]);
    assert_ok(&o, "exec ls");
    assert_eq!(
        fd_set(&stdout_str(&o)),
        want_fds(),
        "fds of an exec'd process"
    );
    // and the init (sleep) holds only 0 1 2
    let init_fds: BTreeSet<String> = fs::read_dir(format!("/proc/{}/fd", c.pid()))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = ["0", "1", "2"].iter().map(|s| s.to_string()).collect();
    assert_eq!(init_fds, want, "init holds extra fds");
}

#[test]
fn exec_cwd_through_proc_self_fd_fails() {
    // CVE-2024-21626 class: no runtime fd pointing at a host directory may
    // be usable as the cwd of an exec'd process.
    let rt = Runtime::new();
    let id = unique_id("fdcwd");
    let b = Bundle::sleeping(&id);
    let _c = Container::started(&rt, &b, &id);
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        let o = rt.run(&["exec", "--cwd", &cwd, &id, "sh", "-c", "pwd -P; ls"]);
        assert!(
            !o.status.success(),
            "exec with cwd {cwd} succeeded (leaked directory fd): {}",
            describe(&o)
        );
    }
    // process.cwd in the config likewise
    let mut b2 = Bundle::busybox();
    for n in 3..=8 {
        b2.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let (code, out, _) = run_container(&rt, &mut b2, &["sh", "-c", "pwd -P; echo RAN"]);
        assert!(
            code != 0 && !out.contains("RAN"),
            "run with cwd /proc/self/fd/{n} ran: {out}"
        );
    }
}

// ---------------------------------------------------------------------------
// CVE-2019-5736 class
// ---------------------------------------------------------------------------

#[test]
fn waiting_init_exe_is_not_reachable_from_exec() {
    let rt = Runtime::new();
    let id = unique_id("cve5736");
    let b = Bundle::sleeping(&id);
    let bin = hull_bin();
    let before = fs::read(&bin).expect("read runtime binary");
    let c = Container::with_id(&rt, &b, &id);
    c.create();
    assert_eq!(c.state()["status"], "created");
    let o = c.exec(&[
        "sh",
        "-c",
        "cat /proc/1/exe > /dev/null 2>&1 && echo EXE-READABLE; \
         (echo pwned >> /proc/1/exe) 2>/dev/null && echo EXE-WRITABLE; \
         (exec 3</proc/1/exe) 2>/dev/null && echo EXE-OPENABLE; \
         cat /proc/1/environ > /dev/null 2>&1 && echo ENVIRON-READABLE; \
         for f in /proc/1/fd/*; do readlink \"$f\" > /dev/null 2>&1 && echo FD-READLINK; done; \
         echo end",
    ]);
    assert_ok(&o, "exec into created container");
    let out = stdout_str(&o);
    assert!(out.contains("end"), "{}", describe(&o));
    // runc 1.1 re-executes itself from a sealed memfd copy and leaves its
    // waiting init dumpable: there only the write must fail.
    let bad_words: &[&str] = if is_runc() {
        &["EXE-WRITABLE"]
    } else {
        &[
            "EXE-READABLE",
            "EXE-WRITABLE",
            "EXE-OPENABLE",
            "ENVIRON-READABLE",
            "FD-READLINK",
        ]
    };
    for bad in bad_words {
        assert!(!out.contains(bad), "waiting init exposed: {bad}: {out}");
    }
    // cwd and root of the init are the container's root
    let o = rt.run(&[
        "exec",
        "--cap",
        "CAP_SYS_PTRACE",
        &id,
        "sh",
        "-c",
        "echo cwd $(readlink /proc/1/cwd); echo root $(readlink /proc/1/root)",
    ]);
    assert_ok(&o, "exec readlink /proc/1/cwd");
    let m = kv_lines(&stdout_str(&o));
    assert_eq!(
        m.get("cwd").map(String::as_str),
        Some("/"),
        "{}",
        describe(&o)
    );
    assert_eq!(
        m.get("root").map(String::as_str),
        Some("/"),
        "{}",
        describe(&o)
    );
    assert_eq!(
        fs::read(&bin).expect("read runtime binary"),
        before,
        "runtime binary modified"
    );
    // the container still starts normally afterwards
    c.start();
    c.wait_status("running", T);
}
