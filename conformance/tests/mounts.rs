//! The container's mounts, checked from inside the container (mountinfo, stat, writes) and
//! from the host: rootfs propagation, bind sources opened with the host's credentials,
//! idmapped mounts, tmpfs modes, cwd and device creation, mount order and symlinked targets,
//! --no-pivot, bind flag semantics, masked paths and the mount namespace itself.
//!
//! Each test also passes with runc 1.3.6 (Debian sid root) unless it says otherwise.

use hull_conformance::*;
use serde_json::{json, Value};
use std::ffi::CString;
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

/// Lines `key value` printed by the container -> map.
fn kv_lines(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

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

// ---------------------------------------------------------------------------
// 3. idmapped mounts
// ---------------------------------------------------------------------------

/// A source directory with files owned by the given ids.
fn owned_files(dir: &Path, files: &[(&str, u32, u32)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, uid, gid) in files {
        let p = dir.join(name);
        fs::write(&p, name).unwrap();
        std::os::unix::fs::chown(&p, Some(*uid), Some(*gid)).unwrap();
    }
}

fn idmapped_bind(src: &Path, dest: &str, options: &[&str], uid: Value, gid: Value) -> Value {
    json!({ "destination": dest, "type": "bind", "source": src, "options": options,
            "uidMappings": uid, "gidMappings": gid })
}

fn map(c: u32, h: u32, size: u32) -> Value {
    json!([{ "containerID": c, "hostID": h, "size": size }])
}

#[test]
fn idmapped_mount_without_userns() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = b.dir.join("src");
    owned_files(&src, &[("root", 0, 0), ("multi", 100, 211)]);
    add_mount(
        &mut b,
        idmapped_bind(
            &src,
            "/m1",
            &["bind"],
            map(0, 100000, 65536),
            map(0, 100000, 65536),
        ),
    );
    // A complicated mapping: several ranges, different for uids and gids.
    add_mount(
        &mut b,
        idmapped_bind(
            &src,
            "/m2",
            &["bind"],
            json!([{ "containerID": 100, "hostID": 1000, "size": 1 },
                   { "containerID": 101, "hostID": 2000, "size": 1 }]),
            json!([{ "containerID": 210, "hostID": 1100, "size": 10 },
                   { "containerID": 220, "hostID": 2200, "size": 10 }]),
        ),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/plain", "type": "bind", "source": src, "options": ["bind"] }),
    );
    let out = sh_ok(
        &rt,
        &mut b,
        "stat -c '%n %u:%g' /m1/root /m2/multi /plain/root /plain/multi; \
         touch /m1/new 2>&1 || echo touch-failed",
    );
    assert!(out.contains("/m1/root 100000:100000"), "{out}");
    assert!(out.contains("/m2/multi 1000:1101"), "{out}");
    assert!(out.contains("/plain/root 0:0"), "{out}");
    assert!(out.contains("/plain/multi 100:211"), "{out}");
    // The container's root (host 0) is not mapped by the mount: creating files fails (EOVERFLOW).
    assert!(out.contains("touch-failed"), "{out}");
}

#[test]
fn idmapped_mount_with_userns() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_user_namespace(&mut b);
    let src = b.dir.join("src");
    owned_files(&src, &[("root", 0, 0), ("one", 1, 1)]);
    fs::create_dir_all(b.rootfs().join("m1")).unwrap();
    fs::create_dir_all(b.rootfs().join("m2")).unwrap();
    fs::create_dir_all(b.rootfs().join("plain")).unwrap();
    add_mount(
        &mut b,
        idmapped_bind(
            &src,
            "/m1",
            &["bind"],
            map(0, 100000, 65536),
            map(0, 100000, 65536),
        ),
    );
    // `idmap` without mappings of its own: the container's are used.
    add_mount(
        &mut b,
        json!({ "destination": "/m2", "type": "bind", "source": src, "options": ["bind", "idmap"] }),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/plain", "type": "bind", "source": src, "options": ["bind"] }),
    );
    let out = sh_ok(
        &rt,
        &mut b,
        "stat -c '%n %u:%g' /m1/root /m1/one /m2/root /plain/root; \
         touch /m1/made && stat -c '%n %u:%g' /m1/made",
    );
    assert!(out.contains("/m1/root 0:0"), "{out}");
    assert!(out.contains("/m1/one 1:1"), "{out}");
    assert!(out.contains("/m2/root 0:0"), "{out}");
    assert!(out.contains("/plain/root 65534:65534"), "{out}");
    assert!(out.contains("/m1/made 0:0"), "{out}");
    // Created by the container's root through the mapping: host root on disk.
    let md = fs::metadata(src.join("made")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));
}

