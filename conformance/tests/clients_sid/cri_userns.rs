//! Kubernetes user-namespaced pods (`hostUsers: false`) through containerd 2.1's CRI, sent as
//! the kubelet (1.33+) sends them: the pod's and every container's NamespaceOption carry
//! `userns_options` (mode POD, a 65536-id range at a multiple of 65536 for uids and gids), and
//! every volume Mount carries the same range as `uidMappings`/`gidMappings` (KEP-127: volumes
//! are idmapped mounts). containerd makes the user namespace in the sandbox container (a new
//! `user` namespace with the maps), and each container joins it by path (the sandbox's
//! `/proc/<pid>/ns/user`); the rootfs layers are idmapped by containerd's overlayfs
//! snapshotter, the volumes by the runtime.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use k8s_cri::v1::*;

use crate::harness::util::{run_cmd, unique, Timer};

use super::cri::Cri;
use super::WAIT;

/// The pod's first host id: the kubelet hands out ranges of 65536 at multiples of 65536
/// above the host's own 0..65535.
const HOST_BASE: u32 = 65536 * 7;
const RANGE: u32 = 65536;

fn pod_range() -> Vec<IdMapping> {
    vec![IdMapping {
        host_id: HOST_BASE,
        container_id: 0,
        length: RANGE,
    }]
}

/// The kubelet's NamespaceOption.userns_options for a `hostUsers: false` pod.
fn userns_options() -> UserNamespace {
    UserNamespace {
        mode: NamespaceMode::Pod as i32,
        uids: pod_range(),
        gids: pod_range(),
    }
}

/// What the kubelet sets for a `hostUsers: false` pod and its containers: the user namespace
/// options, and the pod's own network namespace (a user-namespaced pod cannot use the
/// node's: containerd makes its network namespace inside the pod's user namespace).
fn set_userns(ns: &mut Option<NamespaceOption>) {
    if let Some(ns) = ns.as_mut() {
        ns.network = NamespaceMode::Pod as i32;
        ns.userns_options = Some(userns_options());
    }
}

/// The `pid` containerd reports in a verbose status's `info` JSON.
fn info_pid(info: &std::collections::HashMap<String, String>, what: &str) -> i32 {
    let raw = info
        .get("info")
        .unwrap_or_else(|| panic!("{what}: verbose status without info: {info:?}"));
    let v: serde_json::Value =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("{what} info JSON: {e}: {raw}"));
    v["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("{what} info without a pid: {raw}")) as i32
}

fn container_pid(cri: &Cri, id: &str) -> i32 {
    let req = ContainerStatusRequest {
        container_id: id.into(),
        verbose: true,
    };
    let r = cri.call("ContainerStatus", |mut c| async move {
        c.container_status(req).await
    });
    info_pid(&r.info, "container")
}

fn sandbox_pid(cri: &Cri, pod: &str) -> i32 {
    let req = PodSandboxStatusRequest {
        pod_sandbox_id: pod.into(),
        verbose: true,
    };
    let r = cri.call("PodSandboxStatus", |mut c| async move {
        c.pod_sandbox_status(req).await
    });
    info_pid(&r.info, "sandbox")
}

/// The real uid and gid of host process `pid`, from /proc/<pid>/status.
fn host_ids(pid: i32) -> (u32, u32) {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let field = |name: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("Uid:"), field("Gid:"))
}

