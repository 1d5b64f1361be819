//! docker 28 with `--runtime hull`.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::checks::{
    check_exec_report, check_missing_binary, check_report, EXEC_REPORT, REPORT,
};
use crate::harness::util::{assert_cgroup_value, pid_alive, run_cmd, unique, wait_for, Timer};

use super::docker::Dockerd;
use super::WAIT;

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn docker28_run_logs_exec_top_stats_pause_update_stop_restart() {
    let _t = Timer::new("docker28_run_logs_exec_top_stats_pause_update_stop_restart");
    let d = Dockerd::start();
    let img = d.import_busybox();

    check_report(d.run(&["--rm", img, "sh", "-c", REPORT]));
    // docker maps "executable file not found" from the runtime to 127.
    check_missing_binary(&d.run(&["--rm", img, "/no/such/binary"]), Some(127));

    let name = unique("det");
    d.run(&[
        "-d",
        "--name",
        &name,
        "--memory",
        "64m",
        img,
        "sh",
        "-c",
        "echo started; trap 'echo got-term; exit 0' TERM; sleep 1000 & wait",
    ])
    .ok();
    wait_for(WAIT, "docker logs", || {
        d.docker(&["logs", &name])
            .ok()
            .stdout
            .contains("started")
            .then_some(())
    });
    let pid: i32 = d.inspect(&name, "{{.State.Pid}}").parse().unwrap_or(0);
    assert!(pid > 0 && pid_alive(pid), "container pid {pid}");

    let mut exec = vec!["exec", name.as_str()];
    exec.extend_from_slice(EXEC_REPORT);
    check_exec_report(d.docker(&exec), "sh -c echo started");
    let o = d.docker(&["top", &name]).ok();
    assert!(o.stdout.contains("sleep 1000"), "{}", o.describe());
    let o = d
        .docker(&["stats", "--no-stream", "--format", "{{json .}}", &name])
        .ok();
    let v: serde_json::Value = serde_json::from_str(o.out().lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("stats not JSON: {e}\n{}", o.describe()));
    assert_eq!(v["PIDs"].as_str(), Some("2"), "{v}");
    assert!(
        v["MemUsage"].as_str().unwrap_or("").ends_with("/ 64MiB"),
        "{v}"
    );

    d.docker(&["pause", &name]).ok();
    assert_eq!(d.inspect(&name, "{{.State.Status}}"), "paused");
    d.docker(&["unpause", &name]).ok();
    assert_eq!(d.inspect(&name, "{{.State.Status}}"), "running");

    d.docker(&["update", "--memory", "96m", &name]).ok();
    let rel = d.cgroup_rel(&name);
    assert_cgroup_value(
        &rel,
        "memory",
        ("memory.limit_in_bytes", "100663296"),
        ("memory.max", "100663296"),
    );

    // stop: the TERM trap exits 0 at once, well inside the 10 s grace period.
    let t0 = Instant::now();
    d.docker(&["stop", "-t", "10", &name]).ok();
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "stop took {:?}",
        t0.elapsed()
    );
    assert_eq!(d.inspect(&name, "{{.State.ExitCode}}"), "0");
    assert!(d.docker(&["logs", &name]).ok().stdout.contains("got-term"));
    assert!(!pid_alive(pid), "pid {pid} survived stop");

    d.docker(&["restart", "-t", "1", &name]).ok();
    assert_eq!(d.inspect(&name, "{{.State.Status}}"), "running");
    let pid2: i32 = d.inspect(&name, "{{.State.Pid}}").parse().unwrap_or(0);
    assert!(
        pid2 > 0 && pid2 != pid && pid_alive(pid2),
        "restart: pid {pid2}"
    );
    d.docker(&["rm", "-f", &name]).ok();
    wait_for(WAIT, "the container's cgroup removed", || {
        crate::harness::util::cgroup_dirs(&rel)
            .is_empty()
            .then_some(())
    });
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn docker28_readonly_tmpfs_volume_network_none_init_export() {
    let _t = Timer::new("docker28_readonly_tmpfs_volume_network_none_init_export");
    let d = Dockerd::start();
    let img = d.import_busybox();
    let share = d.dir().join("share");
    fs::create_dir_all(&share).unwrap();
    fs::write(share.join("hello"), "from-host\n").unwrap();
    let vol = format!("{}:/data", share.display());
    let script = r#"
        if touch /x 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi
        echo scratch > /scratch/f && echo scratch=$(cat /scratch/f)
        grep -q ' /scratch tmpfs ' /proc/mounts && echo scratch=tmpfs
        cat /data/hello; echo from-container > /data/back
        echo net=$(ls /sys/class/net | tr '\n' ' ')
        echo pid1=$(tr '\0' ' ' < /proc/1/cmdline)
    "#;
    let o = d
        .run(&[
            "--rm",
            "--read-only",
            "--tmpfs",
            "/scratch:size=1m",
            "-v",
            &vol,
            "--init",
            img,
            "sh",
            "-c",
            script,
        ])
        .ok();
    let lines = o.lines();
    for want in [
        "rootfs=ro",
        "scratch=scratch",
        "scratch=tmpfs",
        "from-host",
        "net=lo",
    ] {
        assert!(
            lines.iter().any(|l| l == want),
            "missing {want:?}\n{}",
            o.describe()
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("pid1=/sbin/docker-init")),
        "--init: pid 1 is not docker-init\n{}",
        o.describe()
    );
    assert_eq!(
        fs::read_to_string(share.join("back")).unwrap_or_default(),
        "from-container\n"
    );

    // export: the container's filesystem as the runtime left it.
    let name = unique("exp");
    d.run(&[
        "--name",
        &name,
        img,
        "sh",
        "-c",
        "echo made > /made-in-container",
    ])
    .ok();
    let tar = d.dir().join("export.tar");
    d.docker(&["export", "-o", &tar.to_string_lossy(), &name])
        .ok();
    let o = run_cmd(
        Command::new("tar").arg("-tf").arg(&tar),
        &d.dir().join("io"),
        WAIT,
    );
    assert!(
        o.stdout
            .lines()
            .any(|l| l.trim_start_matches("./") == "made-in-container"),
        "{}",
        o.describe()
    );
    d.docker(&["rm", &name]).ok();
}
