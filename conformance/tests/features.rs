//! Every setup feature of config.json checked from INSIDE the container:
//! namespaces, hostname/domainname, sysctl, mounts, masked/readonly paths,
//! devices, process attributes (args, env, cwd, user, umask, rlimits,
//! capabilities, no_new_privs, oom_score_adj, HOME), seccomp, and `exec`.
//!
//! Mostly foreground `run` of busybox commands that print what they see,
//! compared with the config.

use hull_conformance::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// local helpers
// ---------------------------------------------------------------------------

/// `run` `sh -c script` in a fresh container of `b`.
fn sh(rt: &Runtime, b: &mut Bundle, script: &str) -> (i32, String, String) {
    run_container(rt, b, &["sh", "-c", script])
}

/// Like [`sh`] but asserts exit 0 and returns stdout.
#[track_caller]
fn sh_ok(rt: &Runtime, b: &mut Bundle, script: &str) -> String {
    let (code, out, err) = sh(rt, b, script);
    assert_eq!(
        code, 0,
        "script {script:?} failed: code={code} stdout={out:?} stderr={err:?}"
    );
    out
}

fn add_mount(b: &mut Bundle, m: Value) {
    b.config["mounts"]
        .as_array_mut()
        .expect("mounts array")
        .push(m);
}

fn remove_mount(b: &mut Bundle, dest: &str) {
    b.config["mounts"]
        .as_array_mut()
        .expect("mounts array")
        .retain(|m| m["destination"] != dest);
}

/// Adds a new user namespace mapping container 0..65536 to host 100000.. (uid and gid), and
/// drops the /sys/fs/cgroup mount (cgroup v1 cannot be mounted from a user namespace).
fn add_user_namespace(b: &mut Bundle) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces array")
        .push(json!({ "type": "user" }));
    b.config["linux"]["uidMappings"] =
        json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.config["linux"]["gidMappings"] =
        json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    remove_mount(b, "/sys/fs/cgroup");
}

fn set_namespaces(b: &mut Bundle, ns: Value) {
    b.config["linux"]["namespaces"] = ns;
}

/// `readlink /proc/self/ns/<kind>` of the test process, e.g. `net:[4026531840]`.
fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/self/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

fn pid_ns(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Lines `key value` printed by the container -> map.
fn kv_lines(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// The mountinfo line (last one wins, as the visible mount) whose mount point is `dest`.
fn mountinfo_line(mountinfo: &str, dest: &str) -> Option<String> {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(dest))
        .map(str::to_string)
}

/// (mount options, optional fields, fstype, super options) of a mountinfo line.
fn mountinfo_fields(line: &str) -> (String, Vec<String>, String, String) {
    let (left, right) = line
        .split_once(" - ")
        .unwrap_or_else(|| panic!("bad mountinfo line {line:?}"));
    let lf: Vec<&str> = left.split(' ').collect();
    let rf: Vec<&str> = right.split(' ').collect();
    (
        lf[5].to_string(),
        lf[6..].iter().map(|s| s.to_string()).collect(),
        rf[0].to_string(),
        rf.get(2).unwrap_or(&"").to_string(),
    )
}

const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0u64, |m, n| {
        let n = n.trim_start_matches("CAP_");
        let bit = CAP_NAMES
            .iter()
            .position(|c| *c == n)
            .unwrap_or_else(|| panic!("unknown cap {n}"));
        m | (1u64 << bit)
    })
}

fn cap_list(names: &[&str]) -> Value {
    json!(names.iter().map(|n| format!("CAP_{n}")).collect::<Vec<_>>())
}

/// Field `key:` of a /proc/<pid>/status text.
fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|r| r.trim().to_string())
    })
}

fn status_hex(status: &str, key: &str) -> u64 {
    let v = status_field(status, key).unwrap_or_else(|| panic!("{key} missing in {status}"));
    u64::from_str_radix(&v, 16).unwrap_or_else(|_| panic!("{key} not hex: {v}"))
}

/// A bundle with an idle init, created and started, with a test cgroups path.
fn idle_bundle(id: &str) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_args(&["sleep", "1000"]);
    b.save();
    b
}

// ---------------------------------------------------------------------------
// namespaces
// ---------------------------------------------------------------------------

const NS_KINDS: &[&str] = &["pid", "net", "ipc", "uts", "mnt", "cgroup"];

fn ns_script() -> String {
    NS_KINDS
        .iter()
        .map(|k| format!("echo {k} $(readlink /proc/self/ns/{k});"))
        .collect::<String>()
        + "echo selfpid $$"
}

