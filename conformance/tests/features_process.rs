//! Setup features checked from inside the container: the process (args, env, cwd, user and
//! groups, umask, rlimits, capabilities, no_new_privs, oom_score_adj) and seccomp.

mod features_common;

use features_common::*;
use hull_conformance::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;

fn cap_list(names: &[&str]) -> Value {
    json!(names.iter().map(|n| format!("CAP_{n}")).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------
// process
// ---------------------------------------------------------------------------

#[test]
fn process_args_are_passed_verbatim() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, out, err) = run_container(
        &rt,
        &mut b,
        &[
            "sh",
            "-c",
            "for a in \"$0\" \"$@\"; do echo \"[$a]\"; done",
            "zero",
            "a b",
            "",
            "*",
            "'q'",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "[zero]\n[a b]\n[]\n[*]\n['q']\n");
}

#[test]
fn process_env_exact_and_home_default() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.add_env("FOO=bar baz");
    b.add_env("EMPTY=");
    let (code, out, err) = run_container(&rt, &mut b, &["env"]);
    assert_eq!(code, 0, "{err}");
    let got: BTreeSet<&str> = out.lines().collect();
    let want: BTreeSet<&str> = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
        "FOO=bar baz",
        "EMPTY=",
        "HOME=/root",
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "environment of the container process");

    // HOME from /etc/passwd for uid 1000; an explicit HOME wins; unknown uid -> "/"
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    let (_, out, _) = run_container(&rt, &mut b, &["env"]);
    assert!(out.lines().any(|l| l == "HOME=/home/user"), "{out}");
    b.add_env("HOME=/custom");
    let (_, out, _) = run_container(&rt, &mut b, &["env"]);
    let homes: Vec<&str> = out.lines().filter(|l| l.starts_with("HOME=")).collect();
    assert_eq!(homes, vec!["HOME=/custom"], "{out}");
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e != "HOME=/custom");
    b.config["process"]["user"] = json!({ "uid": 4242, "gid": 4242 });
    let (_, out, _) = run_container(&rt, &mut b, &["env"]);
    assert!(out.lines().any(|l| l == "HOME=/"), "{out}");
}

#[test]
fn process_cwd() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["cwd"] = json!("/home/user");
    let out = sh_ok(&rt, &mut b, "pwd; echo $PWD");
    assert_eq!(out.lines().next(), Some("/home/user"), "{out}");
}

#[test]
fn process_user_and_additional_gids() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000, "additionalGids": [5, 2000] });
    let out = sh_ok(
        &rt,
        &mut b,
        "echo uid $(id -u); echo gid $(id -g); echo name $(id -un); grep -E '^(Uid|Gid|Groups):' /proc/self/status",
    );
    let m = kv_lines(&out);
    assert_eq!(m["uid"], "1000");
    assert_eq!(m["gid"], "1000");
    assert_eq!(m["name"], "user");
    let uid_line = status_field(&out, "Uid").unwrap();
    assert!(
        uid_line.split_whitespace().all(|u| u == "1000"),
        "real/effective/saved/fs uid: {uid_line}"
    );
    let gid_line = status_field(&out, "Gid").unwrap();
    assert!(
        gid_line.split_whitespace().all(|g| g == "1000"),
        "gids: {gid_line}"
    );
    let groups: BTreeSet<String> = status_field(&out, "Groups")
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = ["5", "2000"].iter().map(|s| s.to_string()).collect();
    assert_eq!(groups, want, "{out}");
}

#[test]
fn process_umask() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let out = sh_ok(&rt, &mut b, "umask");
    assert_eq!(out.trim(), "0022", "default umask");
    b.config["process"]["user"]["umask"] = json!(0o077);
    b.set_readonly(false);
    let out = sh_ok(&rt, &mut b, "umask; touch /tmp/f; stat -c %a /tmp/f");
    assert_eq!(out, "0077\n600\n");
}

fn own_rlimit(res: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit into a local.
    assert_eq!(unsafe { libc::getrlimit(res, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

/// (soft, hard) of a row of /proc/self/limits.
fn limits_row(limits: &str, name: &str) -> (String, String) {
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} not in {limits}"));
    let mut f = line[name.len()..].split_whitespace();
    (f.next().unwrap().into(), f.next().unwrap().into())
}

#[test]
fn process_rlimits() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (_, nofile_hard) = own_rlimit(libc::RLIMIT_NOFILE);
    let hard = nofile_hard.min(4096);
    let soft = hard / 2;
    b.config["process"]["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": soft, "hard": hard },
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 1048576 },
        { "type": "RLIMIT_NICE", "soft": 0, "hard": 0 }
    ]);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/limits; echo n $(ulimit -n)");
    assert_eq!(
        limits_row(&out, "Max open files"),
        (soft.to_string(), hard.to_string()),
        "{out}"
    );
    assert_eq!(
        limits_row(&out, "Max core file size"),
        ("0".into(), "1048576".into()),
        "{out}"
    );
    assert_eq!(
        limits_row(&out, "Max nice priority"),
        ("0".into(), "0".into())
    );
    assert!(out.contains(&format!("n {soft}")), "{out}");
}

#[test]
fn rlimit_above_hard_limit_is_refused() {
    // Raising a hard limit above ours fails without CAP_SYS_RESOURCE (the dev host); above
    // fs.nr_open it fails even with it (a VM's root): either way create must fail, cleanly.
    let rt = Runtime::new();
    let id = unique_id("rlim");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    let (_, hard) = own_rlimit(libc::RLIMIT_NOFILE);
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let too_high = hard.max(nr_open) + 1;
    b.config["process"]["rlimits"] =
        json!([{ "type": "RLIMIT_NOFILE", "soft": too_high, "hard": too_high }]);
    b.save();
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    assert_fail1(&o, "rlimit above our hard limit");
    assert_no_state(&rt, &id);
    assert!(poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()));
}

