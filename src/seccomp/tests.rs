use super::*;
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;

const DEFAULT_PROFILE: &str = DEFAULT_PROFILE_JSON;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

fn parse(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("valid LinuxSeccomp JSON")
}

fn prep(json: &str) -> Result<Prepared> {
    prepare(&parse(json))
}

fn err_of(json: &str) -> String {
    format!("{:#}", prep(json).expect_err("prepare must fail"))
}

fn nr(name: &str) -> u32 {
    ScmpSyscall::from_name(name).unwrap().as_raw_syscall() as u32
}

fn nr_on(name: &str, arch: ScmpArch) -> u32 {
    ScmpSyscall::from_name_by_arch(name, arch)
        .unwrap()
        .as_raw_syscall() as u32
}

fn native_audit() -> u32 {
    enosys::audit_arch(ScmpArch::native()).unwrap()
}

/// Runs `f` in a forked child and returns its exit code (128+signal if killed). The child gets
/// an alarm so a hang turns into a failure instead of a stuck test run.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `f` and then _exits. No fuzz test runs while it forks (see
    // util::fuzz::fork_guard).
    let pid = {
        let _no_fuzzing = crate::util::fuzz::fork_guard();
        unsafe { libc::fork() }
    };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        unsafe { libc::alarm(20) };
        let code = std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(101);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::EINTR), "waitpid: {e}");
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn set_nnp() {
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
}

// ---------------------------------------------------------------- prepare: accepts / rejects