#[test]
fn namespaces_all_new() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    set_namespaces(
        &mut b,
        json!([{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
               { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }]),
    );
    let out = sh_ok(&rt, &mut b, &ns_script());
    let m = kv_lines(&out);
    for k in NS_KINDS {
        let inside = m.get(*k).unwrap_or_else(|| panic!("no {k} in {out:?}"));
        assert!(
            inside.starts_with(&format!("{k}:[")),
            "bad ns link {inside}"
        );
        assert_ne!(inside, &host_ns(k), "{k} namespace not new: {out}");
    }
    assert_eq!(m["selfpid"], "1", "shell is not pid 1 in a new pid ns");
}

#[test]
fn namespaces_not_requested_are_shared_with_host() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    // only pid + mount: net, ipc, uts and cgroup stay the host's
    set_namespaces(&mut b, json!([{ "type": "pid" }, { "type": "mount" }]));
    b.config.as_object_mut().unwrap().remove("hostname");
    let out = sh_ok(&rt, &mut b, &ns_script());
    let m = kv_lines(&out);
    for k in ["net", "ipc", "uts", "cgroup"] {
        assert_eq!(m[k], host_ns(k), "{k} should be the host's: {out}");
    }
    for k in ["pid", "mnt"] {
        assert_ne!(m[k], host_ns(k), "{k} should be new: {out}");
    }
}

#[test]
fn namespaces_joined_by_path() {
    let rt = Runtime::new();
    let id_a = unique_id("nsa");
    let mut ba = idle_bundle(&id_a);
    ba.config["hostname"] = json!("hull-joined-uts");
    ba.save();
    let a = Container::with_id(&rt, &ba, &id_a);
    a.create().start();
    let pid_a = a.pid();

    let mut bb = Bundle::busybox();
    bb.config.as_object_mut().unwrap().remove("hostname");
    set_namespaces(
        &mut bb,
        json!([
            { "type": "pid" },
            { "type": "mount" },
            { "type": "network", "path": format!("/proc/{pid_a}/ns/net") },
            { "type": "ipc", "path": format!("/proc/{pid_a}/ns/ipc") },
            { "type": "uts", "path": format!("/proc/{pid_a}/ns/uts") }
        ]),
    );
    let out = sh_ok(&rt, &mut bb, &(ns_script() + "; echo hostname $(hostname)"));
    let m = kv_lines(&out);
    for k in ["net", "ipc", "uts"] {
        assert_eq!(m[k], pid_ns(pid_a, k), "{k} not joined: {out}");
        assert_ne!(m[k], host_ns(k));
    }
    // pid and mount are new, not A's
    assert_ne!(m["pid"], pid_ns(pid_a, "pid"));
    assert_ne!(m["mnt"], pid_ns(pid_a, "mnt"));
    assert_eq!(m["hostname"], "hull-joined-uts", "uts of A not visible");
}

#[test]
fn user_namespace_with_mappings() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_user_namespace(&mut b);
    // a host dir owned by the mapped root, bind-mounted rw
    let data = b.dir.join("data");
    fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(100000), Some(100000)).unwrap();
    // mount points exist already (the rootfs is owned by the unmapped host root)
    fs::create_dir_all(b.rootfs().join("data")).unwrap();
    fs::create_dir_all(b.rootfs().join("scratch")).unwrap();
    add_mount(
        &mut b,
        json!({ "destination": "/data", "type": "bind", "source": data, "options": ["rbind", "rw"] }),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"] }),
    );
    let out = sh_ok(
        &rt,
        &mut b,
        "echo uidmap $(cat /proc/self/uid_map); echo gidmap $(cat /proc/self/gid_map); \
         echo uid $(id -u); echo gid $(id -g); \
         touch /data/made && echo datafile $(stat -c %u:%g /data/made); \
         touch /scratch/t && echo tmpfsfile $(stat -c %u:%g /scratch/t); \
         echo rootowner $(stat -c %u /bin/busybox); echo userns $(readlink /proc/self/ns/user)",
    );
    let m = kv_lines(&out);
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(norm(&m["uidmap"]), "0 100000 65536", "{out}");
    assert_eq!(norm(&m["gidmap"]), "0 100000 65536", "{out}");
    assert_eq!(m["uid"], "0");
    assert_eq!(m["gid"], "0");
    assert_eq!(m["datafile"], "0:0", "{out}");
    assert_eq!(m["tmpfsfile"], "0:0", "{out}");
    // host root is not mapped: shows as the overflow uid
    assert_eq!(m["rootowner"], "65534", "{out}");
    assert_ne!(m["userns"], host_ns("user"));
    let md = fs::metadata(data.join("made")).expect("file created through the bind mount");
    assert_eq!(
        (md.uid(), md.gid()),
        (100000, 100000),
        "host owner of a file created by container root"
    );
}

// ---------------------------------------------------------------------------
// hostname, domainname, sysctl
// ---------------------------------------------------------------------------