/// `ridmap` maps the submounts of an rbind too; `idmap` only its top mount.
#[test]
fn ridmap_maps_submounts() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = TempDir::new("idmapsrc");
    owned_files(src.path(), &[("top", 0, 0)]);
    let sub = src.path().join("sub");
    fs::create_dir(&sub).unwrap();
    host(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "idmapsub",
            sub.to_str().unwrap(),
        ],
    );
    owned_files(&sub, &[("inner", 0, 0)]);
    let m = map(0, 100000, 65536);
    add_mount(
        &mut b,
        idmapped_bind(src.path(), "/r", &["rbind", "ridmap"], m.clone(), m.clone()),
    );
    add_mount(
        &mut b,
        idmapped_bind(src.path(), "/t", &["rbind", "idmap"], m.clone(), m),
    );
    let out = sh_ok(
        &rt,
        &mut b,
        "stat -c '%n %u' /r/top /r/sub/inner /t/top /t/sub/inner",
    );
    assert!(out.contains("/r/top 100000"), "{out}");
    assert!(out.contains("/r/sub/inner 100000"), "{out}");
    assert!(out.contains("/t/top 100000"), "{out}");
    assert!(out.contains("/t/sub/inner 0"), "{out}");
}

#[test]
fn idmap_on_a_non_bind_mount_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_mount(
        &mut b,
        json!({ "destination": "/t", "type": "tmpfs", "source": "tmpfs",
                "uidMappings": map(0, 100000, 1), "gidMappings": map(0, 100000, 1) }),
    );
    let (code, _, err) = sh(&rt, &mut b, "true");
    assert_ne!(code, 0);
    assert!(!err.is_empty());
    assert!(rt.ids_in_root().is_empty());
}

#[test]
fn features_reports_idmap() {
    let rt = Runtime::new();
    let o = rt.run_ok(&["features"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(true)
    );
    // runc 1.3.6 accepts idmap/ridmap but does not list them among its mountOptions.
    if !is_runc() {
        let opts = v["mountOptions"].as_array().unwrap();
        assert!(opts.contains(&json!("idmap")) && opts.contains(&json!("ridmap")));
    }
}

// ---------------------------------------------------------------------------
// 4. tmpfs modes
// ---------------------------------------------------------------------------

/// A tmpfs over an existing directory: an explicit `mode=` wins; without one the tmpfs takes
/// the covered directory's mode; on a directory the runtime creates, the tmpfs default 1777.
#[test]
fn tmpfs_mode_rules() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    for d in ["explicit", "inherit"] {
        let p = b.rootfs().join(d);
        fs::create_dir(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o710)).unwrap();
    }
    add_mount(
        &mut b,
        json!({ "destination": "/explicit", "type": "tmpfs", "source": "tmpfs",
                "options": ["mode=1500"] }),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/inherit", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid"] }),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/created", "type": "tmpfs", "source": "tmpfs" }),
    );
    let out = sh_ok(&rt, &mut b, "stat -c '%n %a' /explicit /inherit /created");
    assert!(out.contains("/explicit 1500"), "{out}");
    assert!(out.contains("/inherit 710"), "{out}");
    assert!(out.contains("/created 1777"), "{out}");
}

// ---------------------------------------------------------------------------
// 5. cwd and device nodes
// ---------------------------------------------------------------------------

