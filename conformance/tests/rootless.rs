//! Rootless mode (runc's): an unprivileged user — created by each test and removed by its
//! Drop guard — runs `spec --rootless` and the container lifecycle with state under
//! `$XDG_RUNTIME_DIR/<runtime>`, its own uid/gid mapped to root without helpers, wider
//! mappings through newuidmap/newgidmap from its subordinate ids, cgroups skipped when not
//! writable and used when delegated, and nothing left behind when it kills the runtime in
//! the middle of create.
//!
//! Checked against runc 1.1.5 (/usr/sbin/runc) and runc 1.3.6 (sid root); differences are
//! noted at the tests (mostly: runc's error words; hull names the bad mapping up front).

#[path = "rootless/podman.rs"]
mod podman;
#[path = "rootless/user.rs"]
mod user;

use hull_conformance::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use user::{is_runc, runtime_name, TestUser, UserBundle};

fn t(secs: u64) -> Duration {
    budget(Duration::from_secs(secs))
}

/// `field` of `state <id>` run by the user.
fn state_field(u: &TestUser, id: &str, field: &str) -> serde_json::Value {
    let o = u.run(&["state", id]);
    assert_ok(&o, "state");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("state JSON");
    v[field].clone()
}

fn create(u: &TestUser, b: &UserBundle, id: &str) -> Output {
    u.run(&["create", "--bundle", b.dir_str(), id])
}

/// stderr as one trimmed string.
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[track_caller]
fn assert_one_clear_error(o: &Output, what: &str) {
    assert_fail1(o, what);
    let e = err(o);
    assert!(!e.contains("panicked"), "{what}: panic: {e}");
    assert_eq!(e.lines().count(), 1, "{what}: expected one error line: {e}");
}

/// Nothing of container `id` is left in the user's default state root.
#[track_caller]
fn assert_no_state(u: &TestUser, id: &str) {
    let dir = u.default_root().join(id);
    assert!(!dir.exists(), "state dir {} left behind", dir.display());
    let o = u.run(&["state", id]);
    assert_fail1(&o, "state of a container that must not exist");
}

/// The cgroup directories a container `id` without cgroupsPath would get: `<own>/<id>` in
/// every hierarchy of the test process (whose cgroups the user's commands inherit).
fn default_cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let unified = match cgroup_kind() {
        CgroupKind::V2 => "",
        _ => "unified",
    };
    own.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _n = f.next()?;
            let ctrl = f.next()?;
            let path = f.next()?.trim_start_matches('/');
            let mount = match ctrl {
                "" => unified.to_string(),
                c => c.strip_prefix("name=").unwrap_or(c).to_string(),
            };
            Some(Path::new("/sys/fs/cgroup").join(mount).join(path).join(id))
        })
        .collect()
}

#[test]
fn auto_mode_keeps_state_under_xdg_runtime_dir() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["sleep", "1000"]);
    let id = unique_id("rl-xdg");
    assert_ok(&create(&u, &b, &id), "create as an unprivileged user");
    let root = u.default_root();
    let dir = root.join(&id);
    assert!(dir.is_dir(), "no state dir at {}", dir.display());
    let meta = fs::metadata(&root).unwrap();
    // runc: the XDG state root is 0700 and sticky (the XDG spec's rule for files that must
    // survive the runtime dir's periodic cleanup).
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o1700,
        "mode of {}",
        root.display()
    );
    assert_eq!(meta.uid(), u.uid, "owner of the state root");
    assert_eq!(state_field(&u, &id, "status"), "created");
    assert_ok(&u.run(&["delete", "--force", &id]), "delete --force");
    assert_no_state(&u, &id);

    // Forced modes: true is what auto chose; false asks for cgroups the user cannot create.
    let id2 = unique_id("rl-true");
    assert_ok(
        &u.run(&[
            "--rootless",
            "true",
            "create",
            "--bundle",
            b.dir_str(),
            &id2,
        ]),
        "--rootless true",
    );
    assert_ok(&u.run(&["delete", "--force", &id2]), "delete --force");
    let id3 = unique_id("rl-false");
    let o = u.run(&[
        "--rootless",
        "false",
        "create",
        "--bundle",
        b.dir_str(),
        &id3,
    ]);
    assert_fail1(&o, "--rootless false without cgroup permission");
    assert!(
        err(&o).to_lowercase().contains("permission denied"),
        "{}",
        err(&o)
    );
    assert_no_state(&u, &id3);
    for d in default_cgroup_dirs_of(&id3) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    // runc: "strconv.ParseBool: parsing \"maybe\": invalid syntax".
    let o = u.run(&[
        "--rootless",
        "maybe",
        "create",
        "--bundle",
        b.dir_str(),
        &id3,
    ]);
    assert_fail1(&o, "--rootless maybe");
    assert_no_state(&u, &id3);
}