#[test]
fn prepares_all_actions_flags_and_args() {
    let p = prep(
        r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 13,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
            {"names": ["kill"], "action": "SCMP_ACT_KILL"},
            {"names": ["tkill"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["tgkill"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getppid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["getuid"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
            {"names": ["getgid"], "action": "SCMP_ACT_TRACE"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["dup3"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 2, "op": "SCMP_CMP_NE"},
                {"index": 2, "value": 7, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["dup2"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_LT"},
                {"index": 0, "value": 5, "op": "SCMP_CMP_GE"}]},
            {"names": ["lseek"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 1, "value": 9, "op": "SCMP_CMP_LE"},
                {"index": 2, "value": 9, "op": "SCMP_CMP_GT"}]}
        ]}"#,
    )
    .unwrap();
    assert!(!p.uses_notify());
    assert_eq!(
        p.flags,
        SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW | SECCOMP_FILTER_FLAG_TSYNC
    );
    let a = native_audit();
    let run = |name: &str, args: [u64; 6]| enosys::run(&p.program, nr(name), a, args);
    assert_eq!(run("read", [0; 6]), RET_ALLOW);
    assert_eq!(run("mkdir", [0; 6]), RET_ERRNO | 38);
    assert_eq!(run("rmdir", [0; 6]), RET_ERRNO | 1);
    assert_eq!(run("getuid", [0; 6]), 0x7ff0_0000 | 5);
    assert_eq!(run("getgid", [0; 6]), 0x7ff0_0000 | 1);
    assert_eq!(run("getpid", [0; 6]), 0x7ffc_0000);
    assert_eq!(run("getppid", [0; 6]), 0x0003_0000);
    assert_eq!(run("kill", [0; 6]), 0x0000_0000);
    assert_eq!(run("tgkill", [0; 6]), 0x8000_0000);
    assert_eq!(run("chdir", [0; 6]), RET_ERRNO | 13);
    // AND across indices.
    assert_eq!(run("dup3", [1, 3, 8, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run("dup3", [1, 2, 8, 0, 0, 0]), RET_ERRNO | 13);
    assert_eq!(run("dup3", [1, 3, 9, 0, 0, 0]), RET_ERRNO | 13);
    assert_eq!(run("dup3", [0, 3, 8, 0, 0, 0]), RET_ERRNO | 13);
    // Same index twice: OR (runc's rule).
    assert_eq!(run("dup2", [0, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run("dup2", [7, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run("dup2", [3, 0, 0, 0, 0, 0]), RET_ERRNO | 13);
    assert_eq!(run("lseek", [0, 9, 10, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run("lseek", [0, 10, 10, 0, 0, 0]), RET_ERRNO | 13);
    // Newer than anything the profile names: ENOSYS, not the default errno.
    assert_eq!(enosys::run(&p.program, 4000, a, [0; 6]), RET_ERRNO | 38);
}

#[test]
fn rejects_bad_configs_naming_the_field() {
    let e = err_of(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#);
    assert!(
        e.contains("defaultAction") && e.contains("SCMP_ACT_NOTIFY"),
        "{e}"
    );

    let e = err_of(r#"{"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}"#);
    assert!(e.contains("defaultErrnoRet"), "{e}");

    let e = err_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS", "errnoRet": 1}]}"#,
    );
    assert!(e.contains("syscalls[1].errnoRet"), "{e}");

    let e = err_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("syscalls[0]") && e.contains("write"), "{e}");

    let e = err_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("listenerPath"), "{e}");

    let e = err_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(e.contains("syscalls[0].args[0].index"), "{e}");

    let e = err_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}"#,
    );
    assert!(
        e.contains("syscalls[0].errnoRet") && e.contains("70000"),
        "{e}"
    );

    let e = err_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(e.contains("syscalls[0].names"), "{e}");

    // Unknown actions, arches, flags and operators are rejected while parsing config.json.
    for bad in [
        r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}"#,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]}"#,
    ] {
        assert!(serde_json::from_str::<LinuxSeccomp>(bad).is_err(), "{bad}");
    }
}

#[test]
fn skips_unknown_syscalls_and_rules_equal_to_default() {
    let p = prep(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["no_such_syscall_hull", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
            {"names": ["read", "getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["arm_fadvise64_64", "arch_prctl"], "action": "SCMP_ACT_ERRNO"}
        ]}"#,
    )
    .unwrap();
    let a = native_audit();
    assert_eq!(
        enosys::run(&p.program, nr("mkdir"), a, [0; 6]),
        RET_ERRNO | 18
    );
    assert_eq!(enosys::run(&p.program, nr("read"), a, [0; 6]), RET_ALLOW);
    // ALLOW default: no ENOSYS stub, unknown numbers are allowed.
    assert_eq!(enosys::run(&p.program, 4000, a, [0; 6]), RET_ALLOW);

    // ERRNO default with errno ENOSYS: the same errno rule as the default is skipped.
    let p = prep(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["read", "exit_group"], "action": "SCMP_ACT_ALLOW"}
        ]}"#,
    )
    .unwrap();
    assert_eq!(
        enosys::run(&p.program, nr("clone3"), a, [0; 6]),
        RET_ERRNO | 38
    );
    assert_eq!(enosys::run(&p.program, nr("read"), a, [0; 6]), RET_ALLOW);
}

#[test]
fn notify_sets_listener_flags() {
    let p = prep(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    )
    .unwrap();
    assert!(p.uses_notify());
    assert_eq!(
        p.flags,
        SECCOMP_FILTER_FLAG_TSYNC
            | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
            | SECCOMP_FILTER_FLAG_NEW_LISTENER
            | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    );
    // WAIT_KILLABLE_RECV is meaningless (and refused by the kernel) without a listener.
    let p = prep(r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#).unwrap();
    assert_eq!(p.flags, 0);
}

// ---------------------------------------------------------------- default profile

#[test]
fn default_profile_prepares_and_behaves() {
    let p = prep(DEFAULT_PROFILE).expect("default.json prepares");
    assert!(!p.uses_notify());
    assert!(p.program.len() <= BPF_MAXINSNS);
    let a = native_audit();
    let run = |name: &str, args: [u64; 6]| enosys::run(&p.program, nr(name), a, args);
    for ok in [
        "read",
        "write",
        "openat",
        "execve",
        "exit_group",
        "futex",
        "rt_sigreturn",
        "statx",
    ] {
        assert_eq!(run(ok, [0; 6]), RET_ALLOW, "{ok}");
    }
    for denied in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "bpf",
        "kexec_load",
        "reboot",
    ] {
        assert_eq!(run(denied, [0; 6]), RET_ERRNO | 1, "{denied}");
    }
    assert_eq!(run("clone3", [0; 6]), RET_ERRNO | 38);
    // clone: plain fork flags allowed, namespace flags denied.
    let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
    assert_eq!(run("clone", [fork_flags, 0, 0, 0, 0, 0]), RET_ALLOW);
    for ns in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
    ] {
        assert_eq!(
            run("clone", [fork_flags | ns as u64, 0, 0, 0, 0, 0]),
            RET_ERRNO | 1
        );
    }
    assert_eq!(run("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run("personality", [0x8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        run("personality", [0x0040_0000, 0, 0, 0, 0, 0]),
        RET_ERRNO | 1
    );
    // Syscalls newer than libseccomp/the profile know: ENOSYS.
    assert_eq!(enosys::run(&p.program, 1000, a, [0; 6]), RET_ERRNO | 38);

    if ScmpArch::native() == ScmpArch::X8664 {
        // i386 and x32 tasks are covered too.
        let i386 = enosys::audit_arch(ScmpArch::X86).unwrap();
        assert_eq!(
            enosys::run(&p.program, nr_on("read", ScmpArch::X86), i386, [0; 6]),
            RET_ALLOW
        );
        assert_eq!(
            enosys::run(&p.program, nr_on("mount", ScmpArch::X86), i386, [0; 6]),
            RET_ERRNO | 1
        );
        assert_eq!(
            enosys::run(&p.program, nr_on("clone3", ScmpArch::X86), i386, [0; 6]),
            RET_ERRNO | 38
        );
        assert_eq!(enosys::run(&p.program, 1000, i386, [0; 6]), RET_ERRNO | 38);
        let x32_read = nr_on("read", ScmpArch::X32);
        assert_eq!(x32_read & 0x4000_0000, 0x4000_0000);
        assert_eq!(enosys::run(&p.program, x32_read, a, [0; 6]), RET_ALLOW);
        assert_eq!(
            enosys::run(&p.program, nr_on("mount", ScmpArch::X32), a, [0; 6]),
            RET_ERRNO | 1
        );
        assert_eq!(
            enosys::run(&p.program, 0x4000_0000 | 1000, a, [0; 6]),
            RET_ERRNO | 38
        );
        // An arch not in the profile gets libseccomp's bad-arch action (kill).
        assert_eq!(
            enosys::run(&p.program, 0, 0xc000_00b7, [0; 6]) & 0xffff_0000,
            0
        );
    }
}

#[test]
fn default_profile_in_child() {
    let p = prep(DEFAULT_PROFILE).unwrap();
    let code = in_child(|| {
        set_nnp();
        if load(&p).unwrap().is_some() {
            return 1;
        }
        unsafe {
            if libc::getpid() <= 0 {
                return 2;
            }
            if libc::mount(
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                0,
                std::ptr::null(),
            ) != -1
                || errno() != libc::EPERM
            {
                return 3;
            }
            if libc::unshare(0) != -1 || errno() != libc::EPERM {
                return 4;
            }
            if libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) != -1
                || errno() != libc::ENOSYS
            {
                return 5;
            }
            if libc::syscall(1000) != -1 || errno() != libc::ENOSYS {
                return 6;
            }
            // fork (clone without namespace flags) works.
            let child = libc::fork();
            if child == 0 {
                libc::_exit(7);
            }
            let mut st = 0;
            if child < 0 || libc::waitpid(child, &mut st, 0) != child || libc::WEXITSTATUS(st) != 7
            {
                return 7;
            }
            // clone with CLONE_NEWUSER is denied.
            let r = libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                0usize,
            );
            if r == 0 {
                libc::_exit(0);
            }
            if r != -1 || errno() != libc::EPERM {
                return 8;
            }
        }
        // posix_spawn tries clone3 first and must fall back to clone on ENOSYS.
        match std::process::Command::new("/bin/true").status() {
            Ok(s) if s.success() => 0,
            _ => 9,
        }
    });
    assert_eq!(code, 0, "child check {code} failed");
}

// ---------------------------------------------------------------- loading

#[test]
fn errno_rules_in_child() {
    let p = prep(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["dup"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18, "args": [
                {"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 1001, "op": "SCMP_CMP_EQ"}]},
            {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18, "args": [
                {"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 1001, "op": "SCMP_CMP_EQ"}]}
        ]}"#,
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("hull-seccomp-test-{}", std::process::id()));
    let cdir = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let code = in_child(|| unsafe {
        set_nnp();
        if load(&p).unwrap().is_some() {
            return 1;
        }
        if libc::mkdir(cdir.as_ptr(), 0o700) != -1 || errno() != 38 {
            return 2;
        }
        if libc::getpid() <= 0 {
            return 3;
        }
        let fd = libc::dup(1);
        if fd < 0 {
            return 4;
        }
        libc::close(fd);
        if libc::dup(1000) != -1 || errno() != 18 || libc::dup(1001) != -1 || errno() != 18 {
            return 5;
        }
        if libc::dup(1002) != -1 || errno() != libc::EBADF {
            return 6;
        }
        if libc::dup3(1000, 1001, 0) != -1 || errno() != 18 {
            return 7;
        }
        if libc::dup3(1000, 1002, 0) != -1 || errno() != libc::EBADF {
            return 8;
        }
        0
    });
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(code, 0, "child check {code} failed");
    assert!(!dir.exists());
}

#[test]
fn notify_in_child_via_listener_socket() {
    let dir = std::env::temp_dir().join(format!("hull-seccomp-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let sock_path = dir.join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();

    let json = format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "{}", "listenerMetadata": "meta-data",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}}]}}"#,
        sock_path.display()
    );
    let cfg = parse(&json);
    let p = prepare(&cfg).unwrap();
    assert!(p.uses_notify());
    let state = br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":4242,"bundle":"/b"}"#;
    let payload = listener_payload(state, cfg.listener_metadata().as_deref()).unwrap();

    // SAFETY: the child only loads the filter, sends the fd, makes one syscall and _exits.
    let pid = {
        let _no_fuzzing = crate::util::fuzz::fork_guard();
        unsafe { libc::fork() }
    };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe { libc::alarm(20) };
        let code = (|| {
            set_nnp();
            let Ok(Some(fd)) = load(&p) else { return 1 };
            if send_listener_fd(&sock_path, &fd, &payload).is_err() {
                return 2;
            }
            drop(fd);
            // The agent answers 777 instead of the real parent pid.
            if unsafe { libc::getppid() } != 777 {
                return 3;
            }
            0
        })();
        unsafe { libc::_exit(code) };
    }
    struct Reap(libc::pid_t, bool);
    impl Drop for Reap {
        fn drop(&mut self) {
            if !self.1 {
                unsafe {
                    libc::kill(self.0, libc::SIGKILL);
                    libc::waitpid(self.0, std::ptr::null_mut(), 0);
                }
            }
        }
    }
    let mut reap = Reap(pid, false);

    // Agent side: accept, read payload + fd.
    let (conn, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 8192];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut notify_fd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            notify_fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let n = msg.bytes;
    let got: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(got["ociVersion"], "1.2.0");
    assert_eq!(got["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(got["pid"], 4242);
    assert_eq!(got["metadata"], "meta-data");
    assert_eq!(got["state"]["id"], "c1");
    let notify_fd = notify_fd.expect("SCM_RIGHTS fd");

    let mut pfd = libc::pollfd {
        fd: notify_fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let r = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(r, 1, "no notification within 10s");
    let req = ScmpNotifReq::receive(notify_fd.as_raw_fd()).unwrap();
    assert_eq!(req.data.syscall, ScmpSyscall::from_name("getppid").unwrap());
    ScmpNotifResp::new_val(req.id, 777, ScmpNotifRespFlags::empty())
        .respond(notify_fd.as_raw_fd())
        .unwrap();

    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    reap.1 = true;
    assert!(libc::WIFEXITED(status), "child killed: {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child check failed");
}

#[test]
fn load_without_nnp_or_cap_sys_admin_fails_with_hint() {
    // Drop CAP_SYS_ADMIN (effective) in a child without NNP: the kernel refuses the filter.
    let p = prep(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#)
        .unwrap();
    let code = in_child(|| {
        if caps::drop(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_ADMIN,
        )
        .is_err()
        {
            return 1;
        }
        match load(&p) {
            Err(e) if format!("{e}").contains("no_new_privs") => 0,
            _ => 2,
        }
    });
    assert_eq!(code, 0);
}

#[test]
fn listener_payload_shape() {
    let p = listener_payload(
        br#"{"ociVersion":"1.0.2","id":"x","status":"creating","pid":9}"#,
        Some(""),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
    assert_eq!(v["ociVersion"], "1.0.2");
    assert_eq!(v["pid"], 9);
    assert!(v.get("metadata").is_none());
    assert_eq!(v["state"]["status"], "creating");
    assert!(listener_payload(b"[1]", None).is_err());
}
