//! Plain dump and restore: the counter goes on after checkpoint/restore, from a paused
//! container, with --leave-running, after a pre-dump, in another state root (migration), in
//! the foreground with --pid-file/--work-path and a bind mount; hooks run again on restore.

use super::*;
use serde_json::json;
use std::io::Read;
use std::process::Stdio;

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn checkpoint_and_restore_keep_counting() {
    let _ = SID;
    let rt = Runtime::new();
    let id = unique_id("cr");
    let b = counting_bundle(&id, COUNTER);
    let (c, _pipes) = start_counter(&rt, &b, &id);
    let images = b.dir.join("images");
    rt.run_ok(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    // Without --leave-running the container is gone (runc deletes it too).
    assert_no_state(&rt, &id);
    let stopped_at = frozen_count(&b);
    let _restored = restore_detached(&rt, &b, &id, &images, &[]);
    // It continues from where it stopped, not from 1.
    let first = wait_count(&b, "restored counter runs", |n| n != stopped_at);
    assert!(
        first > stopped_at && first < stopped_at + 20,
        "restarted? {stopped_at} -> {first}"
    );
    wait_count(&b, "restored counter keeps counting", |n| n >= first + 3);
    check_normal_container(&c, &b);
}

/// A paused container can be checkpointed (runc too); restored, it runs.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn paused_container_checkpoints() {
    let rt = Runtime::new();
    let id = unique_id("crpause");
    let b = counting_bundle(&id, COUNTER);
    let (c, _pipes) = start_counter(&rt, &b, &id);
    rt.run_ok(&["pause", &id]);
    let images = b.dir.join("images");
    rt.run_ok(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    assert_no_state(&rt, &id);
    let stopped_at = frozen_count(&b);
    let _restored = restore_detached(&rt, &b, &id, &images, &[]);
    wait_count(&b, "restored counter runs", |n| n > stopped_at);
    check_normal_container(&c, &b);
}

/// prestart and createRuntime hooks run again on restore, once CRIU has made the namespaces
/// (runc: at CRIU's "setup-namespaces"), with the state of the container being restored.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn restore_runs_prestart_and_create_runtime_hooks() {
    let rt = Runtime::new();
    let id = unique_id("crhook");
    let mut b = counting_bundle(&id, COUNTER);
    let log = b.dir.join("hooks.log");
    let hook = |name: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat >> {}; echo ' {name}' >> {}", log.display(), log.display())]}]);
    b.config["hooks"] =
        json!({"prestart": hook("prestart"), "createRuntime": hook("createRuntime")});
    b.save();
    let (c, _pipes) = start_counter(&rt, &b, &id);
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines().len(), 2, "{:?}", lines());
    let images = b.dir.join("images");
    rt.run_ok(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    let _restored = restore_detached(&rt, &b, &id, &images, &[]);
    let l = lines();
    assert_eq!(l.len(), 4, "hooks did not run on restore: {l:?}");
    for (line, name) in l[2..].iter().zip(["prestart", "createRuntime"]) {
        assert!(line.ends_with(name), "{l:?}");
        assert!(line.contains(&format!("\"id\":\"{id}\"")), "{line}");
    }
    check_normal_container(&c, &b);
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn leave_running_keeps_the_container_and_its_image_restores() {
    let rt = Runtime::new();
    let id = unique_id("crl");
    let b = counting_bundle(&id, COUNTER);
    let (c, _pipes) = start_counter(&rt, &b, &id);
    let images = b.dir.join("images");
    rt.run_ok(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        images.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(c.status().as_deref(), Some("running"));
    let dumped_near = count(&b).unwrap();
    // It goes on counting after the dump.
    let later = wait_count(&b, "counter goes on after --leave-running", |n| {
        n >= dumped_near + 10
    });
    c.kill("KILL");
    c.wait_status("stopped", t());
    c.delete();
    let _restored = restore_detached(&rt, &b, &id, &images, &[]);
    // The restored process counts from the dump, below where the original got to.
    wait_count(&b, "restored from the earlier image", |n| n < later);
    check_normal_container(&c, &b);
}

/// Whether the kernel tracks dirty memory (soft-dirty), which a pre-dump needs.
fn kernel_tracks_dirty_memory() -> bool {
    std::process::Command::new("criu")
        .args(["check", "--feature", "mem_dirty_track"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn pre_dump_then_dump_with_parent_path() {
    let rt = Runtime::new();
    let id = unique_id("crp");
    let b = counting_bundle(&id, COUNTER);
    let (c, _pipes) = start_counter(&rt, &b, &id);
    let base = b.dir.join("images");
    let pre = base.join("pre");
    let fin = base.join("final");
    let o = rt.run(&[
        "checkpoint",
        "--pre-dump",
        "--image-path",
        pre.to_str().unwrap(),
        &id,
    ]);
    if !kernel_tracks_dirty_memory() {
        // This kernel has no soft-dirty tracking: CRIU cannot pre-dump, and the runtime must
        // say so (runc's words: "criu is missing features: [MemTrack]") and leave it running.
        assert_fail1(&o, "pre-dump without dirty memory tracking");
        assert!(stderr_str(&o).contains("MemTrack"), "{}", describe(&o));
        assert_eq!(c.status().as_deref(), Some("running"));
        return;
    }
    assert_ok(&o, "checkpoint --pre-dump");
    assert_eq!(
        c.status().as_deref(),
        Some("running"),
        "pre-dump leaves it running"
    );
    let after_pre = count(&b).unwrap();
    wait_count(&b, "counting after pre-dump", |n| n > after_pre + 2);
    rt.run_ok(&[
        "checkpoint",
        "--image-path",
        fin.to_str().unwrap(),
        "--parent-path",
        "../pre",
        &id,
    ]);
    assert!(
        fin.join("parent").exists(),
        "the dump does not link its parent pre-dump"
    );
    let stopped_at = frozen_count(&b);
    let _restored = restore_detached(&rt, &b, &id, &fin, &[]);
    let first = wait_count(&b, "restored after pre-dump", |n| n != stopped_at);
    assert!(first > stopped_at, "{stopped_at} -> {first}");
    check_normal_container(&c, &b);
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn restore_in_another_root_from_copied_images() {
    let rt = Runtime::new();
    let id = unique_id("crm");
    let b = counting_bundle(&id, COUNTER);
    let (_c, _pipes) = start_counter(&rt, &b, &id);
    let images = b.dir.join("images");
    rt.run_ok(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    let stopped_at = frozen_count(&b);
    // "Another host": a copy of the images, another state root.
    let copied = b.dir.join("copied");
    let st = std::process::Command::new("cp")
        .args(["-a", images.to_str().unwrap(), copied.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&images).unwrap();
    let rt2 = Runtime::new();
    let c2 = Container::with_id(&rt2, &b, &id);
    let _restored = restore_detached(&rt2, &b, &id, &copied, &[]);
    let first = wait_count(&b, "migrated counter runs", |n| n != stopped_at);
    assert!(
        first > stopped_at && first < stopped_at + 20,
        "{stopped_at} -> {first}"
    );
    assert!(
        rt.ids_in_root().is_empty(),
        "the old root still has the container"
    );
    check_normal_container(&c2, &b);
}

/// Foreground restore: hull waits for the restored init like `run`, returns its exit status
/// and deletes the container; `--pid-file` names the restored init; `--work-path` takes
/// CRIU's logs; a bind mount from the host is there again.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn foreground_restore_with_pid_file_work_path_and_bind_mount() {
    let rt = Runtime::new();
    let id = unique_id("crf");
    let mut b = counting_bundle(
        &id,
        "mkfifo /tick; exec 3<>/tick; \
        i=0; while :; do i=$((i+1)); echo $i >> /count; echo $i > /data/seen; read -t 0.1 x <&3; done",
    );
    let data = b.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": data.to_str().unwrap(), "options": ["rbind", "rw"]
    }));
    b.save();
    let (c, _pipes) = start_counter(&rt, &b, &id);
    assert!(
        poll_until(t(), || data.join("seen").exists()),
        "bind mount not written"
    );
    let images = b.dir.join("images");
    let work = b.dir.join("work");
    rt.run_ok(&[
        "checkpoint",
        "--image-path",
        images.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
        &id,
    ]);
    assert!(
        work.join("dump.log").exists() && !images.join("dump.log").exists(),
        "dump.log not in --work-path"
    );
    let stopped_at = frozen_count(&b);
    std::fs::remove_file(data.join("seen")).unwrap();
    let pid_file = b.dir.join("restored.pid");
    let mut cmd = rt.cmd(&[
        "restore",
        "--bundle",
        b.dir_str(),
        "--image-path",
        images.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut fg = cmd.spawn().expect("spawn restore");
    let ran = poll_until(t(), || {
        if let Some(st) = fg.try_wait().unwrap() {
            let mut err = String::new();
            let _ = fg.stderr.take().unwrap().read_to_string(&mut err);
            panic!("foreground restore ended early ({st}): {err}");
        }
        count(&b).is_some_and(|n| n != stopped_at)
    });
    assert!(ran, "the foreground-restored counter does not run");
    let first = count(&b).unwrap();
    assert!(
        first > stopped_at && first < stopped_at + 20,
        "{stopped_at} -> {first}"
    );
    assert!(
        work.join("restore.log").exists(),
        "restore.log not in --work-path"
    );
    // The host directory is bound again: the restored process writes into it.
    assert!(
        poll_until(t(), || data.join("seen").exists()),
        "bind mount missing after restore"
    );
    // Written once CRIU is done (the tasks may run a moment before).
    assert!(poll_until(t(), || pid_file.exists()), "no --pid-file");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, c.pid(), "--pid-file differs from the state's pid");
    assert!(
        fg.try_wait().unwrap().is_none(),
        "foreground restore returned early"
    );
    c.kill("KILL");
    let st = wait_child(&mut fg, t(), "foreground restore");
    assert_eq!(exit_code(&st), 137, "foreground restore exit status");
    assert_no_state(&rt, &id);
}
