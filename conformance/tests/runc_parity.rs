//! Behaviours runc's own integration tests check, reproduced with busybox (issue 12 leftovers):
//!
//! - hooks_so.bats "runc run (hooks library tests)": a createRuntime hook bind-mounts a file
//!   into the container's rootfs by entering the init's mount namespace (the state's `pid`), a
//!   createContainer hook bind-mounts another with a path relative to its working directory
//!   (runc runs it in the rootfs, before pivot_root), and both are there for the container.
//!   With it, where hooks start: prestart and createRuntime in the bundle (runc's create and
//!   run chdir there), createContainer in the rootfs.
//! - run.bats "runc run with tmpfs perms" and "runc run with tmpfs": a tmpfs `mode=` wins
//!   (also 0444 over a directory the runtime creates, and again once it exists, runc issue
//!   3911) and never changes the covered directory; without one the tmpfs takes the covered
//!   directory's mode, special bits included (runc issue 3952).
//! - Hooks' state and working directory: "creating" for the hooks run while create runs,
//!   "created" for startContainer; poststart hooks start in the bundle (runc runs them in its
//!   create or run process, which chdirs there), poststop hooks in the bundle when `run`
//!   destroys the container and in the caller's directory when `delete` does.
//!
//! Each test passes with hull and with runc 1.3.6 (the Debian sid root); the hooks' state and
//! working directory tests also with runc 1.1.5 (Debian 12).

use hull_conformance::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const CR_LIB: &str = "libhull-hooks-create-runtime.so.1.0.0";
const CC_LIB: &str = "libhull-hooks-create-container.so.1.0.0";

fn hook(script: String) -> serde_json::Value {
    json!({"path": "/bin/sh", "args": ["/bin/sh", "-c", script]})
}

/// A busybox bundle with a writable root, a /lib, and the two "libraries" (small files with a
/// recognisable content) next to the rootfs, as runc's test builds them in the bundle.
fn library_bundle(id: &str) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_readonly(false);
    fs::create_dir_all(b.rootfs().join("lib")).unwrap();
    fs::write(b.dir.join(CR_LIB), "mounted by createRuntime\n").unwrap();
    fs::write(b.dir.join(CC_LIB), "mounted by createContainer\n").unwrap();
    b
}

/// The state's pid, read from the hook's stdin with sed (no jq needed on the host).
const PID_FROM_STATE: &str = r#"pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')"#;

/// runc's hooks_so.bats without gcc: what matters is where the hooks run and what their
/// mounts reach, not that the files are ELF objects.
#[test]
fn hook_mounted_libraries_reach_the_container() {
    let rt = Runtime::new();
    let id = unique_id("hookso");
    let mut b = library_bundle(&id);
    let bundle = b.dir.display().to_string();
    let lib = b.rootfs().join("lib").display().to_string();
    // createRuntime runs in the runtime's namespace: it reaches the container's mount
    // namespace through the init's pid, where the rootfs is still at its host path.
    let create_runtime = format!(
        "{PID_FROM_STATE}; [ -n \"$pid\" ] && touch {lib}/{CR_LIB} && \
         nsenter -m -t \"$pid\" mount --bind {bundle}/{CR_LIB} {lib}/{CR_LIB}"
    );
    // createContainer runs in the container's mount namespace before pivot_root, with the
    // rootfs as its working directory (runc chdirs there first): `./lib` is the rootfs's.
    let create_container =
        format!("touch ./lib/{CC_LIB} && mount --bind {bundle}/{CC_LIB} ./lib/{CC_LIB}");
    // startContainer runs in the container after pivot_root (runc's test runs ldconfig).
    let start_container = format!("cat /lib/{CR_LIB} /lib/{CC_LIB} > /start-saw");
    b.config["hooks"] = json!({
        "createRuntime": [hook(create_runtime)],
        "createContainer": [hook(create_container)],
        "startContainer": [hook(start_container)],
    });
    let (code, out, err) = run_container(
        &rt,
        &mut b,
        &[
            "sh",
            "-c",
            &format!("cat /lib/{CR_LIB} /lib/{CC_LIB}; echo start:; cat /start-saw"),
        ],
    );
    assert_eq!(code, 0, "stdout={out:?} stderr={err:?}");
    let both = "mounted by createRuntime\nmounted by createContainer\n";
    assert_eq!(out, format!("{both}start:\n{both}"), "stderr={err:?}");
    // The mounts were made in the container's namespace, which is gone: nothing on the host.
    assert!(
        mounts_under(&b.dir).is_empty(),
        "left on the host: {:?}",
        mounts_under(&b.dir)
    );
}