/// A process.cwd missing from the rootfs is created inside it (runc does the same), also
/// through a symlink that points out of the rootfs.
#[test]
fn missing_cwd_is_created_inside_the_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let outside = b.dir.join("outside");
    fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, b.rootfs().join("escape")).unwrap();
    b.config["process"]["cwd"] = json!("/work/dir");
    let out = sh_ok(&rt, &mut b, "pwd; stat -c %a /work/dir");
    assert_eq!(out, "/work/dir\n755\n");
    assert!(b.rootfs().join("work/dir").is_dir());
    // Through a symlink pointing out of the rootfs (dangling inside it): hull resolves it
    // inside the rootfs and creates the directory there; runc 1.3.6 refuses (`mkdir /escape:
    // file exists`). Neither creates anything outside.
    b.config["process"]["cwd"] = json!("/escape/sub");
    let (code, _, err) = sh(&rt, &mut b, "pwd");
    assert!(
        !outside.join("sub").exists(),
        "cwd created outside the rootfs"
    );
    if !is_runc() {
        assert_eq!(code, 0, "{err}");
        assert!(b
            .rootfs()
            .join(outside.strip_prefix("/").unwrap())
            .join("sub")
            .is_dir());
    }
}

/// linux.devices outside /dev are created (runc allows them).
#[test]
fn devices_outside_dev() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["devices"] = json!([
        { "path": "/hulldev/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666 }
    ]);
    b.config["linux"]["resources"]["devices"] = json!([
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" }
    ]);
    let out = sh_ok(
        &rt,
        &mut b,
        "stat -c '%F %t:%T' /hulldev/null2; echo x > /hulldev/null2",
    );
    assert_eq!(out, "character special file 1:3\n");
}

/// In a user namespace mknod is not permitted: the host's node of the device is bound. runc
/// binds the host path of the same name; hull falls back to the host's node of that device
/// number when that path is missing (runc 1.3.6 fails there: `/dev/hull-null` is not on the
/// host), and never binds a missing or different file.
#[test]
fn userns_devices_are_bound_from_the_host() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_user_namespace(&mut b);
    b.config["linux"]["devices"] = json!([
        { "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666 }
    ]);
    let out = sh_ok(&rt, &mut b, "stat -c '%F %t:%T' /dev/fuse /dev/null");
    assert_eq!(
        out,
        "character special file a:e5\ncharacter special file 1:3\n"
    );
    if is_runc() {
        return;
    }
    b.config["linux"]["devices"] = json!([
        { "path": "/dev/hull-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666 }
    ]);
    let out = sh_ok(
        &rt,
        &mut b,
        "stat -c '%F %t:%T' /dev/hull-null; echo x > /dev/hull-null",
    );
    assert_eq!(out, "character special file 1:3\n");
    assert!(!Path::new("/dev/hull-null").exists());
    // A device the host does not have: one clear error.
    b.config["linux"]["devices"] = json!([
        { "path": "/dev/hull-none", "type": "c", "major": 4095, "minor": 4095 }
    ]);
    let (code, _, err) = sh(&rt, &mut b, "true");
    assert_ne!(code, 0);
    assert!(err.contains("/dev/hull-none"), "{err}");
}

// ---------------------------------------------------------------------------
// 6. mount order, symlinked targets, read-only /dev, symlinked /proc
// ---------------------------------------------------------------------------

/// Bind sources are resolved at mount time, in order: a source inside an earlier container
/// mount (here a tmpfs, reached through the rootfs path) sees that mount.
fn mount_order_case(userns: bool, idmap: bool) {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    if userns {
        add_user_namespace(&mut b);
        fs::create_dir_all(b.rootfs().join("tmp/mount-1")).unwrap();
        fs::create_dir_all(b.rootfs().join("tmp/mount-2")).unwrap();
    }
    add_mount(
        &mut b,
        json!({ "destination": "/tmp/mount-1", "type": "tmpfs", "source": "tmpfs",
                "options": ["mode=777"] }),
    );
    let mut second = json!({ "destination": "/tmp/mount-2", "type": "bind",
                             "source": "rootfs/tmp/mount-1", "options": ["rbind"] });
    if idmap {
        second["uidMappings"] = map(0, 100000, 65536);
        second["gidMappings"] = map(0, 100000, 65536);
    }
    add_mount(&mut b, second);
    let out = sh_ok(
        &rt,
        &mut b,
        "touch /tmp/mount-1/seen && ls /tmp/mount-2; \
         grep -c ' /tmp/mount-2 .* - tmpfs ' /proc/self/mountinfo",
    );
    assert_eq!(
        out, "seen\n1\n",
        "second mount does not show the first: {out}"
    );
    assert!(!b.rootfs().join("tmp/mount-1/seen").exists());
}

#[test]
fn mount_order_source_in_an_earlier_mount() {
    mount_order_case(false, false);
}

#[test]
fn mount_order_source_in_an_earlier_mount_userns() {
    mount_order_case(true, false);
}

#[test]
fn mount_order_source_in_an_earlier_mount_userns_idmap() {
    mount_order_case(true, true);
}

/// Bind mount targets through a dangling symlink (as a component, or as the last component)
/// are created inside the rootfs, never on the host.
#[test]
fn bind_targets_through_dangling_symlinks_stay_inside() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = b.dir.join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), "content\n").unwrap();
    // Absolute targets that exist nowhere yet, on the host or in the rootfs.
    let host_dir = b.dir.join("host-target-dir");
    let host_file = b.dir.join("host-target-file");
    std::os::unix::fs::symlink(&host_dir, b.rootfs().join("dangling-dir")).unwrap();
    std::os::unix::fs::symlink(&host_file, b.rootfs().join("dangling-file")).unwrap();
    add_mount(
        &mut b,
        json!({ "destination": "/dangling-dir/sub", "type": "bind", "source": src,
                "options": ["rbind"] }),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/dangling-file", "type": "bind", "source": src.join("f"),
                "options": ["bind"] }),
    );
    let out = sh_ok(&rt, &mut b, "cat /dangling-dir/sub/f /dangling-file");
    assert_eq!(out, "content\ncontent\n");
    assert!(!host_dir.exists(), "target created on the host");
    assert!(!host_file.exists(), "target created on the host");
    let inside = b.rootfs().join(host_dir.strip_prefix("/").unwrap());
    assert!(inside.join("sub").is_dir());
    assert!(b
        .rootfs()
        .join(host_file.strip_prefix("/").unwrap())
        .is_file());
}