#[test]
fn without_xdg_runtime_dir_the_system_root_is_used_and_refused() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["true"]);
    let id = unique_id("rl-noxdg");
    let mut c = u.rt(&["create", "--bundle", b.dir_str(), &id]);
    c.env_remove("XDG_RUNTIME_DIR");
    let o = output_with_timeout(&mut c, t(30));
    // runc 1.1.5: "lstat /run/runc/<id>: permission denied" (or mkdir /run/runc).
    assert_one_clear_error(&o, "create without XDG_RUNTIME_DIR");
    assert!(
        err(&o).to_lowercase().contains("permission denied"),
        "{}",
        err(&o)
    );
    let system_root = Path::new("/run").join(runtime_name()).join(&id);
    assert!(!system_root.exists());
    assert!(!u.default_root().join(&id).exists());
}

#[test]
fn a_root_owned_state_root_is_a_clear_error() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["true"]);
    let root = Path::new(STATE_BASE).join(unique_id("rl-rootowned"));
    fs::create_dir_all(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
    let _cleanup = TempDir(root.clone());
    let r = root.to_str().unwrap();
    let id = unique_id("rl-ro");
    let o = u.run(&["--root", r, "create", "--bundle", b.dir_str(), &id]);
    assert_one_clear_error(&o, "create with a root-owned --root");
    assert!(
        err(&o).to_lowercase().contains("permission denied"),
        "{}",
        err(&o)
    );
    for args in [
        vec!["--root", r, "state", &id],
        vec!["--root", r, "delete", &id],
        vec!["--root", r, "list"],
    ] {
        let o = u.run(&args);
        assert_one_clear_error(&o, &format!("{args:?}"));
    }
    assert_eq!(
        fs::read_dir(&root).unwrap().count(),
        0,
        "nothing may be created"
    );
}

#[test]
fn lifecycle_with_the_users_own_ids_mapped_to_root() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["sleep", "1000"]);
    let id = unique_id("rl-life");
    assert_ok(&create(&u, &b, &id), "create");
    assert_eq!(state_field(&u, &id, "status"), "created");
    // exec into the created container already works (the waiting init's namespaces are the
    // user's to join).
    let o = u.run(&["exec", &id, "true"]);
    assert_ok(&o, "exec into the created container");
    assert_ok(&u.run(&["start", &id]), "start");
    assert!(poll_until(t(10), || state_field(&u, &id, "status") == "running"));
    let pid = state_field(&u, &id, "pid").as_i64().unwrap() as i32;
    // From the host, the container's root is the user.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let host_uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    assert_eq!(
        host_uid.split_whitespace().next().unwrap(),
        u.uid.to_string(),
        "init's host uid"
    );
    let o = u.run(&["exec", &id, "id"]);
    assert_ok(&o, "exec id");
    assert!(
        stdout_str(&o).starts_with("uid=0(root) gid=0(root)"),
        "{}",
        stdout_str(&o)
    );
    let o = u.run(&[
        "exec",
        &id,
        "cat",
        "/proc/self/uid_map",
        "/proc/self/gid_map",
    ]);
    assert_ok(&o, "exec cat maps");
    let maps: Vec<Vec<String>> = stdout_str(&o)
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(
        maps,
        vec![
            vec!["0".to_string(), u.uid.to_string(), "1".into()],
            vec!["0".to_string(), u.gid.to_string(), "1".into()],
        ]
    );
    // The kernel writes an unprivileged gid map only with setgroups denied.
    let o = u.run(&["exec", &id, "cat", "/proc/self/setgroups"]);
    assert_eq!(stdout_str(&o).trim(), "deny");
    // exec lands in the container's pid namespace.
    let o = u.run(&["exec", &id, "sh", "-c", "echo $$; cat /proc/1/cmdline"]);
    assert_ok(&o, "exec in the pid namespace");
    assert!(stdout_str(&o).contains("sleep"), "{}", stdout_str(&o));
    assert_ok(&u.run(&["kill", &id, "KILL"]), "kill");
    assert!(poll_until(t(10), || state_field(&u, &id, "status") == "stopped"));
    assert_ok(&u.run(&["delete", &id]), "delete");
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || u.processes().is_empty()),
        "{:?}",
        u.processes()
    );
}

