//! Mount order, symlinked targets, read-only /dev, symlinked /proc and --no-pivot.

use super::*;

// ---------------------------------------------------------------------------
// 6. mount order, symlinked targets, read-only /dev, symlinked /proc
// ---------------------------------------------------------------------------

/// Bind sources are resolved at mount time, in order: a source inside an earlier container
/// mount (here a tmpfs, reached through the rootfs path) sees that mount.
fn mount_order_case(userns: bool, idmap: bool) {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    if userns {
        add_user_namespace(&mut b);
        fs::create_dir_all(b.rootfs().join("tmp/mount-1")).unwrap();
        fs::create_dir_all(b.rootfs().join("tmp/mount-2")).unwrap();
    }
    add_mount(
        &mut b,
        json!({ "destination": "/tmp/mount-1", "type": "tmpfs", "source": "tmpfs",
                "options": ["mode=777"] }),
    );
    let mut second = json!({ "destination": "/tmp/mount-2", "type": "bind",
                             "source": "rootfs/tmp/mount-1", "options": ["rbind"] });
    if idmap {
        second["uidMappings"] = map(0, 100000, 65536);
        second["gidMappings"] = map(0, 100000, 65536);
    }
    add_mount(&mut b, second);
    let out = sh_ok(
        &rt,
        &mut b,
        "touch /tmp/mount-1/seen && ls /tmp/mount-2; \
         grep -c ' /tmp/mount-2 .* - tmpfs ' /proc/self/mountinfo",
    );
    assert_eq!(
        out, "seen\n1\n",
        "second mount does not show the first: {out}"
    );
    assert!(!b.rootfs().join("tmp/mount-1/seen").exists());
}

#[test]
fn mount_order_source_in_an_earlier_mount() {
    mount_order_case(false, false);
}

#[test]
fn mount_order_source_in_an_earlier_mount_userns() {
    mount_order_case(true, false);
}

/// crun 1.28 bug: an idmapped bind whose source is relative to the bundle fails (`open
/// `rootfs/tmp/mount-1`: Bad file descriptor`; an absolute source works), though config.md
/// says "Path values for bind mounts are either absolute or relative to the bundle".
#[test]
fn mount_order_source_in_an_earlier_mount_userns_idmap() {
    mount_order_case(true, true);
}

/// Bind mount targets through a dangling symlink (as a component, or as the last component)
/// are created inside the rootfs, never on the host.
#[test]
fn bind_targets_through_dangling_symlinks_stay_inside() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = b.dir.join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), "content\n").unwrap();
    // Absolute targets that exist nowhere yet, on the host or in the rootfs.
    let host_dir = b.dir.join("host-target-dir");
    let host_file = b.dir.join("host-target-file");
    std::os::unix::fs::symlink(&host_dir, b.rootfs().join("dangling-dir")).unwrap();
    std::os::unix::fs::symlink(&host_file, b.rootfs().join("dangling-file")).unwrap();
    add_mount(
        &mut b,
        json!({ "destination": "/dangling-dir/sub", "type": "bind", "source": src,
                "options": ["rbind"] }),
    );
    add_mount(
        &mut b,
        json!({ "destination": "/dangling-file", "type": "bind", "source": src.join("f"),
                "options": ["bind"] }),
    );
    if is_crun() {
        // crun 1.28 does not create a target through a dangling symlink; it refuses
        // (`creating `/dangling-dir/sub`: openat2 `dangling-dir`: No such file or directory`),
        // which keeps the host safe too. runc 1.3.6 creates it inside, as hull does.
        let (code, _, err) = sh(&rt, &mut b, "true");
        assert_ne!(code, 0, "{err}");
        assert!(err.contains("dangling-dir"), "{err}");
        assert!(!host_dir.exists(), "target created on the host");
        assert!(!host_file.exists(), "target created on the host");
        return;
    }
    let out = sh_ok(&rt, &mut b, "cat /dangling-dir/sub/f /dangling-file");
    assert_eq!(out, "content\ncontent\n");
    assert!(!host_dir.exists(), "target created on the host");
    assert!(!host_file.exists(), "target created on the host");
    let inside = b.rootfs().join(host_dir.strip_prefix("/").unwrap());
    assert!(inside.join("sub").is_dir());
    assert!(b
        .rootfs()
        .join(host_file.strip_prefix("/").unwrap())
        .is_file());
}

/// A read-only /dev: its nodes, symlinks and the mounts below it are still made, then it is
/// read-only.
#[test]
fn readonly_dev_mount() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    let out = sh_ok(
        &rt,
        &mut b,
        "grep ' /dev ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; \
         echo x > /dev/null && echo null-ok; ls /dev/pts/ptmx >/dev/null && echo pts-ok; \
         touch /dev/new 2>/dev/null || echo touch-refused",
    );
    assert_eq!(out, "ro\nnull-ok\npts-ok\ntouch-refused\n");
}