#[test]
fn capabilities_exact_non_root() {
    // For a non-root process the sets after execve are a fixed point when
    // permitted == effective == ambient ⊆ inheritable ⊆ bounding.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let bnd = [
        "CHOWN",
        "DAC_OVERRIDE",
        "KILL",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SYS_ADMIN",
    ];
    let inh = ["KILL", "NET_BIND_SERVICE", "NET_RAW"];
    let amb = ["KILL", "NET_BIND_SERVICE"];
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.config["process"]["capabilities"] = json!({
        "bounding": cap_list(&bnd),
        "inheritable": cap_list(&inh),
        "permitted": cap_list(&amb),
        "effective": cap_list(&amb),
        "ambient": cap_list(&amb),
    });
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_hex(&out, "CapBnd"), cap_mask(&bnd), "CapBnd");
    assert_eq!(status_hex(&out, "CapInh"), cap_mask(&inh), "CapInh");
    assert_eq!(status_hex(&out, "CapPrm"), cap_mask(&amb), "CapPrm");
    assert_eq!(status_hex(&out, "CapEff"), cap_mask(&amb), "CapEff");
    assert_eq!(status_hex(&out, "CapAmb"), cap_mask(&amb), "CapAmb");
}

#[test]
fn capabilities_exact_root() {
    // Root: all five sets as configured when they are equal.
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let caps = [
        "CHOWN",
        "FOWNER",
        "SETUID",
        "SETGID",
        "MKNOD",
        "AUDIT_WRITE",
    ];
    b.config["process"]["capabilities"] = json!({
        "bounding": cap_list(&caps),
        "inheritable": cap_list(&caps),
        "permitted": cap_list(&caps),
        "effective": cap_list(&caps),
        "ambient": cap_list(&caps),
    });
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    for k in ["CapBnd", "CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status_hex(&out, k), cap_mask(&caps), "{k}: {out}");
    }
    // Root with no_new_privs and narrower permitted/effective sets than the
    // bounding set: NNP keeps execve from raising permitted above what the
    // runtime set, so the sets stay exactly as configured (effective becomes
    // the whole permitted set for root).
    let bnd = ["CHOWN", "KILL", "SETUID"];
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.config["process"]["capabilities"] = json!({
        "bounding": cap_list(&bnd),
        "permitted": cap_list(&["CHOWN", "KILL"]),
        "effective": cap_list(&["CHOWN", "KILL"]),
    });
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_hex(&out, "CapBnd"), cap_mask(&bnd));
    assert_eq!(status_hex(&out, "CapInh"), 0);
    assert_eq!(status_hex(&out, "CapAmb"), 0);
    assert_eq!(status_hex(&out, "CapPrm"), cap_mask(&["CHOWN", "KILL"]));
    assert_eq!(status_hex(&out, "CapEff"), cap_mask(&["CHOWN", "KILL"]));
    // Without no_new_privs, execve as root gives permitted = effective =
    // bounding | inheritable (the kernel's root rule).
    b.config["process"]["noNewPrivileges"] = json!(false);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_hex(&out, "CapBnd"), cap_mask(&bnd));
    assert_eq!(status_hex(&out, "CapPrm"), cap_mask(&bnd));
    assert_eq!(status_hex(&out, "CapEff"), cap_mask(&bnd));
}

#[test]
fn no_new_privileges() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["noNewPrivileges"] = json!(true);
    let out = sh_ok(&rt, &mut b, "grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs").as_deref(), Some("1"));
    b.config["process"]["noNewPrivileges"] = json!(false);
    let out = sh_ok(&rt, &mut b, "grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs").as_deref(), Some("0"));
}

#[test]
fn oom_score_adj() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["process"]["oomScoreAdj"] = json!(123);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/oom_score_adj");
    assert_eq!(out.trim(), "123");
    b.config["process"]["oomScoreAdj"] = json!(1000);
    let out = sh_ok(&rt, &mut b, "cat /proc/self/oom_score_adj");
    assert_eq!(out.trim(), "1000");
}

// ---------------------------------------------------------------------------
// seccomp
// ---------------------------------------------------------------------------

#[test]
fn seccomp_errno_ret() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_readonly(false);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }
        ]
    });
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?; touch /tmp/y && echo touch-ok",
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(status_field(&out, "Seccomp").as_deref(), Some("2"), "{out}");
    assert!(out.contains("Function not implemented"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("touch-ok"), "{out}");
    assert!(!b.rootfs().join("tmp/x").exists());
    // without seccomp: mode 0
    b.config["linux"].as_object_mut().unwrap().remove("seccomp");
    let out = sh_ok(&rt, &mut b, "grep Seccomp: /proc/self/status");
    assert_eq!(status_field(&out, "Seccomp").as_deref(), Some("0"), "{out}");
}

/// A process may name itself anything (prctl PR_SET_NAME, /proc/self/comm), bytes that are not
/// UTF-8 included: the runtime still sees the container's init as running and can signal it.
#[test]
fn init_with_a_non_utf8_name_is_still_running() {
    let rt = Runtime::new();
    let id = unique_id("comm");
    let mut b = idle_bundle(&id);
    b.set_args(&[
        "sh",
        "-c",
        "printf '\\377\\376)(' > /proc/self/comm; touch /named; sleep 1000; true",
    ]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    c.wait_file("/named", T);
    let comm = fs::read(format!("/proc/{}/comm", c.pid())).unwrap();
    assert_eq!(comm, b"\xff\xfe)(\n", "the init did not rename itself");
    assert_eq!(c.status().as_deref(), Some("running"));
    c.kill("KILL");
    c.wait_status("stopped", T);
}
