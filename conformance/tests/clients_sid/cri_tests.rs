//! containerd 2.1's CRI plugin (as the kubelet drives it) running hull as a runtime handler.

use std::fs;
use std::process::Command;

use k8s_cri::v1::*;

use crate::harness::util::{cgroup_dirs, run_cmd, unique, wait_for, Timer};

use super::cri::Cri;
use super::WAIT;

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn cri_pod_container_exec_stats_stop_remove() {
    let _t = Timer::new("cri_pod_container_exec_stats_stop_remove");
    let cri = Cri::start();
    let pod_name = unique("pod");
    let pod_cfg = cri.pod_config(&pod_name, false);
    let pod = cri.run_pod(&pod_cfg);

    let mut cfg = cri.container_config(
        "main",
        "echo started; trap 'echo got-term; exit 0' TERM; while :; do sleep 0.2; done",
    );
    cfg.envs = vec![KeyValue {
        key: "FOO".into(),
        value: "bar".into(),
    }];
    if let Some(l) = cfg.linux.as_mut() {
        l.resources = Some(LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_period: 100000,
            cpu_quota: 50000,
            ..Default::default()
        });
    }
    let id = cri.create_start(&pod, &pod_cfg, cfg);
    cri.wait_state(&id, ContainerState::ContainerRunning, WAIT);

    // ExecSync: output, exit status, the container's environment and pid namespace.
    let (code, out, err) = cri.exec_sync(
        &id,
        &[
            "sh",
            "-c",
            "echo foo=$FOO; echo err >&2; cat /proc/1/cmdline | tr '\\0' ' '; exit 3",
        ],
    );
    assert_eq!(code, 3, "exec status; stdout {out:?} stderr {err:?}");
    assert!(out.starts_with("foo=bar\n"), "exec stdout {out:?}");
    assert!(
        out.contains("sh -c echo started"),
        "exec does not see pid 1: {out:?}"
    );
    assert_eq!(err, "err\n");
    // (Masked paths: the kubelet sends the defaults; see cri_masked_and_readonly_paths.)

    // The limits landed in the container's cgroup, and ContainerStats reads it.
    let rel = format!("{}/{id}", cri.cgroup_parent);
    let mem = fs::read_to_string(format!("/sys/fs/cgroup/memory/{rel}/memory.limit_in_bytes"))
        .or_else(|_| fs::read_to_string(format!("/sys/fs/cgroup/{rel}/memory.max")))
        .unwrap_or_else(|e| panic!("memory limit of {rel}: {e}"));
    assert_eq!(mem.trim(), (64u64 << 20).to_string());
    let stats = wait_for(WAIT, "container stats with memory usage", || {
        let req = ContainerStatsRequest {
            container_id: id.clone(),
        };
        let s = cri
            .call("ContainerStats", |mut c| async move {
                c.container_stats(req).await
            })
            .stats?;
        let used = s.memory.as_ref()?.usage_bytes.as_ref()?.value;
        (used > 0).then_some(s)
    });
    assert_eq!(
        stats.attributes.as_ref().map(|a| a.id.as_str()),
        Some(id.as_str())
    );
    assert!(
        stats
            .cpu
            .as_ref()
            .and_then(|c| c.usage_core_nano_seconds.as_ref())
            .is_some(),
        "no cpu usage in stats: {stats:?}"
    );

    // StopContainer: SIGTERM, the trap exits 0; the log has the container's output.
    let req = StopContainerRequest {
        container_id: id.clone(),
        timeout: 10,
    };
    cri.call("StopContainer", |mut c| async move {
        c.stop_container(req).await
    });
    let st = cri.wait_state(&id, ContainerState::ContainerExited, WAIT);
    assert_eq!(st.exit_code, 0, "{st:?}");
    let log = cri.container_log(&pod_name, "main");
    assert!(
        log.contains("stdout F started") && log.contains("got-term"),
        "log: {log:?}"
    );
    let req = RemoveContainerRequest {
        container_id: id.clone(),
    };
    cri.call("RemoveContainer", |mut c| async move {
        c.remove_container(req).await
    });
    wait_for(WAIT, "the container's cgroup removed", || {
        cgroup_dirs(&rel).is_empty().then_some(())
    });
    cri.stop_remove_pod(&pod)
        .unwrap_or_else(|e| panic!("stop/remove pod: {e}"));
    let req = ListContainersRequest::default();
    let left = cri.call("ListContainers", |mut c| async move {
        c.list_containers(req).await
    });
    assert!(
        left.containers.is_empty(),
        "containers left: {:?}",
        left.containers
    );
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn cri_masked_and_readonly_paths() {
    let _t = Timer::new("cri_masked_and_readonly_paths");
    let cri = Cri::start();
    let pod_name = unique("pod");
    let pod_cfg = cri.pod_config(&pod_name, false);
    let pod = cri.run_pod(&pod_cfg);
    let mut cfg = cri.container_config("masked", "sleep 1000");
    if let Some(sc) = cfg.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        // A file, a directory with content, and a readonly directory of the image.
        sc.masked_paths = vec!["/proc/keys".into(), "/proc/sys/fs".into(), "/etc".into()];
        sc.readonly_paths = vec!["/proc/sys".into(), "/tmp".into()];
    }
    let id = cri.create_start(&pod, &pod_cfg, cfg);
    cri.wait_state(&id, ContainerState::ContainerRunning, WAIT);
    let script = r#"
        echo keys=$(stat -c %t:%T /proc/keys)
        echo fs=$(ls /proc/sys/fs | wc -l)
        echo etc=$(ls /etc | wc -l)
        if touch /tmp/x 2>/dev/null; then echo tmp=rw; else echo tmp=ro; fi
        if touch /x 2>/dev/null; then echo root=rw; else echo root=ro; fi
    "#;
    let (code, out, err) = cri.exec_sync(&id, &["sh", "-c", script]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["keys=1:3", "fs=0", "etc=0", "tmp=ro", "root=rw"],
        "{err}"
    );
    cri.stop_remove_container(&id, 0);
}