#[test]
fn hostname_and_domainname() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["hostname"] = json!("hull-test-host");
    b.config["domainname"] = json!("hull.example");
    let host_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = sh_ok(
        &rt,
        &mut b,
        "echo hostname $(hostname); echo domain $(cat /proc/sys/kernel/domainname)",
    );
    let m = kv_lines(&out);
    assert_eq!(m["hostname"], "hull-test-host");
    if !is_runc() {
        // runc 1.1 ignores "domainname" (added in runc 1.2)
        assert_eq!(m["domain"], "hull.example");
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before,
        "host hostname changed"
    );
}

#[test]
fn sysctl_namespaced_values_applied() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "kernel.shmmax": "12345678",
    });
    let fwd_before = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let shm_before = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let out = sh_ok(
        &rt,
        &mut b,
        "echo fwd $(cat /proc/sys/net/ipv4/ip_forward); echo shmmax $(cat /proc/sys/kernel/shmmax)",
    );
    let m = kv_lines(&out);
    assert_eq!(m["fwd"], "1");
    assert_eq!(m["shmmax"], "12345678");
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        fwd_before
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        shm_before
    );
}

#[test]
fn sysctl_not_namespaced_is_refused() {
    let rt = Runtime::new();
    let id = unique_id("sysctl");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.config["linux"]["sysctl"] = json!({ "kernel.pid_max": "40000" });
    b.save();
    let before = fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    assert_fail1(&o, "create with non-namespaced sysctl kernel.pid_max");
    assert_no_state(&rt, &id);
    assert!(
        poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()),
        "cgroup left: {:?}",
        cgroup_leftovers(&test_cgroups_path(&id))
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/pid_max").unwrap(),
        before,
        "host kernel.pid_max changed"
    );
    // a net.* sysctl without a network namespace is refused as well
    let id2 = unique_id("sysctl2");
    let mut b2 = Bundle::busybox();
    set_namespaces(&mut b2, json!([{ "type": "pid" }, { "type": "mount" }]));
    b2.config.as_object_mut().unwrap().remove("hostname");
    b2.config["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
    b2.save();
    let c2 = Container::with_id(&rt, &b2, &id2);
    let o = c2.try_create();
    assert_fail1(&o, "net.* sysctl without a network namespace");
    assert_no_state(&rt, &id2);
}

// ---------------------------------------------------------------------------
// mounts
// ---------------------------------------------------------------------------

#[test]
fn bind_mounts_ro_rw_files_and_dirs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let rw = b.dir.join("rwdir");
    let ro = b.dir.join("rodir");
    fs::create_dir(&rw).unwrap();
    fs::create_dir(&ro).unwrap();
    fs::write(ro.join("b"), "in-ro-dir\n").unwrap();
    let rofile = b.dir.join("rofile");
    let rwfile = b.dir.join("rwfile");
    fs::write(&rofile, "ro-file\n").unwrap();
    fs::write(&rwfile, "rw-file\n").unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/rw", "type": "bind", "source": rw, "options": ["bind"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/mnt/ro", "type": "bind", "source": ro, "options": ["bind", "ro"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/mnt/rofile", "type": "bind", "source": rofile, "options": ["bind", "ro"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/etc/rwfile", "type": "bind", "source": rwfile, "options": ["rbind", "rw"]}),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "cat /mnt/ro/b /mnt/rofile; \
         touch /mnt/ro/new 2>&1 && echo RO-DIR-WRITABLE; \
         (echo x >> /mnt/rofile) 2>&1 && echo RO-FILE-WRITABLE; \
         echo hello > /mnt/rw/new && echo appended >> /etc/rwfile && \
         test -f /mnt/rofile && test -d /mnt/ro && echo done",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert!(out.contains("in-ro-dir\nro-file\n"), "{out}");
    assert!(!out.contains("WRITABLE"), "read-only bind writable: {out}");
    assert!(
        out.matches("Read-only file system").count() >= 2,
        "expected EROFS twice: {out}"
    );
    assert!(out.contains("done"), "{out} {err}");
    assert_eq!(fs::read_to_string(rw.join("new")).unwrap(), "hello\n");
    assert_eq!(fs::read_to_string(&rwfile).unwrap(), "rw-file\nappended\n");
    assert!(!ro.join("new").exists());
    assert_eq!(fs::read_to_string(&rofile).unwrap(), "ro-file\n");
}

