//! The container's mounts, checked from inside the container (mountinfo, stat, writes) and
//! from the host: rootfs propagation, bind sources opened with the host's credentials,
//! idmapped mounts, tmpfs modes, cwd and device creation, mount order and symlinked targets,
//! --no-pivot, bind flag semantics, masked paths and the mount namespace itself.
//!
//! Each test also passes with runc 1.3.6 (Debian sid root) unless it says otherwise. Split in
//! modules under mounts/ (one per group of behaviours); helpers live here.

use hull_conformance::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

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

/// Runs a host command, asserting success.
#[track_caller]
fn host(cmd: &str, args: &[&str]) {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .expect("run host command");
    assert!(o.status.success(), "{cmd} {args:?}: {}", describe(&o));
}

/// A one-range id mapping, as uidMappings/gidMappings.
fn map(c: u32, h: u32, size: u32) -> Value {
    json!([{ "containerID": c, "hostID": h, "size": size }])
}

#[path = "mounts/flags_masks_ns.rs"]
mod flags_masks_ns;
#[path = "mounts/idmap_tmpfs_devices.rs"]
mod idmap_tmpfs_devices;
#[path = "mounts/order_nopivot.rs"]
mod order_nopivot;
#[path = "mounts/podman_userns.rs"]
mod podman_userns;

// ---------------------------------------------------------------------------
// 1. rootfsPropagation
// ---------------------------------------------------------------------------

/// pivot_root refuses a shared new root: the runtime pivots on a private mount and makes the
/// container's `/` shared afterwards (Kubernetes' rshared volumes need this).
#[test]
fn rootfs_propagation_shared() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["rootfsPropagation"] = json!("shared");
    let out = sh_ok(&rt, &mut b, "cat /proc/self/mountinfo");
    let line = mountinfo_line(&out, "/").expect("a / mount");
    let (_, optional, _, _) = mountinfo_fields(&line);
    assert!(
        optional.iter().any(|f| f.starts_with("shared:")),
        "/ is not shared: {line}"
    );
}

/// Adds a capability to bounding, effective and permitted.
fn add_cap(b: &mut Bundle, cap: &str) {
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set")
            .push(json!(cap));
    }
}

/// The bundle lives on a shared mount (as on systemd hosts): the container starts with every
/// propagation; the rootfs's parent mount is made private before the pivot, so only the
/// shared variants leave the container's `/` in a peer group (its own), and `slave`/`rslave`
/// show as private (runc 1.3 behaves the same: it makes the parent private unconditionally).
#[test]
fn rootfs_propagation_with_a_shared_parent() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    host("mount", &["--bind", b.dir_str(), b.dir_str()]);
    host("mount", &["--make-private", b.dir_str()]);
    host("mount", &["--make-shared", b.dir_str()]);
    for (prop, shared) in [
        ("private", false),
        ("rprivate", false),
        ("slave", false),
        ("rslave", false),
        ("shared", true),
        ("rshared", true),
    ] {
        b.config["linux"]["rootfsPropagation"] = json!(prop);
        let out = sh_ok(&rt, &mut b, "cat /proc/self/mountinfo");
        let line = mountinfo_line(&out, "/").expect("a / mount");
        let (_, optional, _, _) = mountinfo_fields(&line);
        let is_shared = optional.iter().any(|f| f.starts_with("shared:"));
        assert_eq!(is_shared, shared, "{prop}: {line}");
        assert!(
            !optional.iter().any(|f| f.starts_with("master:")),
            "{prop}: {line}"
        );
    }
    // Nothing of the container's setup propagated back to the bundle's shared mount.
    assert!(
        mounts_under(&b.rootfs()).is_empty(),
        "{:?}",
        mounts_under(&b.rootfs())
    );
}

/// Kubernetes' Bidirectional volumes: with rootfsPropagation rshared and an `rshared` bind of a
/// shared host directory, a mount made inside the container appears on the host.
#[test]
fn rshared_volume_propagates_to_the_host() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let vol = TempDir::new("vol");
    let v = vol.path().to_str().unwrap();
    host("mount", &["--bind", v, v]);
    host("mount", &["--make-private", v]);
    host("mount", &["--make-shared", v]);
    fs::create_dir(vol.path().join("sub")).unwrap();
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    add_cap(&mut b, "CAP_SYS_ADMIN");
    add_mount(
        &mut b,
        json!({ "destination": "/vol", "type": "bind", "source": v,
                "options": ["rbind", "rshared"] }),
    );
    sh_ok(
        &rt,
        &mut b,
        "mount -t tmpfs -o size=1m,mode=700 made-inside /vol/sub && touch /vol/sub/marker",
    );
    let sub = vol.path().join("sub");
    let seen = mounts_under(&sub);
    assert_eq!(seen, vec![sub.clone()], "mount made inside not on the host");
    assert!(sub.join("marker").exists());
    unmount_all_under(&sub);
}