/// A read-only /dev: its nodes, symlinks and the mounts below it are still made, then it is
/// read-only.
#[test]
fn readonly_dev_mount() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    let out = sh_ok(
        &rt,
        &mut b,
        "grep ' /dev ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; \
         echo x > /dev/null && echo null-ok; ls /dev/pts/ptmx >/dev/null && echo pts-ok; \
         touch /dev/new 2>/dev/null || echo touch-refused",
    );
    assert_eq!(out, "ro\nnull-ok\npts-ok\ntouch-refused\n");
}

/// /proc and /sys must be real directories: a symlink there is refused with runc's words.
#[test]
fn symlinked_proc_or_sys_is_refused() {
    for (dest, typ) in [("proc", "proc"), ("sys", "sysfs")] {
        let rt = Runtime::new();
        let mut b = Bundle::busybox();
        let p = b.rootfs().join(dest);
        fs::remove_dir(&p).unwrap();
        fs::create_dir(b.rootfs().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", &p).unwrap();
        let (code, _, err) = sh(&rt, &mut b, "true");
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!(
                "filesystem \"{typ}\" must be mounted on ordinary directory"
            )) || err.contains(&format!(
                "filesystem \\\"{typ}\\\" must be mounted on ordinary directory"
            )),
            "{err}"
        );
        assert!(rt.ids_in_root().is_empty());
    }
}

// ---------------------------------------------------------------------------
// 7. --no-pivot
// ---------------------------------------------------------------------------

