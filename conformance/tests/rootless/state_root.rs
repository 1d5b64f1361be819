//! The state root and the rootless modes: `$XDG_RUNTIME_DIR/<runtime>` in auto mode, the
//! forced modes, the system root without XDG_RUNTIME_DIR, a root-owned `--root`, root of a
//! user namespace counted as rootless; `run` as the user.

use super::*;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

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
    // survive the runtime dir's periodic cleanup); crun 1.28 makes it 0700, not sticky.
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        if is_crun() { 0o700 } else { 0o1700 },
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
    // crun 1.28 makes no cgroup for a user's container on cgroup v1 whatever --rootless says,
    // so `--rootless false` runs; runc's rule is checked for runc and hull.
    if !is_crun() {
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
    }
    // runc: "strconv.ParseBool: parsing \"maybe\": invalid syntax". crun 1.28 takes any
    // value but true and false as auto and runs: checked for runc and hull.
    if !is_crun() {
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
    // USER=root: the system state root, which the namespace's root cannot write. runc's
    // rule; crun 1.28 ignores USER and keeps to XDG_RUNTIME_DIR.
    if !is_crun() {
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
    }
    // --rootless false: the cgroup permission error is not tolerated (runc's rule; crun 1.28
    // makes no cgroup there whatever --rootless says, see auto_mode_keeps_state_...).
    if is_crun() {
        return;
    }
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
