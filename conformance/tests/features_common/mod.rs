//! Helpers shared by the in-container feature tests (`features_*.rs`): every setup feature
//! of config.json is checked from INSIDE the container, mostly with a foreground `run` of
//! busybox commands that print what they see, compared with the config.
//! Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use hull_conformance::*;
use serde_json::Value;
use std::time::Duration;

pub const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// local helpers
// ---------------------------------------------------------------------------

/// `run` `sh -c script` in a fresh container of `b`.
pub fn sh(rt: &Runtime, b: &mut Bundle, script: &str) -> (i32, String, String) {
    run_container(rt, b, &["sh", "-c", script])
}

/// Like [`sh`] but asserts exit 0 and returns stdout.
#[track_caller]
pub fn sh_ok(rt: &Runtime, b: &mut Bundle, script: &str) -> String {
    let (code, out, err) = sh(rt, b, script);
    assert_eq!(
        code, 0,
        "script {script:?} failed: code={code} stdout={out:?} stderr={err:?}"
    );
    out
}

pub fn set_namespaces(b: &mut Bundle, ns: Value) {
    b.config["linux"]["namespaces"] = ns;
}

/// Lines `key value` printed by the container -> map.
pub fn kv_lines(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

pub const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0u64, |m, n| {
        let n = n.trim_start_matches("CAP_");
        let bit = CAP_NAMES
            .iter()
            .position(|c| *c == n)
            .unwrap_or_else(|| panic!("unknown cap {n}"));
        m | (1u64 << bit)
    })
}

pub fn status_hex(status: &str, key: &str) -> u64 {
    let v = status_field(status, key).unwrap_or_else(|| panic!("{key} missing in {status}"));
    u64::from_str_radix(&v, 16).unwrap_or_else(|_| panic!("{key} not hex: {v}"))
}

/// A bundle with an idle init, created and started, with a test cgroups path.
pub fn idle_bundle(id: &str) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_args(&["sleep", "1000"]);
    b.save();
    b
}

pub const NS_KINDS: &[&str] = &["pid", "net", "ipc", "uts", "mnt", "cgroup"];

pub fn ns_script() -> String {
    NS_KINDS
        .iter()
        .map(|k| format!("echo {k} $(readlink /proc/self/ns/{k});"))
        .collect::<String>()
        + "echo selfpid $$"
}