#[test]
fn a_second_container_joins_the_first_ones_user_namespace() {
    // A pod: the second container joins the first (created, not started) one's user
    // namespace by path and makes its own other namespaces inside it.
    let u = TestUser::new(false);
    let a = u.bundle("a", &["sleep", "1000"]);
    let ida = unique_id("rl-poda");
    assert_ok(&create(&u, &a, &ida), "create the first container");
    let pid = state_field(&u, &ida, "pid").as_i64().unwrap();
    let mut b = u.bundle("b", &["sh", "-c", "readlink /proc/self/ns/user; id -u"]);
    for n in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "user" {
            n["path"] = json!(format!("/proc/{pid}/ns/user"));
        }
    }
    u.save(&b);
    let idb = unique_id("rl-podb");
    let o = u.run(&["run", "--bundle", b.dir_str(), &idb]);
    assert_ok(&o, "run joining the first container's user namespace");
    let want = fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    let out = stdout_str(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, vec![want.to_str().unwrap(), "0"]);
    assert_no_state(&u, &idb);
    assert_ok(&u.run(&["delete", "--force", &ida]), "delete --force");
}

#[test]
fn root_inside_a_user_namespace_is_rootless_too() {
    // runc's auto rule: euid 0 inside a user namespace (here `unshare --map-root-user` by the
    // user) is rootless: cgroups it may not create are skipped, and XDG_RUNTIME_DIR is
    // honoured unless USER=root. Passes with runc 1.3.6; runc 1.1.5 fails by its own bug
    // ("nsexec: failed to setns to host mntns: Operation not permitted": it goes back to the
    // host mount namespace for the /sys bind source, which root of a user namespace may not).
    let u = TestUser::new(false);
    let mut b = u.bundle("b", &["sh", "-c", "id -u"]);
    // The namespace maps only its root (the user): the container maps that root to its own.
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    u.save(&b);
    let id = unique_id("rl-inns");
    let bin = hull_bin();
    let in_userns = |extra_env: Option<(&str, &str)>, args: &[&str]| -> Output {
        let mut all = vec!["--user", "--map-root-user", bin.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut c = u.cmd(Path::new("/usr/bin/unshare"), &all);
        if let Some((k, v)) = extra_env {
            c.env(k, v);
        }
        output_with_timeout(&mut c, t(30))
    };
    let o = in_userns(None, &["run", "--bundle", b.dir_str(), &id]);
    assert_ok(&o, "run as root of a user namespace");
    assert_eq!(stdout_str(&o).trim(), "0");
    for d in default_cgroup_dirs_of(&id) {
        assert!(!d.exists(), "cgroup {} was created", d.display());
    }
    assert!(
        u.default_root().is_dir(),
        "the state root is under XDG_RUNTIME_DIR"
    );
    assert_no_state(&u, &id);
    // USER=root: the system state root, which the namespace's root cannot write.
    let o = in_userns(
        Some(("USER", "root")),
        &["create", "--bundle", b.dir_str(), &id],
    );
    assert_fail1(&o, "USER=root inside a user namespace");
    assert!(
        err(&o).to_lowercase().contains("permission denied"),
        "{}",
        err(&o)
    );
    // --rootless false: the cgroup permission error is not tolerated.
    let o = in_userns(
        None,
        &[
            "--rootless",
            "false",
            "create",
            "--bundle",
            b.dir_str(),
            &id,
        ],
    );
    assert_fail1(&o, "--rootless false inside a user namespace");
    assert_no_state(&u, &id);
}

#[test]
fn run_prints_and_exits_with_the_program() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["sh", "-c", "echo hello from $(id -u); exit 3"]);
    let id = unique_id("rl-run");
    let o = u.run(&["run", "--bundle", b.dir_str(), &id]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert_eq!(stdout_str(&o).trim(), "hello from 0");
    assert_no_state(&u, &id);
}

