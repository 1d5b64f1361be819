//! Cgroups: skipped when not writable, used when delegated; the systemd driver refused when
//! the user has no systemd instance (the VM target conformance/vm/systemd checks it with one).

use super::*;
use serde_json::json;

#[test]
fn systemd_cgroup_driver_without_a_user_systemd_is_refused() {
    // The driver uses the user's systemd instance over the user's bus; this host has neither
    // (no systemd at all, and hybrid cgroups): one clear error, nothing left. runc says
    // "dbus: couldn't determine address of session bus" (or refuses cgroup v1).
    let u = TestUser::new(false);
    let b = u.bundle("b", &["true"]);
    let id = unique_id("rl-sd");
    let o = u.run(&["--systemd-cgroup", "create", "--bundle", b.dir_str(), &id]);
    assert_fail1(
        &o,
        "--systemd-cgroup as an unprivileged user without systemd",
    );
    if !is_runc() {
        assert_one_clear_error(&o, "--systemd-cgroup");
        assert!(err(&o).contains("systemd"), "{}", err(&o));
    }
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || u.processes().is_empty()),
        "{:?}",
        u.processes()
    );
}

/// crun 1.28 bug: as an unprivileged user on cgroup v1 it makes no cgroup at all and runs a
/// container with a pids limit it did not apply (exit 0), where runtime.md says "If the runtime
/// is unable to create the environment specified in the config.json, it MUST generate an
/// error".
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
    // with its own pid namespace and succeeds, so it is not checked against runc (nor crun
    // 1.28, which succeeds too).
    for args in [
        vec!["kill", "--all", &id, "TERM"],
        vec!["ps", &id],
        vec!["pause", &id],
    ] {
        if (is_runc() || is_crun()) && args[0] == "kill" {
            continue;
        }
        let o = u.run(&args);
        if is_crun() {
            // crun 1.28 exits 255 for ps ("the container is not using cgroups").
            assert!(
                !o.status.success(),
                "{args:?} without a cgroup: {}",
                err(&o)
            );
        } else if is_runc() {
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
    let want = match cgroup_kind() {
        CgroupKind::V2 => "rootless needs no limits + no cgrouppath",
        _ => "pids",
    };
    assert!(err(&o).contains(want), "{}", err(&o));
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

/// crun 1.28 bug: on cgroup v1 it uses no delegated cgroup for an unprivileged user's container
/// and runs it without the pids limit asked for (see cgroups_are_skipped_when_not_writable).
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