/// With --no-pivot the host's /proc would stay in the container's mount namespace (outside
/// its chroot), and its presence lets a user namespace inside mount a fresh, unmasked procfs.
/// The runtime removes the host's procfs and sysfs mounts first: the mount is refused.
#[test]
fn no_pivot_does_not_expose_a_bare_proc() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_cap(&mut b, "CAP_SETFCAP");
    b.set_args(&[
        "unshare",
        "-mrpf",
        "sh",
        "-c",
        "mount -t proc none /proc && echo mounted",
    ]);
    b.save();
    let id = unique_id("nopivot");
    let _c = Container::with_id(&rt, &b, &id);
    let o = output_with_timeout(
        &mut rt.cmd(&["run", "--no-pivot", "--bundle", b.dir_str(), &id]),
        std::time::Duration::from_secs(60),
    );
    let all = format!("{}{}", stdout_str(&o), stderr_str(&o));
    assert!(!all.contains("mounted"), "procfs mounted: {all}");
    assert!(
        all.contains("Permission denied") || all.contains("permission denied"),
        "{all}"
    );
    assert_ne!(exit_code(&o.status), 0);
    // The runtime's own view is untouched.
    assert!(Path::new("/proc/self/mountinfo").exists());
}

/// --no-pivot with rootfsPropagation rshared and a rootfs that is a mount point: nothing is
/// left mounted on the host's "/" (runc issue 1961). The leak needs a shared host "/" (systemd
/// hosts); on a host whose "/" is private this passes either way.
#[test]
fn no_pivot_rshared_does_not_leak_the_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let r = b.rootfs();
    let r = r.to_str().unwrap();
    host("mount", &["--bind", r, r]);
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    b.set_args(&["true"]);
    b.save();
    let on_root = || {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some("/"))
            .count()
    };
    let before = on_root();
    let id = unique_id("nopivot");
    let _c = Container::with_id(&rt, &b, &id);
    let o = output_with_timeout(
        &mut rt.cmd(&["run", "--no-pivot", "--bundle", b.dir_str(), &id]),
        std::time::Duration::from_secs(60),
    );
    assert_ok(&o, "run --no-pivot");
    assert_eq!(on_root(), before, "a mount leaked onto the host's /");
}

// ---------------------------------------------------------------------------
// 8. bind-mount flag semantics (runc's tests/integration/mounts_sshfs.bats, on a tmpfs)
// ---------------------------------------------------------------------------

/// A tmpfs source whose per-mount flags are exactly `host_flags` (runc's setup_sshfs).
fn flagged_source(host_flags: &str) -> TempDir {
    let d = TempDir::new("bindflags");
    let p = d.path().to_str().unwrap();
    host(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "rw,suid,dev,exec,diratime,strictatime",
            "bindflags",
            p,
        ],
    );
    host(
        "mount",
        &["--bind", "-o", "remount,diratime,strictatime", p],
    );
    host(
        "mount",
        &["--bind", "-o", &format!("remount,{host_flags}"), p],
    );
    d
}

/// Runs a container binding a source with `host_flags` at /mnt with `bind_flags`; returns the
/// /mnt options from /proc/self/mounts, or Err(stderr) when the run fails.
fn bind_flags_case(
    userns: bool,
    host_flags: &str,
    bind_flags: &str,
) -> Result<Vec<String>, String> {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    if userns {
        add_user_namespace(&mut b);
    }
    fs::create_dir_all(b.rootfs().join("mnt")).unwrap();
    let src = flagged_source(host_flags);
    let opts: Vec<&str> = bind_flags.split(',').collect();
    add_mount(
        &mut b,
        json!({ "destination": "/mnt", "type": "bind", "source": src.path(), "options": opts }),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "awk '$2 == \"/mnt\" { print $4 }' /proc/self/mounts",
    );
    if code != 0 {
        return Err(err);
    }
    Ok(out.trim().split(',').map(str::to_string).collect())
}