/// The other half of that convention: a mount a createRuntime hook makes under the rootfs in
/// the runtime's own namespace does not reach the container. Both runtimes make the mount the
/// rootfs lives on private in the container's namespace before binding the rootfs (runc
/// 1.2+'s rootfsParentMountPrivate), so the default rslave of `/` does not carry it in; that
/// is why runc's test enters the init's mount namespace.
#[test]
fn host_side_mount_by_create_runtime_hook_stays_out() {
    let rt = Runtime::new();
    let id = unique_id("hookhost");
    let mut b = library_bundle(&id);
    let bundle = b.dir.display().to_string();
    let target = b.rootfs().join("lib").join(CR_LIB);
    fs::write(&target, "the rootfs's own file\n").unwrap();
    let t = target.display().to_string();
    b.config["hooks"] = json!({
        "createRuntime": [hook(format!("mount --bind {bundle}/{CR_LIB} {t}"))],
    });
    let _unmount = HostMount(target.clone());
    let (code, out, err) = run_container(&rt, &mut b, &["cat", &format!("/lib/{CR_LIB}")]);
    assert_eq!(code, 0, "stdout={out:?} stderr={err:?}");
    assert_eq!(out, "the rootfs's own file\n", "stderr={err:?}");
    // ... while the host sees its own mount (the hook did run).
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "mounted by createRuntime\n"
    );
}

/// Unmounts a host path when the test ends (pass or fail).
struct HostMount(std::path::PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn stat_mode(rt: &Runtime, b: &mut Bundle, path: &str, fmt: &str) -> String {
    let (code, out, err) = run_container(rt, b, &["stat", "-c", fmt, path]);
    assert_eq!(code, 0, "stat {path}: stdout={out:?} stderr={err:?}");
    out.trim_end().to_string()
}

fn set_tmpfs_options(b: &mut Bundle, dest: &str, options: &[&str]) {
    let mounts = b.config["mounts"].as_array_mut().expect("mounts array");
    mounts.retain(|m| m["destination"] != dest);
    mounts.push(
        json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                       "options": options}),
    );
}

fn host_mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// run.bats "runc run with tmpfs perms": `mode=0444` on a directory the runtime creates, then
/// again on that now existing directory (runc issue 3911: the second run failed), then no
/// mode over a 0710 directory (inherited), then `mode=0410` (wins again). Debian 12's runc
/// 1.1.5 predates the fix and shows 755 on the second run.
#[test]
fn tmpfs_mode_0444_and_inherited_perms() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let dir = b.rootfs().join("tmp/test");
    set_tmpfs_options(&mut b, "/tmp/test", &["mode=0444"]);
    assert!(!dir.exists());
    assert_eq!(stat_mode(&rt, &mut b, "/tmp/test", "%a"), "444");
    assert!(dir.is_dir(), "the runtime creates the mount point");
    // The mount point was made as any missing directory (runc and hull: 0755; crun 1.28:
    // 01755, which the runtime-spec leaves open), not chmod-ed to the mode.
    let made = host_mode(&dir);
    let want = if is_crun() { 0o1755 } else { 0o755 };
    assert_eq!(made, want, "mode of the created mount point: {made:o}");
    assert_eq!(stat_mode(&rt, &mut b, "/tmp/test", "%a"), "444");
    assert_eq!(host_mode(&dir), made);

    set_tmpfs_options(&mut b, "/tmp/test", &[]);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o710)).unwrap();
    assert_eq!(stat_mode(&rt, &mut b, "/tmp/test", "%a"), "710");

    set_tmpfs_options(&mut b, "/tmp/test", &["mode=0410"]);
    assert_eq!(stat_mode(&rt, &mut b, "/tmp/test", "%a"), "410");
    assert_eq!(
        host_mode(&dir),
        0o710,
        "the covered directory keeps its mode"
    );
}