fn subid_maps(u: &TestUser) -> serde_json::Value {
    let (sub, count) = u.subids.unwrap();
    json!([{"containerID": 0, "hostID": u.uid, "size": 1},
           {"containerID": 1, "hostID": sub, "size": count}])
}

#[test]
fn subordinate_ids_are_mapped_with_newuidmap() {
    let u = TestUser::new(true);
    let (sub, count) = u.subids.unwrap();
    let mut b = u.bundle("b", &["sleep", "1000"]);
    b.config["linux"]["uidMappings"] = subid_maps(&u);
    let mut gids = subid_maps(&u);
    gids[0]["hostID"] = json!(u.gid);
    b.config["linux"]["gidMappings"] = gids;
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    u.save(&b);
    let id = unique_id("rl-sub");
    assert_ok(&create(&u, &b, &id), "create with subordinate ids");
    assert_ok(&u.run(&["start", &id]), "start");
    let pid = state_field(&u, &id, "pid").as_i64().unwrap() as i32;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    // Container uid 1000 is subordinate id sub + 999 on the host.
    assert_eq!(field("Uid:"), (sub + 999).to_string());
    assert_eq!(field("Gid:"), (sub + 999).to_string());
    let o = u.run(&["exec", &id, "cat", "/proc/self/uid_map"]);
    let lines: Vec<Vec<String>> = stdout_str(&o)
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["0".to_string(), u.uid.to_string(), "1".into()],
            vec!["1".to_string(), sub.to_string(), count.to_string()],
        ]
    );
    // With a helper-written gid map setgroups stays allowed.
    let o = u.run(&["exec", &id, "cat", "/proc/self/setgroups"]);
    assert_eq!(stdout_str(&o).trim(), "allow");
    assert_ok(&u.run(&["delete", "--force", &id]), "delete --force");
    assert_no_state(&u, &id);
}

#[test]
fn mappings_the_user_may_not_use_are_one_clear_error() {
    let u = TestUser::new(true);
    let (sub, count) = u.subids.unwrap();
    let own = |c: u32| json!({"containerID": c, "hostID": u.uid, "size": 1});
    let cases = [
        // Host ids beyond the user's subordinate range.
        (
            "not permitted",
            json!([own(0), {"containerID": 1, "hostID": sub + count, "size": 10}]),
            format!("hostID: {}", sub + count),
        ),
        // Someone else's uid (root's).
        (
            "other uid",
            json!([own(0), {"containerID": 1, "hostID": 0, "size": 1}]),
            "hostID: 0".to_string(),
        ),
        // Two ranges claiming the same container ids.
        (
            "container overlap",
            json!([own(0), {"containerID": 0, "hostID": sub, "size": 10}]),
            "overlaps".to_string(),
        ),
        // Two ranges of the same host ids.
        (
            "host overlap",
            json!([{"containerID": 0, "hostID": sub, "size": 10},
                   {"containerID": 100, "hostID": sub + 5, "size": 10}]),
            "overlaps".to_string(),
        ),
    ];
    for (what, maps, words) in cases {
        let mut b = u.bundle(&format!("b-{}", what.replace(' ', "-")), &["true"]);
        b.config["linux"]["uidMappings"] = maps;
        u.save(&b);
        let id = unique_id("rl-badmap");
        let o = create(&u, &b, &id);
        assert_fail1(&o, what);
        if !is_runc() {
            // runc fails later, with the helper's or the kernel's words ("newuidmap: ...",
            // "write /proc/<pid>/uid_map: invalid argument") and no mapping named.
            assert_one_clear_error(&o, what);
            let e = err(&o);
            assert!(
                e.contains("uidMappings") && e.contains(&words),
                "{what}: {e}"
            );
        }
        assert_no_state(&u, &id);
        assert!(
            poll_until(t(10), || u.processes().is_empty()),
            "{what}: {:?}",
            u.processes()
        );
    }
}