#[track_caller]
fn pass(userns: bool, host_flags: &str, bind_flags: &str, has: &[&str], lacks: &[&str]) {
    let got = bind_flags_case(userns, host_flags, bind_flags)
        .unwrap_or_else(|e| panic!("userns={userns} {host_flags} + {bind_flags}: run failed: {e}"));
    for f in has {
        assert!(
            got.iter().any(|g| g == f),
            "userns={userns} {host_flags} + {bind_flags}: no {f} in {got:?}"
        );
    }
    for f in lacks {
        assert!(
            !got.iter().any(|g| g == f),
            "userns={userns} {host_flags} + {bind_flags}: {f} in {got:?}"
        );
    }
}

#[track_caller]
fn fail(host_flags: &str, bind_flags: &str) {
    match bind_flags_case(true, host_flags, bind_flags) {
        Ok(got) => {
            panic!("{host_flags} + {bind_flags} in a userns: expected a failure, got {got:?}")
        }
        Err(e) => assert!(e.to_lowercase().contains("operation not permitted"), "{e}"),
    }
}

#[test]
fn bind_with_no_options_keeps_the_source_flags() {
    for userns in [false, true] {
        pass(
            userns,
            "ro,noexec,nodiratime",
            "bind",
            &["ro", "noexec", "nodiratime"],
            &["rw"],
        );
    }
}

#[test]
fn bind_with_a_clearing_flag() {
    // Without a user namespace every unspecified flag is cleared (atime is kept).
    pass(
        false,
        "ro,noexec,nodiratime",
        "bind,dev",
        &["rw", "nodiratime"],
        &["ro", "noexec"],
    );
    // In one, locked flags not explicitly cleared are kept.
    pass(
        true,
        "ro,noexec,nodiratime",
        "bind,dev",
        &["ro", "noexec", "nodiratime"],
        &["rw"],
    );
}

#[test]
fn bind_implied_and_explicit_rw_of_a_ro_source() {
    pass(
        false,
        "ro",
        "bind,nosuid,nodev,rprivate",
        &["rw", "nosuid", "nodev"],
        &["ro"],
    );
    pass(
        true,
        "ro",
        "bind,nosuid,nodev,rprivate",
        &["ro", "nosuid", "nodev"],
        &[],
    );
    pass(
        false,
        "ro",
        "bind,rw,nosuid,nodev,rprivate",
        &["rw", "nosuid", "nodev"],
        &["ro"],
    );
    fail("ro", "bind,rw,nosuid,nodev,rprivate");
}

#[test]
fn bind_clearing_nodev_nosuid_noexec_noatime() {
    pass(
        false,
        "nosuid,nodev,noexec,noatime",
        "bind,dev,suid,exec,atime",
        &["rw", "noatime"],
        &["ro", "nosuid", "nodev", "noexec"],
    );
    fail("nodev,nosuid,noexec,noatime", "bind,dev,suid,exec,atime");
}

#[test]
fn bind_ro_of_a_nodev_nosuid_noexec_source() {
    pass(
        false,
        "rw,nodev,nosuid,noexec,noatime",
        "bind,ro",
        &["ro"],
        &["nosuid", "nodev", "noexec"],
    );
    pass(
        true,
        "rw,nodev,nosuid,noexec,noatime",
        "bind,ro",
        &["ro", "nosuid", "nodev", "noexec"],
        &[],
    );
}

// ---------------------------------------------------------------------------
// 9. maskedPaths
// ---------------------------------------------------------------------------