// ---------------------------------------------------------------------------
// 2. bind sources are opened with the host's credentials
// ---------------------------------------------------------------------------

/// podman --userns=auto: bind sources live under root-owned 0700 directories the container's
/// root cannot traverse. The runtime opens them with the host's credentials; the container
/// sees their content, and holds no host fd afterwards.
#[test]
fn userns_bind_sources_under_a_private_dir() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_user_namespace(&mut b);
    let private = b.dir.join("userdata");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(private.join("hosts"), "10.1.2.3 from-the-host\n").unwrap();
    fs::create_dir(private.join("vol")).unwrap();
    fs::write(private.join("vol/data"), "volume-data\n").unwrap();
    // The rootfs belongs to the unmapped host root: mount points must exist.
    fs::create_dir(b.rootfs().join("vol")).unwrap();
    add_mount(
        &mut b,
        json!({ "destination": "/etc/hosts", "type": "bind",
                "source": private.join("hosts"), "options": ["bind", "ro"] }),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/vol", "type": "bind",
                "source": private.join("vol"), "options": ["rbind"] }),
    );
    let out = sh_ok(
        &rt,
        &mut b,
        "cat /etc/hosts /vol/data; ls /proc/self/fd | wc -l; \
         for f in /proc/self/fd/*; do readlink $f; done; true",
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("10.1.2.3 from-the-host"), "{out}");
    assert_eq!(lines.next(), Some("volume-data"), "{out}");
    // stdin/out/err and the fd of the listing itself: nothing of the runtime's.
    for l in lines.skip(1) {
        assert!(
            !l.contains("userdata") && !l.contains("mnt:"),
            "a host fd is open in the container: {out}"
        );
    }
    let (code, _, err) = sh(&rt, &mut b, "echo x > /etc/hosts");
    assert_ne!(code, 0, "ro bind is writable: {err}");
}

/// A bind source that does not exist: one clear error naming it, nothing left behind.
#[test]
fn userns_missing_bind_source_is_an_error() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_user_namespace(&mut b);
    let missing = b.dir.join("no-such-dir");
    add_mount(
        &mut b,
        json!({ "destination": "/x", "type": "bind", "source": missing, "options": ["rbind"] }),
    );
    let (code, _, err) = sh(&rt, &mut b, "true");
    assert_ne!(code, 0);
    assert!(err.contains("no-such-dir"), "{err}");
    assert!(rt.ids_in_root().is_empty());
}

/// Kubernetes user-namespaced pods: a container joining the pod's user namespace by path
/// opens its bind sources with the host's credentials too.
#[test]
fn joined_userns_bind_source_under_a_private_dir() {
    let rt = Runtime::new();
    let id = unique_id("usernsholder");
    let mut holder = Bundle::busybox();
    holder.set_cgroups_path(&test_cgroups_path(&id));
    add_user_namespace(&mut holder);
    holder.set_args(&["sleep", "1000"]);
    holder.save();
    let c = Container::with_id(&rt, &holder, &id);
    c.create();
    let holder_pid = c.pid();

    let mut b = Bundle::busybox();
    b.config["linux"]["namespaces"] = json!([
        { "type": "user", "path": format!("/proc/{holder_pid}/ns/user") },
        { "type": "pid" },
        { "type": "mount" },
        { "type": "ipc" },
        { "type": "uts" },
        { "type": "network", "path": format!("/proc/{holder_pid}/ns/net") },
    ]);
    remove_mount(&mut b, "/sys/fs/cgroup");
    let private = b.dir.join("userdata");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(private.join("hostname"), "pod-hostname\n").unwrap();
    add_mount(
        &mut b,
        json!({ "destination": "/etc/hostname", "type": "bind",
                "source": private.join("hostname"), "options": ["rbind", "ro"] }),
    );
    let out = sh_ok(&rt, &mut b, "cat /etc/hostname; id -u");
    assert_eq!(out, "pod-hostname\n0\n");
}