/// Mount a tmpfs on the host at `dir` (removed by the Bundle's Drop).
fn host_tmpfs(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let src = std::ffi::CString::new("tmpfs").unwrap();
    let tgt = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(
        r,
        0,
        "mount tmpfs on {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
}

#[test]
fn rbind_bind_and_recursive_readonly() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = b.dir.join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("top"), "top\n").unwrap();
    host_tmpfs(&src.join("sub"));
    fs::write(src.join("sub/inner"), "inner\n").unwrap();
    for (dest, opts) in [
        ("/mnt/bind", json!(["bind"])),
        ("/mnt/rbind", json!(["rbind"])),
        ("/mnt/rro", json!(["rbind", "rro"])),
    ] {
        add_mount(
            &mut b,
            json!({"destination": dest, "type": "bind", "source": src, "options": opts}),
        );
    }
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo bind-sub [$(ls /mnt/bind/sub)]; echo rbind-sub [$(cat /mnt/rbind/sub/inner)]; \
         echo rro-sub [$(cat /mnt/rro/sub/inner)]; \
         touch /mnt/rro/sub/x 2>&1 && echo RRO-SUB-WRITABLE; \
         touch /mnt/rro/x 2>&1 && echo RRO-TOP-WRITABLE; \
         touch /mnt/rbind/sub/fromrbind && echo rbind-writable",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(
        m["bind-sub"], "[]",
        "plain bind must not carry submounts: {out}"
    );
    assert_eq!(m["rbind-sub"], "[inner]", "{out}");
    assert_eq!(m["rro-sub"], "[inner]", "{out}");
    assert!(
        !out.contains("WRITABLE"),
        "rro left something writable: {out}"
    );
    assert!(out.matches("Read-only file system").count() >= 2, "{out}");
    assert!(out.contains("rbind-writable"), "{out}");
    assert!(src.join("sub/fromrbind").exists());
    assert!(!src.join("sub/x").exists() && !src.join("x").exists());
}

#[test]
fn tmpfs_size_and_mode_options() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=0710"]}),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo mode $(stat -c %a /mnt/t); echo fstype $(stat -f -c %T /mnt/t); \
         dd if=/dev/zero of=/mnt/t/big bs=1024 count=2048 2>&1; echo size $(du -k /mnt/t/big | cut -f1); \
         cat /proc/self/mountinfo",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(m["mode"], "710", "{out}");
    assert_eq!(m["fstype"], "tmpfs", "{out}");
    assert!(
        out.contains("No space left on device"),
        "size=1m not enforced: {out}"
    );
    let size: u64 = m["size"].parse().unwrap();
    assert!(size <= 1024, "wrote {size}k into a 1m tmpfs");
    let line = mountinfo_line(&out, "/mnt/t").expect("/mnt/t in mountinfo");
    let (opts, _, fstype, sopts) = mountinfo_fields(&line);
    assert_eq!(fstype, "tmpfs");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|x| x == o), "{o} missing: {line}");
    }
    assert!(sopts.contains("size=1024k"), "{line}");
    assert!(sopts.contains("mode=710"), "{line}");
}

#[test]
fn mount_propagation_options() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = b.dir.join("psrc");
    fs::create_dir(&src).unwrap();
    for (dest, prop) in [
        ("/mnt/shared", "rshared"),
        ("/mnt/private", "rprivate"),
        ("/mnt/unbindable", "runbindable"),
    ] {
        add_mount(
            &mut b,
            json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", prop]}),
        );
    }
    let out = sh_ok(&rt, &mut b, "cat /proc/self/mountinfo");
    let opt = |dest: &str| {
        let line =
            mountinfo_line(&out, dest).unwrap_or_else(|| panic!("{dest} not mounted: {out}"));
        mountinfo_fields(&line).1.join(" ")
    };
    let shared = opt("/mnt/shared");
    assert!(
        shared.contains("shared:"),
        "rshared mount not shared: {shared:?}"
    );
    let private = opt("/mnt/private");
    assert!(
        !private.contains("shared:") && !private.contains("master:"),
        "rprivate mount has propagation: {private:?}"
    );
    let unb = opt("/mnt/unbindable");
    assert!(
        unb.contains("unbindable"),
        "runbindable not applied: {unb:?}"
    );
}

#[test]
fn tmpcopyup_copies_image_contents() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let etc = b.rootfs().join("etc");
    fs::create_dir_all(etc.join("sub")).unwrap();
    fs::write(etc.join("sub/deep"), "deep-content\n").unwrap();
    std::os::unix::fs::symlink("passwd", etc.join("pwlink")).unwrap();
    fs::set_permissions(etc.join("sub"), fs::Permissions::from_mode(0o750)).unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
               "options": ["tmpcopyup", "mode=755"]}),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo fstype $(stat -f -c %T /etc); echo deep $(cat /etc/sub/deep); \
         echo link $(readlink /etc/pwlink); echo submode $(stat -c %a /etc/sub); \
         grep -q '^user:x:1000' /etc/passwd && echo passwd-ok; \
         echo new > /etc/created && echo write-ok",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(m["fstype"], "tmpfs", "{out}");
    assert_eq!(m["deep"], "deep-content", "{out}");
    assert_eq!(m["link"], "passwd", "{out}");
    assert_eq!(m["submode"], "750", "{out}");
    assert!(
        out.contains("passwd-ok") && out.contains("write-ok"),
        "{out}"
    );
    assert!(
        !etc.join("created").exists(),
        "write to the tmpfs reached the image"
    );
}