/// Masked directories share one read-only tmpfs (one superblock however many there are, as
/// runc 1.3.6 does too); duplicate maskedPaths are masked once (runc 1.3.6 mounts a
/// duplicate twice, so that part is checked for hull only).
#[test]
fn masked_paths_once_and_one_superblock() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    for d in ["masked/a", "masked/b", "masked/c"] {
        fs::create_dir_all(b.rootfs().join(d)).unwrap();
    }
    fs::write(b.rootfs().join("masked/file"), "secret\n").unwrap();
    b.config["linux"]["maskedPaths"] = json!([
        "/masked/a",
        "/masked/b",
        "/masked/a",
        "/masked/c",
        "/masked/file",
        "/masked/file",
        "/masked/missing"
    ]);
    let out = sh_ok(
        &rt,
        &mut b,
        "cat /proc/self/mountinfo; echo ===; cat /masked/file; ls -A /masked/a | wc -l; \
         touch /masked/b/x 2>/dev/null || echo ro",
    );
    let (info, rest) = out.split_once("===\n").unwrap();
    assert_eq!(rest, "0\nro\n", "{rest}");
    let lines = |mp: &str| -> Vec<&str> {
        info.lines()
            .filter(|l| l.split(' ').nth(4) == Some(mp))
            .collect()
    };
    if !is_runc() {
        for mp in ["/masked/a", "/masked/b", "/masked/c", "/masked/file"] {
            assert_eq!(
                lines(mp).len(),
                1,
                "{mp} masked {} times:\n{info}",
                lines(mp).len()
            );
        }
    }
    let dev = |mp: &str| lines(mp)[0].split(' ').nth(2).unwrap().to_string();
    assert_eq!(dev("/masked/a"), dev("/masked/b"), "{info}");
    assert_eq!(dev("/masked/a"), dev("/masked/c"), "{info}");
    assert!(lines("/masked/a")[0].contains(" - tmpfs "), "{info}");
}

// ---------------------------------------------------------------------------
// 10. the mount namespace itself
// ---------------------------------------------------------------------------

fn ns_inode(path: &str) -> String {
    fs::read_link(path)
        .unwrap_or_else(|e| panic!("readlink {path}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// No mount namespace in the config: the container shares the runtime's and is chrooted
/// into its rootfs (as runc). Its mounts live in the runtime's namespace while it runs;
/// hull removes them on delete (runc 1.3.6 leaves them behind, see its host-mntns.bats).
#[test]
fn no_mount_namespace_shares_the_runtimes() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "mount");
    // Masks could be undone in a shared namespace: refused, with runc's words.
    let (code, _, err) = sh(&rt, &mut b, "true");
    assert_eq!(code, 1);
    assert!(
        err.contains("unable to restrict sys entries without a private MNT namespace"),
        "{err}"
    );
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    b.set_args(&["sleep", "1000"]);
    b.save();
    let id = unique_id("hostmnt");
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    let pid = c.pid();
    assert_eq!(
        ns_inode(&format!("/proc/{pid}/ns/mnt")),
        ns_inode("/proc/self/ns/mnt")
    );
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        b.rootfs(),
        "not chrooted into the rootfs"
    );
    assert!(
        !mounts_under(&b.rootfs().join("proc")).is_empty(),
        "no /proc mount"
    );
    // exec lands in the container's root too. runc 1.3.6 bug: its exec runs in the
    // runtime's root (it prints the host's /etc/hostname), so checked for hull only.
    let o = c.exec(&["cat", "/etc/hostname"]);
    assert_ok(&o, "exec");
    if !is_runc() {
        assert_eq!(stdout_str(&o), "hull\n");
    }
    c.kill("KILL");
    c.wait_status("stopped", budget(std::time::Duration::from_secs(10)));
    c.delete();
    if !is_runc() {
        let left = mounts_under(&b.rootfs());
        assert!(left.is_empty(), "mounts left after delete: {left:?}");
    }
}

/// A mount namespace given by path is joined: the rootfs is set up inside it.
#[test]
fn mount_namespace_joined_by_path() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let holder = TempDir::new("mntns");
    let h = holder.path().to_str().unwrap();
    host("mount", &["--bind", h, h]);
    host("mount", &["--make-private", h]);
    let nsfile = holder.path().join("mnt");
    fs::write(&nsfile, "").unwrap();
    host(
        "unshare",
        &[&format!("--mount={}", nsfile.display()), "true"],
    );
    let want = format!("mnt:[{}]", fs::metadata(&nsfile).unwrap().ino());
    for n in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "mount" {
            n["path"] = json!(nsfile);
        }
    }
    let out = sh_ok(&rt, &mut b, "readlink /proc/self/ns/mnt; cat /etc/hostname");
    assert_eq!(out, format!("{want}\nhull\n"));
    // The container's mounts were made in the joined namespace, not in ours.
    assert!(mounts_under(&b.rootfs()).is_empty());
}
