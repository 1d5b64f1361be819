//! Id mappings: the user's own ids mapped to root without helpers, a joined user namespace,
//! subordinate ids through newuidmap/newgidmap, and mappings (or mount options of unmapped
//! ids) the user may not use.

use super::*;
use serde_json::json;

#[test]
fn lifecycle_with_the_users_own_ids_mapped_to_root() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["sleep", "1000"]);
    let id = unique_id("rl-life");
    assert_ok(&create(&u, &b, &id), "create");
    assert_eq!(state_field(&u, &id, "status"), "created");
    // exec into the created container already works (the waiting init's namespaces are the
    // user's to join). Not with crun 1.28: its waiting init is not the user's to open
    // ("openat `/proc/<pid>/ns/mnt`: Permission denied") until it runs the program.
    if !is_crun() {
        let o = u.run(&["exec", &id, "true"]);
        assert_ok(&o, "exec into the created container");
    }
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
    // crun 1.28's waiting init is not the user's to open ("open `/proc/<pid>/ns/user`:
    // Permission denied") until it runs the program: started first.
    if is_crun() {
        assert_ok(&u.run(&["start", &ida]), "start the first container");
    }
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
        if !is_runc() && !is_crun() {
            // runc fails later, with the helper's or the kernel's words ("newuidmap: ...",
            // "write /proc/<pid>/uid_map: invalid argument") and no mapping named; crun 1.28
            // too ("newuidmap: uid range [1-11) -> ... not allowed", then "write to
            // `uid_map`: Operation not permitted").
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
    // namespaces enabled, but no mapping found for gid 5". crun 1.28 does not check it: the
    // kernel refuses the mount ("mount `devpts` to `dev/pts`: Invalid argument").
    let e = err(&o);
    assert!(
        is_crun()
            || e.contains("gid=") && e.contains("mount option") && e.contains("rootless container"),
        "{e}"
    );
    if !is_runc() && !is_crun() {
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