#[test]
fn readonly_root() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_readonly(true);
    let (code, out, _) = sh(&rt, &mut b, "touch /rofs-test 2>&1; echo rc=$?");
    assert_eq!(code, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(!b.rootfs().join("rofs-test").exists());
    // writable root
    b.set_readonly(false);
    let out = sh_ok(&rt, &mut b, "touch /rwfs-test && echo ok");
    assert!(out.contains("ok"));
    assert!(b.rootfs().join("rwfs-test").exists());
}

// ---------------------------------------------------------------------------
// masked and read-only paths
// ---------------------------------------------------------------------------

#[test]
fn masked_paths_files_and_dirs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    fs::create_dir_all(b.rootfs().join("etc/maskdir")).unwrap();
    fs::write(b.rootfs().join("etc/maskdir/secret"), "secret\n").unwrap();
    fs::write(b.rootfs().join("etc/maskfile"), "file-secret\n").unwrap();
    b.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!("/etc/maskdir"),
            json!("/etc/maskfile"),
            json!("/does/not/exist"),
        ]);
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo file [$(cat /etc/maskfile)]; echo dir [$(ls -A /etc/maskdir)]; \
         echo keys [$(cat /proc/keys)]; echo keyslen $(wc -c < /proc/keys); \
         touch /etc/maskdir/x 2>&1 && echo MASKDIR-WRITABLE; echo end",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(m["file"], "[]", "{out}");
    assert_eq!(m["dir"], "[]", "{out}");
    assert_eq!(m["keyslen"], "0", "{out}");
    assert_eq!(m["keys"], "[]", "{out}");
    assert!(!out.contains("MASKDIR-WRITABLE"), "{out}");
    assert!(out.contains("end"));
}

#[test]
fn readonly_paths() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let rw = b.dir.join("rw");
    fs::create_dir(&rw).unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/rw", "type": "bind", "source": rw, "options": ["rbind", "rw"]}),
    );
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/mnt/rw"));
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "(echo 1 > /proc/sys/kernel/domainname) 2>&1 && echo PROCSYS-WRITABLE; \
         touch /mnt/rw/x 2>&1 && echo RW-WRITABLE; \
         echo sys $(cat /proc/sys/kernel/ostype); cat /proc/self/mountinfo",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert!(!out.contains("WRITABLE"), "{out}");
    assert!(
        out.matches("Read-only file system").count() >= 2,
        "EROFS expected: {out}"
    );
    assert!(
        out.contains("sys Linux"),
        "readonly path not readable: {out}"
    );
    assert!(!rw.join("x").exists());
}

// ---------------------------------------------------------------------------
// devices
// ---------------------------------------------------------------------------

#[test]
fn default_devices() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let out = sh_ok(
        &rt,
        &mut b,
        "for d in null zero full random urandom tty; do \
           echo $d $(stat -c '%F %t:%T %a' /dev/$d); done; \
         echo pts $(stat -f -c %T /dev/pts); echo shm $(stat -f -c %T /dev/shm); \
         echo mqueue $(grep ' /dev/mqueue ' /proc/self/mountinfo | sed 's/.* - //' | cut -d' ' -f1); \
         echo ptmx $(readlink /dev/ptmx); echo fd $(readlink /dev/fd); \
         echo stdin $(readlink /dev/stdin); echo stdout $(readlink /dev/stdout); \
         echo stderr $(readlink /dev/stderr); \
         echo zeros $(head -c 4 /dev/zero | wc -c); echo x > /dev/null && echo null-ok; \
         echo rnd $(head -c 8 /dev/urandom | wc -c)",
    );
    let m = kv_lines(&out);
    for (d, mm) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        assert_eq!(
            m.get(d).map(String::as_str),
            Some(format!("character special file {mm} 666").as_str()),
            "/dev/{d}: {out}"
        );
    }
    assert_eq!(m["pts"], "devpts");
    assert_eq!(m["shm"], "tmpfs");
    assert_eq!(m["mqueue"], "mqueue");
    assert_eq!(m["ptmx"], "pts/ptmx");
    assert_eq!(m["fd"], "/proc/self/fd");
    assert_eq!(m["stdin"], "/proc/self/fd/0");
    assert_eq!(m["stdout"], "/proc/self/fd/1");
    assert_eq!(m["stderr"], "/proc/self/fd/2");
    assert_eq!(m["zeros"], "4");
    assert_eq!(m["rnd"], "8");
    assert!(out.contains("null-ok"));
}