/// run.bats "runc run with tmpfs" (runc issue 3952): with no `mode=`, a tmpfs over a directory
/// with every bit set (setuid, setgid, sticky) shows exactly that mode.
#[test]
fn tmpfs_inherits_special_bits_of_the_covered_directory() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let tmp = b.rootfs().join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o7777)).unwrap();
    set_tmpfs_options(&mut b, "/tmp", &["noexec", "nosuid", "nodev", "rprivate"]);
    assert_eq!(stat_mode(&rt, &mut b, "/tmp", "%A"), "drwsrwsrwt");
    assert_eq!(stat_mode(&rt, &mut b, "/tmp", "%a"), "7777");
}

/// Where hooks start, which hooks written for runc rely on: runc's `create` and `run` chdir to
/// the bundle first, so prestart and createRuntime hooks run there (bundle-relative paths
/// work), and its init chdirs to the rootfs before createContainer hooks.
#[test]
fn hooks_working_directories() {
    let rt = Runtime::new();
    let id = unique_id("hookcwd");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    let bundle = b.dir.display().to_string();
    b.config["hooks"] = json!({
        "prestart": [hook("pwd > prestart.cwd".into())],
        "createRuntime": [hook("pwd > rootfs/../createRuntime.cwd".into())],
        "createContainer": [hook(format!("pwd > {bundle}/createContainer.cwd"))],
    });
    let (code, out, err) = run_container(&rt, &mut b, &["true"]);
    assert_eq!(code, 0, "stdout={out:?} stderr={err:?}");
    let cwd_of = |kind: &str| {
        fs::read_to_string(b.dir.join(format!("{kind}.cwd")))
            .unwrap_or_else(|e| panic!("{kind} hook wrote nothing in the bundle: {e}"))
    };
    assert_eq!(cwd_of("prestart"), format!("{bundle}\n"));
    assert_eq!(cwd_of("createRuntime"), format!("{bundle}\n"));
    assert_eq!(cwd_of("createContainer"), format!("{bundle}/rootfs\n"));
}

/// The state a hook reads on stdin while `create` runs: "creating" for prestart,
/// createRuntime and createContainer (runtime-spec state.md: creating until the create
/// operation is complete; runc sets it for them in process_linux.go and rootfs_linux.go),
/// "created" for startContainer (runc's standard_init_linux.go: create is over, the program
/// not yet exec'd).
#[test]
fn hook_state_status_during_create_and_start() {
    let rt = Runtime::new();
    let id = unique_id("hookst");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.set_readonly(false);
    let bundle = b.dir.display().to_string();
    b.config["hooks"] = json!({
        "prestart": [hook(format!("cat > {bundle}/prestart.state"))],
        "createRuntime": [hook(format!("cat > {bundle}/createRuntime.state"))],
        "createContainer": [hook(format!("cat > {bundle}/createContainer.state"))],
        // after pivot_root: the container's own root (writable)
        "startContainer": [hook("cat > /startContainer.state".into())],
    });
    let (code, out, err) = run_container(&rt, &mut b, &["true"]);
    assert_eq!(code, 0, "stdout={out:?} stderr={err:?}");
    for (kind, file, want) in [
        ("prestart", b.dir.join("prestart.state"), "creating"),
        (
            "createRuntime",
            b.dir.join("createRuntime.state"),
            "creating",
        ),
        (
            "createContainer",
            b.dir.join("createContainer.state"),
            "creating",
        ),
        (
            "startContainer",
            b.rootfs().join("startContainer.state"),
            "created",
        ),
    ] {
        let text = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{kind} hook wrote no state ({}): {e}", file.display()));
        let st: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{kind}: state is not JSON ({e}): {text}"));
        assert_eq!(st["status"], want, "{kind}: {st}");
        assert_eq!(
            fs::canonicalize(st["bundle"].as_str().unwrap_or_default()).ok(),
            fs::canonicalize(&b.dir).ok(),
            "{kind}: {st}"
        );
    }
}