#[test]
fn a_user_namespace_with_mappings_is_required() {
    // runc's rootless validator: "rootless container requires user namespaces"; then a user
    // namespace without uid mappings (runc: "user namespaces enabled, but no uid mappings
    // found"; hull: "rootless containers requires at least one UID mapping").
    let u = TestUser::new(false);
    let mut b = u.bundle("b-nouserns", &["true"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "user");
    let linux = b.config["linux"].as_object_mut().unwrap();
    linux.remove("uidMappings");
    linux.remove("gidMappings");
    u.save(&b);
    let id = unique_id("rl-nouserns");
    let o = create(&u, &b, &id);
    assert_fail1(&o, "no user namespace");
    assert!(
        err(&o).contains("rootless container requires user namespaces"),
        "{}",
        err(&o)
    );
    assert_no_state(&u, &id);

    let mut b = u.bundle("b-nomap", &["true"]);
    b.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("uidMappings");
    u.save(&b);
    let o = create(&u, &b, &id);
    assert_fail1(&o, "no uid mapping");
    assert!(
        err(&o).to_lowercase().contains("uid mapping"),
        "{}",
        err(&o)
    );
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || u.processes().is_empty()),
        "{:?}",
        u.processes()
    );
}

#[test]
fn systemd_cgroup_driver_of_an_unprivileged_user_is_refused() {
    // hull does not drive the user's systemd instance: one clear error. runc asks the user
    // bus (here there is none: "dbus: couldn't determine address of session bus").
    let u = TestUser::new(false);
    let b = u.bundle("b", &["true"]);
    let id = unique_id("rl-sd");
    let o = u.run(&["--systemd-cgroup", "create", "--bundle", b.dir_str(), &id]);
    assert_fail1(&o, "--systemd-cgroup as an unprivileged user");
    if !is_runc() {
        assert_one_clear_error(&o, "--systemd-cgroup");
        assert!(err(&o).contains("--systemd-cgroup"), "{}", err(&o));
    }
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || u.processes().is_empty()),
        "{:?}",
        u.processes()
    );
}

#[test]
fn unmapped_uid_or_gid_mount_options_are_refused() {
    // spec --rootless drops devpts' gid=5 because gid 5 is not mapped; putting it back is
    // runc's "cannot specify gid= mount options for unmapped gid in rootless containers".
    let u = TestUser::new(false);
    let mut b = u.bundle("b", &["true"]);
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev/pts" {
            m["options"].as_array_mut().unwrap().push(json!("gid=5"));
        }
    }
    u.save(&b);
    let id = unique_id("rl-gid5");
    let o = create(&u, &b, &id);
    assert_fail1(&o, "devpts gid=5 without a mapping for gid 5");
    // runc 1.3.6 words it "cannot specify gid=5 mount option for rootless container: user
    // namespaces enabled, but no mapping found for gid 5".
    let e = err(&o);
    assert!(
        e.contains("gid=") && e.contains("mount option") && e.contains("rootless container"),
        "{e}"
    );
    if !is_runc() {
        assert_one_clear_error(&o, "gid=5");
        assert!(err(&o).contains("/dev/pts has gid=5"), "{}", err(&o));
    }
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || u.processes().is_empty()),
        "{:?}",
        u.processes()
    );
}