#[test]
fn linux_devices_created_with_mode_and_owner() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["devices"] = json!([
        { "path": "/dev/hulltest", "type": "c", "major": 1, "minor": 3,
          "fileMode": 0o660, "uid": 1000, "gid": 2000 },
        { "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666,
          "uid": 0, "gid": 0 }
    ]);
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    let out = sh_ok(
        &rt,
        &mut b,
        "echo hulltest $(stat -c '%F %t:%T %a %u:%g' /dev/hulltest); \
         echo fuse $(stat -c '%F %t:%T %a %u:%g' /dev/fuse); \
         echo data > /dev/hulltest && echo write-ok",
    );
    let m = kv_lines(&out);
    assert_eq!(
        m["hulltest"], "character special file 1:3 660 1000:2000",
        "{out}"
    );
    assert_eq!(m["fuse"], "character special file a:e5 666 0:0", "{out}");
    assert!(out.contains("write-ok"), "listed device not usable: {out}");
}

// ---------------------------------------------------------------------------
// process
// ---------------------------------------------------------------------------

#[test]
fn process_args_are_passed_verbatim() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, out, err) = run_container(
        &rt,
        &mut b,
        &[
            "sh",
            "-c",
            "for a in \"$0\" \"$@\"; do echo \"[$a]\"; done",
            "zero",
            "a b",
            "",
            "*",
            "'q'",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "[zero]\n[a b]\n[]\n[*]\n['q']\n");
}

#[test]
fn process_env_exact_and_home_default() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.add_env("FOO=bar baz");
    b.add_env("EMPTY=");
    let (code, out, err) = run_container(&rt, &mut b, &["env"]);
    assert_eq!(code, 0, "{err}");
    let got: BTreeSet<&str> = out.lines().collect();
    let want: BTreeSet<&str> = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
        "FOO=bar baz",
        "EMPTY=",
        "HOME=/root",
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "environment of the container process");

    // HOME from /etc/passwd for uid 1000; an explicit HOME wins; unknown uid -> "/"
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    let (_, out, _) = run_container(&rt, &mut b, &["env"]);
    assert!(out.lines().any(|l| l == "HOME=/home/user"), "{out}");
    b.add_env("HOME=/custom");
    let (_, out, _) = run_container(&rt, &mut b, &["env"]);
    let homes: Vec<&str> = out.lines().filter(|l| l.starts_with("HOME=")).collect();
    assert_eq!(homes, vec!["HOME=/custom"], "{out}");
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e != "HOME=/custom");
    b.config["process"]["user"] = json!({ "uid": 4242, "gid": 4242 });
    let (_, out, _) = run_container(&rt, &mut b, &["env"]);
    assert!(out.lines().any(|l| l == "HOME=/"), "{out}");
}

#[test]
fn process_cwd() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["cwd"] = json!("/home/user");
    let out = sh_ok(&rt, &mut b, "pwd; echo $PWD");
    assert_eq!(out.lines().next(), Some("/home/user"), "{out}");
}

#[test]
fn process_user_and_additional_gids() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000, "additionalGids": [5, 2000] });
    let out = sh_ok(
        &rt,
        &mut b,
        "echo uid $(id -u); echo gid $(id -g); echo name $(id -un); grep -E '^(Uid|Gid|Groups):' /proc/self/status",
    );
    let m = kv_lines(&out);
    assert_eq!(m["uid"], "1000");
    assert_eq!(m["gid"], "1000");
    assert_eq!(m["name"], "user");
    let uid_line = status_field(&out, "Uid").unwrap();
    assert!(
        uid_line.split_whitespace().all(|u| u == "1000"),
        "real/effective/saved/fs uid: {uid_line}"
    );
    let gid_line = status_field(&out, "Gid").unwrap();
    assert!(
        gid_line.split_whitespace().all(|g| g == "1000"),
        "gids: {gid_line}"
    );
    let groups: BTreeSet<String> = status_field(&out, "Groups")
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = ["5", "2000"].iter().map(|s| s.to_string()).collect();
    assert_eq!(groups, want, "{out}");
}

#[test]
fn process_umask() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let out = sh_ok(&rt, &mut b, "umask");
    assert_eq!(out.trim(), "0022", "default umask");
    b.config["process"]["user"]["umask"] = json!(0o077);
    b.set_readonly(false);
    let out = sh_ok(&rt, &mut b, "umask; touch /tmp/f; stat -c %a /tmp/f");
    assert_eq!(out, "0077\n600\n");
}

