//! Flags and bad input (no CRIU needed: these run everywhere), and what CRIU needs of every
//! container's init.

use super::*;
use std::path::PathBuf;

fn sleeper(rt: &Runtime) -> (Bundle, String) {
    let id = unique_id("crx");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.set_args(&["sleep", "300"]);
    b.save();
    let _ = rt;
    (b, id)
}

#[test]
fn bad_parent_path_is_refused_by_name() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt);
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    let images = b.dir.join("images");
    let img = images.to_str().unwrap();
    for parent in ["does-not-exist", "/absolute"] {
        let o = rt.run(&[
            "checkpoint",
            "--image-path",
            img,
            "--parent-path",
            parent,
            &id,
        ]);
        assert_fail1(&o, "checkpoint with a bad --parent-path");
        assert!(stderr_str(&o).contains("--parent-path"), "{}", describe(&o));
    }
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn missing_criu_is_named() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt);
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    let img = b.dir.join("images");
    // No criu in $PATH.
    let mut cmd = rt.cmd(&["checkpoint", "--image-path", img.to_str().unwrap(), &id]);
    cmd.env("PATH", "/nonexistent");
    let o = output_with_timeout(&mut cmd, t());
    assert_fail1(&o, "checkpoint without criu in $PATH");
    let err = stderr_str(&o);
    assert!(err.contains("criu"), "{}", describe(&o));
    if !is_runc() {
        assert!(
            err.contains("criu not found") && err.contains("or newer"),
            "{}",
            describe(&o)
        );
        // --criu names the binary to use, and the error names it. (runc 1.3 ignores --criu
        // with a warning and always runs criu from $PATH.)
        let mut cmd = rt.bare_cmd(&[
            "--root",
            rt.root.to_str().unwrap(),
            "--criu",
            "/nonexistent/criu",
        ]);
        cmd.args(["checkpoint", "--image-path", img.to_str().unwrap(), &id]);
        let o = output_with_timeout(&mut cmd, t());
        assert_fail1(&o, "checkpoint with a missing --criu");
        assert!(
            stderr_str(&o).contains("/nonexistent/criu not found"),
            "{}",
            describe(&o)
        );
    }
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn created_container_cannot_be_checkpointed() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt);
    let c = Container::with_id(&rt, &b, &id);
    c.create();
    let o = rt.run(&[
        "checkpoint",
        "--image-path",
        b.dir.join("i").to_str().unwrap(),
        &id,
    ]);
    assert_fail1(&o, "checkpoint of a created container");
    assert!(
        stderr_str(&o).contains("cannot be checkpointed in created state"),
        "{}",
        describe(&o)
    );
}

#[test]
fn bad_flag_values_are_refused() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt);
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    let img = b.dir.join("i");
    let o = rt.run(&[
        "checkpoint",
        "--manage-cgroups-mode",
        "bogus",
        "--image-path",
        img.to_str().unwrap(),
        &id,
    ]);
    assert_fail1(&o, "bad --manage-cgroups-mode");
    // runc 1.1: "Invalid manage cgroups mode"; 1.3 and hull name the flag.
    let err = stderr_str(&o).to_lowercase().replace('-', " ");
    assert!(err.contains("manage cgroups mode"), "{}", describe(&o));
    let o = rt.run(&[
        "checkpoint",
        "--page-server",
        "nonsense",
        "--image-path",
        img.to_str().unwrap(),
        &id,
    ]);
    assert_fail1(&o, "bad --page-server");
    assert!(stderr_str(&o).contains("--page-server"), "{}", describe(&o));
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn restore_without_a_checkpoint_leaves_nothing() {
    let rt = Runtime::new();
    let (b, id) = sleeper(&rt);
    let empty: PathBuf = b.dir.join("no-images");
    std::fs::create_dir_all(&empty).unwrap();
    let o = rt.run(&[
        "restore",
        "-d",
        "--bundle",
        b.dir_str(),
        "--image-path",
        empty.to_str().unwrap(),
        &id,
    ]);
    assert_fail1(&o, "restore without images");
    assert_no_state(&rt, &id);
    assert_no_cgroup(&test_cgroups_path(&id));
}

/// What CRIU needs of every container's init, as runc's init does it: a session of its own
/// (a session leader outside the pid namespace cannot be dumped), and stdio that was the
/// host's /dev/null reopened as the container's /dev/null (an fd on a host mount cannot be).
#[test]
fn init_is_a_session_leader_with_the_containers_dev_null() {
    let rt = Runtime::new();
    let id = unique_id("crsid");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.set_readonly(false);
    // Detached (create/start) with stdin /dev/null: runc's foreground run would give pipes.
    let script = "read pid comm state ppid pgrp sid rest < /proc/$$/stat; r=\"sid=$sid pid=$pid\"; \
        [ \"$(stat -L -c %d:%i /proc/$$/fd/0)\" = \"$(stat -c %d:%i /dev/null)\" ] && r=\"$r stdin=container-null\"; \
        echo $r > /result.tmp; mv /result.tmp /result; sleep 300";
    b.set_args(&["sh", "-c", script]);
    b.save();
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    c.wait_file("/result", t());
    let out = std::fs::read_to_string(c.host_path("/result")).unwrap();
    assert!(
        out.contains("sid=1 pid=1"),
        "init is not its session's leader: {out}"
    );
    assert!(
        out.contains("stdin=container-null"),
        "stdin is the host's /dev/null: {out}"
    );
}