/// A Bidirectional mount makes containerd ask for `rootfsPropagation: rshared`. Passes with
/// runc 1.3.6; hull fails it today: `create` answers "pivot_root: Invalid argument (os error
/// 22)" when the rootfs propagation is shared (a fix is under way).
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn cri_bidirectional_host_path_mount() {
    let _t = Timer::new("cri_bidirectional_host_path_mount");
    let cri = Cri::start();
    // The kubelet's rule: a Bidirectional host path must sit on a shared mount.
    let host = cri.ctd.dir().join("shared");
    fs::create_dir_all(host.join("sub")).unwrap();
    let io = cri.ctd.dir().join("io");
    for args in [vec!["--bind"], vec!["--make-shared"]] {
        let o = run_cmd(
            Command::new("mount")
                .args(&args)
                .arg(&host)
                .args(if args[0] == "--bind" {
                    vec![host.clone()]
                } else {
                    vec![]
                }),
            &io,
            WAIT,
        );
        assert_eq!(o.code(), 0, "{}", o.describe());
    }
    let pod_name = unique("pod");
    let pod_cfg = cri.pod_config(&pod_name, true);
    let pod = cri.run_pod(&pod_cfg);
    let mut cfg = cri.container_config(
        "rshared",
        "mount -t tmpfs -o size=1m hull-bidir /shared/sub && echo mounted; sleep 1000",
    );
    cfg.mounts = vec![Mount {
        container_path: "/shared".into(),
        host_path: host.to_string_lossy().into_owned(),
        propagation: MountPropagation::PropagationBidirectional as i32,
        ..Default::default()
    }];
    if let Some(sc) = cfg.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        sc.privileged = true;
    }
    let id = cri.create_start(&pod, &pod_cfg, cfg);
    cri.wait_state(&id, ContainerState::ContainerRunning, WAIT);
    // The container's mount propagates back to the host.
    let sub = host.join("sub");
    wait_for(WAIT, "the container's tmpfs on the host", || {
        let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        mi.lines()
            .any(|l| l.contains(&format!(" {} ", sub.display())) && l.contains("hull-bidir"))
            .then_some(())
    });
    cri.stop_remove_container(&id, 0);
}

/// Issue 13: a container sharing the pod's pid namespace exits; the runc shim then sends
/// `kill --all` to the stopped container, which must succeed (runc: exit 0), so containerd
/// logs no "failed to kill init's children".
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn cri_shared_pid_namespace_exit_logs_no_killall_error() {
    let _t = Timer::new("cri_shared_pid_namespace_exit_logs_no_killall_error");
    let cri = Cri::start();
    let pod_name = unique("pod");
    let mut pod_cfg = cri.pod_config(&pod_name, false);
    let ns_pod = |ns: &mut Option<NamespaceOption>| {
        if let Some(ns) = ns.as_mut() {
            ns.pid = NamespaceMode::Pod as i32;
        }
    };
    if let Some(sc) = pod_cfg
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
    {
        ns_pod(&mut sc.namespace_options);
    }
    let pod = cri.run_pod(&pod_cfg);
    let mut cfg = cri.container_config(
        "shortlived",
        "echo pid1=$(tr '\\0' ' ' < /proc/1/cmdline); sleep 0.5; exit 7",
    );
    if let Some(sc) = cfg.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        ns_pod(&mut sc.namespace_options);
    }
    let id = cri.create_start(&pod, &pod_cfg, cfg);
    let st = cri.wait_state(&id, ContainerState::ContainerExited, WAIT);
    assert_eq!(st.exit_code, 7, "{st:?}");
    // In the pod's pid namespace the sandbox's sleep is pid 1, not the container.
    let log = cri.container_log(&pod_name, "shortlived");
    assert!(
        log.contains("pid1=sleep 999999999"),
        "pid namespace not shared: {log:?}"
    );
    let req = RemoveContainerRequest {
        container_id: id.clone(),
    };
    cri.call("RemoveContainer", |mut c| async move {
        c.remove_container(req).await
    });
    cri.stop_remove_pod(&pod)
        .unwrap_or_else(|e| panic!("stop/remove pod: {e}"));
    let bad: Vec<String> = cri
        .log()
        .lines()
        .filter(|l| l.contains("killall") || l.contains("failed to kill init's children"))
        .map(str::to_string)
        .collect();
    assert!(
        bad.is_empty(),
        "containerd logged kill --all errors:\n{}",
        bad.join("\n")
    );
}