#[test]
fn cgroups_are_skipped_when_not_writable() {
    let u = TestUser::new(false);
    let mut b = u.bundle("b", &["sleep", "1000"]);
    let id = unique_id("rl-nocg");
    assert_ok(&create(&u, &b, &id), "create without cgroup permission");
    let pid = state_field(&u, &id, "pid").as_i64().unwrap() as i32;
    // The init stays in the caller's cgroups: none was made for it.
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(),
        fs::read_to_string("/proc/self/cgroup").unwrap()
    );
    for d in default_cgroup_dirs_of(&id) {
        assert!(!d.exists(), "cgroup {} was created", d.display());
    }
    // What needs the cgroup fails clearly (runc 1.1.5 too, with warnings first: "runc ps may
    // fail if you don't have the full access to cgroups"); the container is not disturbed.
    // `kill --all` too, as runc 1.1.5; runc 1.3.6 instead signals only the init of a container
    // with its own pid namespace and succeeds, so it is not checked against runc.
    for args in [
        vec!["kill", "--all", &id, "TERM"],
        vec!["ps", &id],
        vec!["pause", &id],
    ] {
        if is_runc() && args[0] == "kill" {
            continue;
        }
        let o = u.run(&args);
        if is_runc() {
            assert_fail1(&o, &format!("{args:?} without a cgroup"));
        } else {
            assert_one_clear_error(&o, &format!("{args:?} without a cgroup"));
        }
    }
    assert_eq!(state_field(&u, &id, "status"), "created");
    assert_ok(&u.run(&["delete", "--force", &id]), "delete --force");
    assert_no_state(&u, &id);

    // A limit needs the cgroup: an error (runc 1.1.5 on v1: "cannot set pids limit:
    // container could not join or create cgroup"; on v2: "rootless needs no limits + no
    // cgrouppath when no permission is granted for cgroups").
    b.config["linux"]["resources"] = json!({"pids": {"limit": 50}});
    u.save(&b);
    let id = unique_id("rl-nocg-limit");
    let o = create(&u, &b, &id);
    assert_fail1(&o, "a pids limit without cgroup permission");
    assert!(err(&o).contains("pids"), "{}", err(&o));
    assert_no_state(&u, &id);
    for d in default_cgroup_dirs_of(&id) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }

    // An explicit cgroupsPath is not skipped either.
    b.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("resources");
    let cg = format!("/{}", unique_id("rl-nocg-path"));
    b.config["linux"]["cgroupsPath"] = json!(cg);
    u.save(&b);
    let id = unique_id("rl-nocg-explicit");
    let o = create(&u, &b, &id);
    assert_fail1(&o, "an explicit cgroupsPath without permission");
    assert!(
        err(&o).to_lowercase().contains("permission denied"),
        "{}",
        err(&o)
    );
    assert_no_state(&u, &id);
    assert!(
        cgroup_leftovers(&cg).is_empty(),
        "{:?}",
        cgroup_leftovers(&cg)
    );
}

/// Delegates the pids cgroup `name` to the user (v1: in the pids hierarchy; v2: a cgroup
/// with the pids controller available) and starts the user's commands in it. Returns the
/// delegated directory.
fn delegate_pids_cgroup(u: &TestUser) -> PathBuf {
    let base = match cgroup_kind() {
        CgroupKind::V2 => {
            let _ = fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+pids");
            PathBuf::from("/sys/fs/cgroup")
        }
        _ => PathBuf::from("/sys/fs/cgroup/pids"),
    };
    let dir = base.join(&u.name);
    fs::create_dir(&dir).unwrap();
    u.add_cgroup(&dir);
    let files: &[&str] = match cgroup_kind() {
        CgroupKind::V2 => &[
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
        ],
        _ => &["", "cgroup.procs", "tasks"],
    };
    for f in files {
        std::os::unix::fs::chown(dir.join(f), Some(u.uid), Some(u.gid)).unwrap();
    }
    u.start_in(&dir.join("cgroup.procs"));
    dir
}

#[test]
fn a_delegated_cgroup_is_used() {
    let u = TestUser::new(false);
    let delegated = delegate_pids_cgroup(&u);
    let mut b = u.bundle("b", &["sleep", "1000"]);
    b.config["linux"]["resources"] = json!({"pids": {"limit": 42}});
    u.save(&b);
    let id = unique_id("rl-deleg");
    assert_ok(&create(&u, &b, &id), "create in a delegated cgroup");
    let pid = state_field(&u, &id, "pid").as_i64().unwrap();
    let cg = delegated.join(&id);
    assert_eq!(
        fs::read_to_string(cg.join("pids.max")).unwrap().trim(),
        "42"
    );
    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "init {pid} not in {}: {procs}",
        cg.display()
    );
    assert_ok(&u.run(&["delete", "--force", &id]), "delete --force");
    assert!(!cg.exists(), "cgroup {} left behind", cg.display());
    assert_no_state(&u, &id);

    // A limit of a hierarchy that is not delegated stays an error, and leaves nothing (the
    // delegated part it made is removed again).
    b.config["linux"]["resources"] = json!({"pids": {"limit": 42}, "memory": {"limit": 64 << 20}});
    u.save(&b);
    let id = unique_id("rl-deleg-mem");
    let o = create(&u, &b, &id);
    assert_fail1(&o, "a memory limit without a delegated memory cgroup");
    assert!(err(&o).contains("memory"), "{}", err(&o));
    assert!(
        !delegated.join(&id).exists(),
        "delegated cgroup left behind"
    );
    assert_no_state(&u, &id);
}