/// Where poststart and poststop hooks start. runc chdirs to the bundle at the start of
/// `create` and `run`, and runs the poststart hooks in that process (runc 1.1 and 1.3:
/// libcontainer's Container.start, during create), so they start in the bundle whatever the
/// caller's directory; poststop hooks run in the process that destroys the container: `run`
/// (in the bundle) when the program exits, `delete` (which does not chdir) in the caller's
/// directory.
#[test]
fn poststart_and_poststop_hooks_working_directories() {
    let rt = Runtime::new();
    let caller_b = Bundle::busybox();
    let caller = caller_b.dir.join("caller");
    fs::create_dir(&caller).unwrap();
    let in_caller = |args: &[&str]| {
        let mut c = rt.cmd(args);
        c.current_dir(&caller);
        output_with_timeout(&mut c, budget(CMD_TIMEOUT))
    };
    // A bundle whose poststart and poststop hooks write their working directory into it.
    let hook_bundle = |id: &str, args: &[&str]| {
        let mut b = Bundle::busybox();
        b.set_cgroups_path(&test_cgroups_path(id));
        let d = b.dir.display().to_string();
        b.config["hooks"] = json!({
            "poststart": [hook(format!("pwd > {d}/poststart.cwd"))],
            "poststop": [hook(format!("pwd > {d}/poststop.cwd"))],
        });
        b.set_args(args);
        b.save();
        b
    };
    let cwd_of = |b: &Bundle, kind: &str| {
        fs::read_to_string(b.dir.join(format!("{kind}.cwd")))
            .unwrap_or_else(|e| panic!("{kind} hook wrote nothing in the bundle: {e}"))
    };

    // `run` from elsewhere: both in the bundle.
    let id = unique_id("hkcwd-run");
    let b = hook_bundle(&id, &["true"]);
    let _guard = Container::with_id(&rt, &b, &id);
    assert_ok(
        &in_caller(&["run", "--bundle", b.dir_str(), &id]),
        "run from another directory",
    );
    assert_eq!(cwd_of(&b, "poststart"), format!("{}\n", b.dir.display()));
    assert_eq!(cwd_of(&b, "poststop"), format!("{}\n", b.dir.display()));

    // create, start and delete from elsewhere: poststart in the bundle, poststop (run by
    // delete) in the caller's directory.
    let id = unique_id("hkcwd-split");
    let b = hook_bundle(&id, &["sleep", "1000"]);
    let c = Container::with_id(&rt, &b, &id);
    assert_ok(
        &in_caller(&["create", "--bundle", b.dir_str(), &id]),
        "create from another directory",
    );
    assert_ok(&in_caller(&["start", &id]), "start from another directory");
    let t = budget(Duration::from_secs(10));
    assert!(
        poll_until(t, || b.dir.join("poststart.cwd").exists()),
        "the poststart hook did not run"
    );
    c.kill("KILL");
    c.wait_status("stopped", t);
    assert_ok(
        &in_caller(&["delete", &id]),
        "delete from another directory",
    );
    assert_eq!(cwd_of(&b, "poststart"), format!("{}\n", b.dir.display()));
    assert_eq!(cwd_of(&b, "poststop"), format!("{}\n", caller.display()));
}