fn user_ns(pid: i32) -> String {
    fs::read_link(format!("/proc/{pid}/ns/user"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/user: {e}"))
        .to_string_lossy()
        .into_owned()
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (m.uid(), m.gid())
}

/// A hostPath volume as the kubelet passes it for a user-namespaced pod: idmapped with the
/// pod's range.
fn idmapped_volume(host: &Path, container: &str) -> Mount {
    Mount {
        container_path: container.into(),
        host_path: host.to_string_lossy().into_owned(),
        propagation: MountPropagation::PropagationPrivate as i32,
        uid_mappings: pod_range(),
        gid_mappings: pod_range(),
        ..Default::default()
    }
}

/// A `hostUsers: false` pod: its containers are root inside and HOST_BASE outside, share the
/// pod's user namespace, read and write an idmapped hostPath volume that sits under a
/// root-only (0700) host directory (files they create are owned on the host by the ids they
/// have inside, as Kubernetes expects of idmapped volumes), see an idmapped file volume and a
/// read-only idmapped tmpfs volume (a secret), and ExecSync works in them.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn cri_userns_pod_idmapped_host_path_and_exec() {
    let _t = Timer::new("cri_userns_pod_idmapped_host_path_and_exec");
    let cri = Cri::start();
    // The kubelet only admits a hostUsers:false pod on a handler whose features say so; the
    // CRI plugin derives them from the runtime's `features` (idmapped mounts).
    let req = StatusRequest { verbose: false };
    let st = cri.call("Status", |mut c| async move { c.status(req).await });
    let handler = st
        .runtime_handlers
        .iter()
        .find(|h| h.name == super::cri::HANDLER);
    assert!(
        handler
            .and_then(|h| h.features.as_ref())
            .is_some_and(|f| f.user_namespaces),
        "the {} handler must report user namespaces: {:?}",
        super::cri::HANDLER,
        st.runtime_handlers
    );

    // /<ctd dir>/private (root 0700) /vol (root 0755) /from-host (root 0644). Only the host's
    // root can reach the volume: it must be opened with the runtime's host credentials.
    let private = cri.ctd.dir().join("private");
    let vol = private.join("vol");
    fs::create_dir_all(&vol).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&vol, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(vol.join("from-host"), "host data\n").unwrap();
    fs::set_permissions(vol.join("from-host"), fs::Permissions::from_mode(0o644)).unwrap();
    // The kubelet's other volumes: a file (etc-hosts) and a secret on a tmpfs, read-only,
    // whose 0400 root file only the container's root may read (through the idmap).
    let hosts = private.join("etc-hosts");
    fs::write(&hosts, "127.0.0.1 localhost\n10.88.0.2 hull-userns-pod\n").unwrap();
    let secret = private.join("secret");
    fs::create_dir_all(&secret).unwrap();
    let o = run_cmd(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0755", "hull-secret"])
            .arg(&secret),
        &cri.ctd.dir().join("io"),
        WAIT,
    );
    assert_eq!(o.code(), 0, "{}", o.describe());
    fs::write(secret.join("token"), "s3cret\n").unwrap();
    fs::set_permissions(secret.join("token"), fs::Permissions::from_mode(0o400)).unwrap();

    let pod_name = unique("pod");
    let mut pod_cfg = cri.pod_config(&pod_name, false);
    if let Some(sc) = pod_cfg
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
    {
        set_userns(&mut sc.namespace_options);
    }
    let pod = cri.run_pod(&pod_cfg);
    let spid = sandbox_pid(&cri, &pod);
    assert_eq!(
        host_ids(spid),
        (HOST_BASE, HOST_BASE),
        "the sandbox runs as the pod's root"
    );

    let container = |name: &str, run_as: Option<i64>| {
        let mut cfg = cri.container_config(name, "echo started; exec sleep 1000");
        let mut secret_mount = idmapped_volume(&secret, "/var/run/secrets/hull");
        secret_mount.readonly = true;
        cfg.mounts = vec![
            idmapped_volume(&vol, "/vol"),
            idmapped_volume(&hosts, "/etc/hosts"),
            secret_mount,
        ];
        if let Some(sc) = cfg.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
            set_userns(&mut sc.namespace_options);
            if let Some(uid) = run_as {
                sc.run_as_user = Some(Int64Value { value: uid });
                sc.run_as_group = Some(Int64Value { value: uid });
            }
        }
        let id = cri.create_start(&pod, &pod_cfg, cfg);
        cri.wait_state(&id, ContainerState::ContainerRunning, WAIT);
        id
    };
    let root_ctr = container("root", None);
    let user_ctr = container("user", Some(1000));

    // Root inside, HOST_BASE outside, in the pod's user namespace.
    let rpid = container_pid(&cri, &root_ctr);
    assert_eq!(host_ids(rpid), (HOST_BASE, HOST_BASE));
    assert_eq!(
        user_ns(rpid),
        user_ns(spid),
        "container not in the pod's userns"
    );
    let upid = container_pid(&cri, &user_ctr);
    assert_eq!(host_ids(upid), (HOST_BASE + 1000, HOST_BASE + 1000));
    assert_eq!(
        user_ns(upid),
        user_ns(spid),
        "container not in the pod's userns"
    );

    let script = r#"
        echo id=$(id -u):$(id -g)
        echo uid_map $(cat /proc/self/uid_map)
        echo gid_map $(cat /proc/self/gid_map)
        echo image=$(stat -c %u:%g /bin)
        echo host=$(stat -c %u:%g /vol/from-host):$(cat /vol/from-host)
        echo made-by-root > /vol/by-root && mkdir /vol/dir-by-root && echo wrote
        echo hosts=$(stat -c %u:%g /etc/hosts):$(grep -c hull-userns-pod /etc/hosts)
        echo secret=$(stat -c %u:%g:%a /var/run/secrets/hull/token):$(cat /var/run/secrets/hull/token)
        if touch /var/run/secrets/hull/x 2>/dev/null; then echo secret-rw; else echo secret-ro; fi
    "#;
    let (code, out, err) = cri.exec_sync(&root_ctr, &["sh", "-c", script]);
    assert_eq!(code, 0, "stdout {out:?} stderr {err:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "id=0:0",
            &format!("uid_map 0 {HOST_BASE} {RANGE}"),
            &format!("gid_map 0 {HOST_BASE} {RANGE}"),
            // containerd idmaps the image layers: the image's root files are root's.
            "image=0:0",
            // The idmapped volume shows the host's root files as the container's root's.
            "host=0:0:host data",
            "wrote",
            "hosts=0:0:1",
            "secret=0:0:400:s3cret",
            "secret-ro",
        ],
        "stderr {err:?}"
    );
    // Through the idmapped mount the container's root writes as the host's root (the
    // mapping taken back), not as HOST_BASE.
    assert_eq!(owner(&vol.join("by-root")), (0, 0));
    assert_eq!(owner(&vol.join("dir-by-root")), (0, 0));
    assert_eq!(
        fs::read_to_string(vol.join("by-root")).unwrap(),
        "made-by-root\n"
    );

    // A non-root container user (1000 inside, HOST_BASE+1000 outside) owns what it creates as
    // 1000 on the host, and root's files stay root's to it.
    fs::set_permissions(&vol, fs::Permissions::from_mode(0o777)).unwrap();
    let (code, out, err) = cri.exec_sync(
        &user_ctr,
        &[
            "sh",
            "-c",
            "echo id=$(id -u); echo by-user > /vol/by-user && stat -c %u:%g /vol/by-root; \
             if echo x >> /vol/by-root 2>/dev/null; then echo wrote-root-file; fi",
        ],
    );
    assert_eq!(code, 0, "stdout {out:?} stderr {err:?}");
    assert_eq!(out, "id=1000\n0:0\n", "stderr {err:?}");
    assert_eq!(owner(&vol.join("by-user")), (1000, 1000));

    cri.stop_remove_container(&root_ctr, 0);
    cri.stop_remove_container(&user_ctr, 0);
    cri.stop_remove_pod(&pod)
        .unwrap_or_else(|e| panic!("stop/remove pod: {e}"));
}