fn own_rlimit(res: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit into a local.
    assert_eq!(unsafe { libc::getrlimit(res, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

/// (soft, hard) of a row of /proc/self/limits.
fn limits_row(limits: &str, name: &str) -> (String, String) {
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} not in {limits}"));
    let mut f = line[name.len()..].split_whitespace();
    (f.next().unwrap().into(), f.next().unwrap().into())
}

#[test]
fn process_rlimits() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (_, nofile_hard) = own_rlimit(libc::RLIMIT_NOFILE);
    let hard = nofile_hard.min(4096);
    let soft = hard / 2;
    b.config["process"]["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": soft, "hard": hard },
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 1048576 },
        { "type": "RLIMIT_NICE", "soft": 0, "hard": 0 }
    ]);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/limits; echo n $(ulimit -n)");
    assert_eq!(
        limits_row(&out, "Max open files"),
        (soft.to_string(), hard.to_string()),
        "{out}"
    );
    assert_eq!(
        limits_row(&out, "Max core file size"),
        ("0".into(), "1048576".into()),
        "{out}"
    );
    assert_eq!(
        limits_row(&out, "Max nice priority"),
        ("0".into(), "0".into())
    );
    assert!(out.contains(&format!("n {soft}")), "{out}");
}

#[test]
fn rlimit_above_hard_limit_is_refused() {
    // Raising a hard limit above ours fails without CAP_SYS_RESOURCE (the dev host); above
    // fs.nr_open it fails even with it (a VM's root): either way create must fail, cleanly.
    let rt = Runtime::new();
    let id = unique_id("rlim");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    let (_, hard) = own_rlimit(libc::RLIMIT_NOFILE);
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let too_high = hard.max(nr_open) + 1;
    b.config["process"]["rlimits"] =
        json!([{ "type": "RLIMIT_NOFILE", "soft": too_high, "hard": too_high }]);
    b.save();
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    assert_fail1(&o, "rlimit above our hard limit");
    assert_no_state(&rt, &id);
    assert!(poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()));
}

#[test]
fn capabilities_exact_non_root() {
    // For a non-root process the sets after execve are a fixed point when
    // permitted == effective == ambient ⊆ inheritable ⊆ bounding.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let bnd = [
        "CHOWN",
        "DAC_OVERRIDE",
        "KILL",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SYS_ADMIN",
    ];
    let inh = ["KILL", "NET_BIND_SERVICE", "NET_RAW"];
    let amb = ["KILL", "NET_BIND_SERVICE"];
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.config["process"]["capabilities"] = json!({
        "bounding": cap_list(&bnd),
        "inheritable": cap_list(&inh),
        "permitted": cap_list(&amb),
        "effective": cap_list(&amb),
        "ambient": cap_list(&amb),
    });
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_hex(&out, "CapBnd"), cap_mask(&bnd), "CapBnd");
    assert_eq!(status_hex(&out, "CapInh"), cap_mask(&inh), "CapInh");
    assert_eq!(status_hex(&out, "CapPrm"), cap_mask(&amb), "CapPrm");
    assert_eq!(status_hex(&out, "CapEff"), cap_mask(&amb), "CapEff");
    assert_eq!(status_hex(&out, "CapAmb"), cap_mask(&amb), "CapAmb");
}

#[test]
fn capabilities_exact_root() {
    // Root: all five sets as configured when they are equal.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let caps = [
        "CHOWN",
        "FOWNER",
        "SETUID",
        "SETGID",
        "MKNOD",
        "AUDIT_WRITE",
    ];
    b.config["process"]["capabilities"] = json!({
        "bounding": cap_list(&caps),
        "inheritable": cap_list(&caps),
        "permitted": cap_list(&caps),
        "effective": cap_list(&caps),
        "ambient": cap_list(&caps),
    });
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    for k in ["CapBnd", "CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status_hex(&out, k), cap_mask(&caps), "{k}: {out}");
    }
    // Root with no_new_privs and narrower permitted/effective sets than the
    // bounding set: NNP keeps execve from raising permitted above what the
    // runtime set, so the sets stay exactly as configured (effective becomes
    // the whole permitted set for root).
    let bnd = ["CHOWN", "KILL", "SETUID"];
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.config["process"]["capabilities"] = json!({
        "bounding": cap_list(&bnd),
        "permitted": cap_list(&["CHOWN", "KILL"]),
        "effective": cap_list(&["CHOWN", "KILL"]),
    });
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_hex(&out, "CapBnd"), cap_mask(&bnd));
    assert_eq!(status_hex(&out, "CapInh"), 0);
    assert_eq!(status_hex(&out, "CapAmb"), 0);
    assert_eq!(status_hex(&out, "CapPrm"), cap_mask(&["CHOWN", "KILL"]));
    assert_eq!(status_hex(&out, "CapEff"), cap_mask(&["CHOWN", "KILL"]));
    // Without no_new_privs, execve as root gives permitted = effective =
    // bounding | inheritable (the kernel's root rule).
    b.config["process"]["noNewPrivileges"] = json!(false);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_hex(&out, "CapBnd"), cap_mask(&bnd));
    assert_eq!(status_hex(&out, "CapPrm"), cap_mask(&bnd));
    assert_eq!(status_hex(&out, "CapEff"), cap_mask(&bnd));
}