/// /proc and /sys must be real directories: a symlink there is refused with runc's words.
#[test]
fn symlinked_proc_or_sys_is_refused() {
    for (dest, typ) in [("proc", "proc"), ("sys", "sysfs")] {
        let rt = Runtime::new();
        let mut b = Bundle::busybox();
        let p = b.rootfs().join(dest);
        fs::remove_dir(&p).unwrap();
        fs::create_dir(b.rootfs().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", &p).unwrap();
        let (code, _, err) = sh(&rt, &mut b, "true");
        assert_eq!(code, 1, "{err}");
        // crun 1.28 refuses in its own words: `the target `/proc` is invalid: Not a directory`.
        assert!(
            is_crun()
                || err.contains(&format!(
                    "filesystem \"{typ}\" must be mounted on ordinary directory"
                ))
                || err.contains(&format!(
                    "filesystem \\\"{typ}\\\" must be mounted on ordinary directory"
                )),
            "{err}"
        );
        assert!(rt.ids_in_root().is_empty());
    }
}

// ---------------------------------------------------------------------------
// 7. --no-pivot
// ---------------------------------------------------------------------------

/// With --no-pivot the host's /proc would stay in the container's mount namespace (outside
/// its chroot), and its presence lets a user namespace inside mount a fresh, unmasked procfs.
/// The runtime removes the host's procfs and sysfs mounts first: the mount is refused.
#[test]
fn no_pivot_does_not_expose_a_bare_proc() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    add_cap(&mut b, "CAP_SETFCAP");
    b.set_args(&[
        "unshare",
        "-mrpf",
        "sh",
        "-c",
        "mount -t proc none /proc && echo mounted",
    ]);
    b.save();
    let id = unique_id("nopivot");
    let _c = Container::with_id(&rt, &b, &id);
    let o = output_with_timeout(
        &mut rt.cmd(&["run", "--no-pivot", "--bundle", b.dir_str(), &id]),
        std::time::Duration::from_secs(60),
    );
    let all = format!("{}{}", stdout_str(&o), stderr_str(&o));
    assert!(!all.contains("mounted"), "procfs mounted: {all}");
    assert!(
        all.contains("Permission denied") || all.contains("permission denied"),
        "{all}"
    );
    assert_ne!(exit_code(&o.status), 0);
    // The runtime's own view is untouched.
    assert!(Path::new("/proc/self/mountinfo").exists());
}

/// --no-pivot with rootfsPropagation rshared and a rootfs that is a mount point: nothing is
/// left mounted on the host's "/" (runc issue 1961). The leak needs a shared host "/" (systemd
/// hosts); on a host whose "/" is private this passes either way.
#[test]
fn no_pivot_rshared_does_not_leak_the_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let r = b.rootfs();
    let r = r.to_str().unwrap();
    host("mount", &["--bind", r, r]);
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    b.set_args(&["true"]);
    b.save();
    let before = mounts_on_root();
    let id = unique_id("nopivot");
    let _c = Container::with_id(&rt, &b, &id);
    let o = output_with_timeout(
        &mut rt.cmd(&["run", "--no-pivot", "--bundle", b.dir_str(), &id]),
        std::time::Duration::from_secs(60),
    );
    assert_ok(&o, "run --no-pivot");
    assert_eq!(mounts_on_root(), before, "a mount leaked onto the host's /");
}

/// --no-pivot with rootfsPropagation rshared, run from a mount namespace whose "/" is shared
/// (as on systemd hosts; made here with unshare, the dev host's "/" is private): hiding the
/// full /proc and /sys detaches them in the container's namespace, and the kernel sends an
/// unmount to the peers of the PARENT mount, so without making that parent a slave first the
/// caller lost its own /proc (found in the v2 VM, whose init makes "/" rshared). The bundle is
/// bound on itself so the rootfs's parent mount (made private) is not "/". runc 1.3.6 fails
/// this (its msMoveRoot makes only the proc mount itself a slave): a runc bug. crun 1.28 bug
/// too: after its `run --no-pivot` the caller has lost both its /proc and its /sys.
#[test]
fn no_pivot_rshared_keeps_the_callers_proc_and_sys() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    b.set_args(&["true"]);
    b.save();
    let id = unique_id("nopivot");
    let _c = Container::with_id(&rt, &b, &id);
    let run = rt.cmd(&["run", "--no-pivot", "--bundle", b.dir_str(), &id]);
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "shared", "sh", "-c"])
        .arg(
            "mount --bind \"$BUNDLE\" \"$BUNDLE\" || exit 1; \"$0\" \"$@\"; rc=$?; \
             test -e /proc/self/mountinfo && echo proc-kept; \
             test -d /sys/kernel && echo sys-kept; exit $rc",
        )
        .env("BUNDLE", b.dir_str())
        .arg(run.get_program())
        .args(run.get_args());
    let o = output_with_timeout(&mut cmd, std::time::Duration::from_secs(60));
    assert_ok(&o, "run --no-pivot in a shared mount namespace");
    assert_eq!(stdout_str(&o), "proc-kept\nsys-kept\n");
}

/// Without a /dev mount the default nodes and links are made in the rootfs's own /dev (runc
/// does the same; the rootfs keeps them).
#[test]
fn default_devices_without_a_dev_mount() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    for d in ["/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"] {
        remove_mount(&mut b, d);
    }
    b.set_readonly(false);
    let out = sh_ok(
        &rt,
        &mut b,
        "for d in null zero full random urandom tty; do stat -c '%n %t:%T' /dev/$d; done; \
         readlink /dev/fd; echo x > /dev/null && echo ok",
    );
    assert_eq!(
        out,
        "/dev/null 1:3\n/dev/zero 1:5\n/dev/full 1:7\n/dev/random 1:8\n/dev/urandom 1:9\n\
         /dev/tty 5:0\n/proc/self/fd\nok\n"
    );
}