/// The masked and read-only paths the kubelet sends for every container (its defaults for
/// the Default proc mount type).
const KUBELET_MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const KUBELET_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `shareProcessNamespace: true` with `hostUsers: false`: the container joins the pod's pid
/// namespace and user namespace by path (the pid namespace belongs to the pod's user
/// namespace), sees the sandbox as pid 1, and the kubelet's default masked and read-only
/// paths and a read-only root filesystem apply inside the user namespace.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn cri_userns_pod_shared_pid_namespace_and_default_paths() {
    let _t = Timer::new("cri_userns_pod_shared_pid_namespace_and_default_paths");
    let cri = Cri::start();
    let shared = |ns: &mut Option<NamespaceOption>| {
        set_userns(ns);
        if let Some(ns) = ns.as_mut() {
            ns.pid = NamespaceMode::Pod as i32;
        }
    };
    let pod_name = unique("pod");
    let mut pod_cfg = cri.pod_config(&pod_name, false);
    if let Some(sc) = pod_cfg
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
    {
        shared(&mut sc.namespace_options);
    }
    let pod = cri.run_pod(&pod_cfg);
    let spid = sandbox_pid(&cri, &pod);

    let mut cfg = cri.container_config("shared", "exec sleep 1000");
    if let Some(sc) = cfg.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        shared(&mut sc.namespace_options);
        sc.masked_paths = KUBELET_MASKED.iter().map(|s| s.to_string()).collect();
        sc.readonly_paths = KUBELET_READONLY.iter().map(|s| s.to_string()).collect();
        sc.readonly_rootfs = true;
    }
    let id = cri.create_start(&pod, &pod_cfg, cfg);
    cri.wait_state(&id, ContainerState::ContainerRunning, WAIT);
    let cpid = container_pid(&cri, &id);
    assert_eq!(host_ids(cpid), (HOST_BASE, HOST_BASE));
    assert_eq!(
        user_ns(cpid),
        user_ns(spid),
        "container not in the pod's userns"
    );
    let pid_ns = |pid: i32| fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_eq!(
        pid_ns(cpid),
        pid_ns(spid),
        "container not in the pod's pid namespace"
    );

    let script = r#"
        echo pid1=$(tr '\0' ' ' < /proc/1/cmdline)
        echo keys=$(stat -c %t:%T /proc/keys) firmware=$(ls /sys/firmware | wc -l)
        if echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; then echo sys=rw; else echo sys=ro; fi
        echo uid_map $(cat /proc/self/uid_map)
        if touch /x 2>/dev/null; then echo root=rw; else echo root=ro; fi
    "#;
    let (code, out, err) = cri.exec_sync(&id, &["sh", "-c", script]);
    assert_eq!(code, 0, "stdout {out:?} stderr {err:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "pid1=sleep 999999999",
            "keys=1:3 firmware=0",
            "sys=ro",
            &format!("uid_map 0 {HOST_BASE} {RANGE}"),
            "root=ro",
        ],
        "stderr {err:?}"
    );
    cri.stop_remove_container(&id, 0);
    cri.stop_remove_pod(&pod)
        .unwrap_or_else(|e| panic!("stop/remove pod: {e}"));
}