/// The user SIGKILLs `create` while a createRuntime hook holds it (the init exists and
/// waits for the runtime), then `delete --force` leaves nothing: no state, no process, no
/// cgroup, no mount.
#[test]
fn killed_create_leaves_nothing_after_force_delete() {
    let u = TestUser::new(false);
    let mut b = u.bundle("b", &["sleep", "1000"]);
    let marker = u.home.join("hook-state");
    let hook = format!(
        "cat > {m}.tmp; mv {m}.tmp {m}; exec sleep 1000",
        m = marker.display()
    );
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]});
    u.save(&b);
    let id = unique_id("rl-kill");
    let mut child = u
        .rt(&["create", "--bundle", b.dir_str(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn create");
    assert!(poll_until(t(20), || marker.exists()), "the hook never ran");
    let hook_state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&marker).unwrap()).unwrap();
    let init = hook_state["pid"].as_i64().unwrap() as i32;
    assert!(pid_alive(init), "the init must exist when create is killed");
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let o = u.run(&["delete", "--force", &id]);
    assert_ok(&o, "delete --force after a killed create");
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || !pid_alive(init)),
        "init {init} still alive"
    );
    // The hook's sleep is the test's own leftover (runc leaves it too): only it may remain.
    let left: Vec<i32> = u.processes();
    for pid in &left {
        let cmd = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            cmd.starts_with("sleep\0"),
            "process {pid} ({cmd:?}) left behind"
        );
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    for d in default_cgroup_dirs_of(&id) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(b.dir_str()),
        "a mount of the bundle is left on the host"
    );
}

/// The same with a delegated cgroup: the init is in it when create is killed, and
/// `delete --force` removes the cgroup too. Fails with runc 1.1.5 and 1.3.6 by design: killed
/// before it wrote its state, runc's `delete --force` finds nothing and leaves the (empty)
/// cgroup behind; hull records its state before it makes the cgroup.
#[test]
fn killed_create_in_a_delegated_cgroup_leaves_nothing() {
    let u = TestUser::new(false);
    let delegated = delegate_pids_cgroup(&u);
    let mut b = u.bundle("b", &["sleep", "1000"]);
    let marker = u.home.join("hook-state");
    let hook = format!(
        "cat > {m}.tmp; mv {m}.tmp {m}; exec sleep 1000",
        m = marker.display()
    );
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]});
    b.config["linux"]["resources"] = json!({"pids": {"limit": 30}});
    u.save(&b);
    let id = unique_id("rl-kill-cg");
    let mut child = u
        .rt(&["create", "--bundle", b.dir_str(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn create");
    assert!(poll_until(t(20), || marker.exists()), "the hook never ran");
    let hook_state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&marker).unwrap()).unwrap();
    let init = hook_state["pid"].as_i64().unwrap();
    let cg = delegated.join(&id);
    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
    assert!(
        procs.lines().any(|l| l.trim() == init.to_string()),
        "init {init} not in {}: {procs}",
        cg.display()
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    assert_ok(
        &u.run(&["delete", "--force", &id]),
        "delete --force after a killed create",
    );
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || !pid_alive(init as i32)),
        "init {init} still alive"
    );
    assert!(
        poll_until(t(10), || !cg.exists()),
        "cgroup {} left behind",
        cg.display()
    );
}

/// The same at arbitrary points of create: whatever was made, `delete --force` removes it
/// and no process of the user remains.
#[test]
fn killed_at_random_points_of_create_leaves_nothing() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["sleep", "1000"]);
    for delay_ms in [0u64, 2, 5, 10, 20, 40] {
        let id = unique_id("rl-krand");
        let mut child = u
            .rt(&["create", "--bundle", b.dir_str(), &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn create");
        std::thread::sleep(Duration::from_millis(delay_ms));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        let o = u.run(&["delete", "--force", &id]);
        assert!(
            o.status.success() || err(&o).contains("does not exist"),
            "delete --force after a kill at {delay_ms}ms: {}",
            err(&o)
        );
        assert!(
            !u.default_root().join(&id).exists(),
            "state left ({delay_ms}ms)"
        );
        assert!(
            poll_until(t(10), || u.processes().is_empty()),
            "processes left after a kill at {delay_ms}ms: {:?}",
            u.processes()
        );
    }
}