#[test]
fn no_new_privileges() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["noNewPrivileges"] = json!(true);
    let out = sh_ok(&rt, &mut b, "grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs").as_deref(), Some("1"));
    b.config["process"]["noNewPrivileges"] = json!(false);
    let out = sh_ok(&rt, &mut b, "grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs").as_deref(), Some("0"));
}

#[test]
fn oom_score_adj() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["oomScoreAdj"] = json!(123);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/oom_score_adj");
    assert_eq!(out.trim(), "123");
    b.config["process"]["oomScoreAdj"] = json!(1000);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/oom_score_adj");
    assert_eq!(out.trim(), "1000");
}

// ---------------------------------------------------------------------------
// seccomp
// ---------------------------------------------------------------------------

#[test]
fn seccomp_errno_ret() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }
        ]
    });
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?; touch /tmp/y && echo touch-ok",
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(status_field(&out, "Seccomp").as_deref(), Some("2"), "{out}");
    assert!(out.contains("Function not implemented"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("touch-ok"), "{out}");
    assert!(!b.rootfs().join("tmp/x").exists());
    // without seccomp: mode 0
    b.config["linux"].as_object_mut().unwrap().remove("seccomp");
    let out = sh_ok(&rt, &mut b, "grep Seccomp: /proc/self/status");
    assert_eq!(status_field(&out, "Seccomp").as_deref(), Some("0"), "{out}");
}

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
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    let pid = c.pid();
    let o = c.exec(&["sh", "-c", &ns_script()]);
    assert_ok(&o, "exec");
    let out = stdout_str(&o);
    let m = kv_lines(&out);
    for k in NS_KINDS {
        assert_eq!(m[*k], pid_ns(pid, k), "exec'd process not in init's {k} ns");
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
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();

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
    // the container's default caps are still there
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
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
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
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
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
    assert_eq!(pid_ns(pid, "pid"), pid_ns(init, "pid"));
    assert_eq!(pid_ns(pid, "mnt"), pid_ns(init, "mnt"));
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
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    c.wait_status("stopped", T);
    let o = c.exec(&["echo", "SHOULD-NOT-RUN"]);
    // runc exits 255 when exec itself fails ("exec failed: ...")
    assert!(
        matches!(o.status.code(), Some(255)),
        "exec into stopped container: {}",
        describe(&o)
    );
    assert!(!stdout_str(&o).contains("SHOULD-NOT-RUN"));
    assert!(!o.stderr.is_empty(), "no error message");
    let o = rt.run(&["exec", "no-such-container-x", "true"]);
    assert!(
        matches!(o.status.code(), Some(255)),
        "exec into missing container: {}",
        describe(&o)
    );
    assert!(
        stderr_str(&o).contains("container does not exist"),
        "{}",
        describe(&o)
    );
}

#[test]
fn exec_joins_user_namespace() {
    let rt = Runtime::new();
    let id = unique_id("execuserns");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    add_user_namespace(&mut b);
    b.set_args(&["sleep", "1000"]);
    b.save();
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
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
    assert_eq!(m["user"], pid_ns(pid, "user"), "{out}");
    assert_eq!(m["mnt"], pid_ns(pid, "mnt"), "{out}");
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
    add_user_namespace(&mut holder);
    holder.set_args(&["sleep", "1000"]);
    holder.save();
    let c = Container::with_id(&rt, &holder, &id);
    c.create().start();
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
    remove_mount(&mut b, "/sys/fs/cgroup");
    let out = sh_ok(
        &rt,
        &mut b,
        "echo pid $$; echo user $(readlink /proc/self/ns/user); \
         echo pidns $(readlink /proc/self/ns/pid); echo uid $(id -u); \
         echo uidmap $(cat /proc/self/uid_map); echo procs $(ls -d /proc/[0-9]* | wc -l)",
    );
    let m = kv_lines(&out);
    assert_eq!(m["pid"], "1", "not pid 1 of a new pid namespace: {out}");
    assert_eq!(m["user"], pid_ns(holder_pid, "user"), "{out}");
    assert_ne!(m["pidns"], pid_ns(holder_pid, "pid"), "{out}");
    assert_ne!(m["pidns"], host_ns("pid"), "{out}");
    assert_eq!(m["uid"], "0", "{out}");
    assert_eq!(
        m["uidmap"].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    // /proc is the new pid namespace's: only sh and its children
    assert!(m["procs"].parse::<u32>().unwrap() <= 5, "{out}");
}
