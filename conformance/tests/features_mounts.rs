//! Setup features checked from inside the container: mounts (bind, rbind, recursive
//! read-only, tmpfs options, propagation, tmpcopyup, read-only root), masked and read-only
//! paths, and devices.

mod features_common;

use features_common::*;
use hull_conformance::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

// ---------------------------------------------------------------------------
// mounts
// ---------------------------------------------------------------------------

#[test]
fn bind_mounts_ro_rw_files_and_dirs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let rw = b.dir.join("rwdir");
    let ro = b.dir.join("rodir");
    fs::create_dir(&rw).unwrap();
    fs::create_dir(&ro).unwrap();
    fs::write(ro.join("b"), "in-ro-dir\n").unwrap();
    let rofile = b.dir.join("rofile");
    let rwfile = b.dir.join("rwfile");
    fs::write(&rofile, "ro-file\n").unwrap();
    fs::write(&rwfile, "rw-file\n").unwrap();
    b.add_mount(
        json!({"destination": "/mnt/rw", "type": "bind", "source": rw, "options": ["bind"]}),
    );
    b.add_mount(
        json!({"destination": "/mnt/ro", "type": "bind", "source": ro, "options": ["bind", "ro"]}),
    );
    b.add_mount(json!({"destination": "/mnt/rofile", "type": "bind", "source": rofile, "options": ["bind", "ro"]}),
    );
    b.add_mount(json!({"destination": "/etc/rwfile", "type": "bind", "source": rwfile, "options": ["rbind", "rw"]}),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "cat /mnt/ro/b /mnt/rofile; \
         touch /mnt/ro/new 2>&1 && echo RO-DIR-WRITABLE; \
         (echo x >> /mnt/rofile) 2>&1 && echo RO-FILE-WRITABLE; \
         echo hello > /mnt/rw/new && echo appended >> /etc/rwfile && \
         test -f /mnt/rofile && test -d /mnt/ro && echo done",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert!(out.contains("in-ro-dir\nro-file\n"), "{out}");
    assert!(!out.contains("WRITABLE"), "read-only bind writable: {out}");
    assert!(
        out.matches("Read-only file system").count() >= 2,
        "expected EROFS twice: {out}"
    );
    assert!(out.contains("done"), "{out} {err}");
    assert_eq!(fs::read_to_string(rw.join("new")).unwrap(), "hello\n");
    assert_eq!(fs::read_to_string(&rwfile).unwrap(), "rw-file\nappended\n");
    assert!(!ro.join("new").exists());
    assert_eq!(fs::read_to_string(&rofile).unwrap(), "ro-file\n");
}

/// Mount a tmpfs on the host at `dir` (removed by the Bundle's Drop).
fn host_tmpfs(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let src = std::ffi::CString::new("tmpfs").unwrap();
    let tgt = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(
        r,
        0,
        "mount tmpfs on {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
}

#[test]
fn rbind_bind_and_recursive_readonly() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = b.dir.join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("top"), "top\n").unwrap();
    host_tmpfs(&src.join("sub"));
    fs::write(src.join("sub/inner"), "inner\n").unwrap();
    for (dest, opts) in [
        ("/mnt/bind", json!(["bind"])),
        ("/mnt/rbind", json!(["rbind"])),
        ("/mnt/rro", json!(["rbind", "rro"])),
    ] {
        b.add_mount(json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
    }
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo bind-sub [$(ls /mnt/bind/sub)]; echo rbind-sub [$(cat /mnt/rbind/sub/inner)]; \
         echo rro-sub [$(cat /mnt/rro/sub/inner)]; \
         touch /mnt/rro/sub/x 2>&1 && echo RRO-SUB-WRITABLE; \
         touch /mnt/rro/x 2>&1 && echo RRO-TOP-WRITABLE; \
         touch /mnt/rbind/sub/fromrbind && echo rbind-writable",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(
        m["bind-sub"], "[]",
        "plain bind must not carry submounts: {out}"
    );
    assert_eq!(m["rbind-sub"], "[inner]", "{out}");
    assert_eq!(m["rro-sub"], "[inner]", "{out}");
    assert!(
        !out.contains("WRITABLE"),
        "rro left something writable: {out}"
    );
    assert!(out.matches("Read-only file system").count() >= 2, "{out}");
    assert!(out.contains("rbind-writable"), "{out}");
    assert!(src.join("sub/fromrbind").exists());
    assert!(!src.join("sub/x").exists() && !src.join("x").exists());
}

#[test]
fn tmpfs_size_and_mode_options() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.add_mount(
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=0710"]}),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo mode $(stat -c %a /mnt/t); echo fstype $(stat -f -c %T /mnt/t); \
         dd if=/dev/zero of=/mnt/t/big bs=1024 count=2048 2>&1; echo size $(du -k /mnt/t/big | cut -f1); \
         cat /proc/self/mountinfo",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(m["mode"], "710", "{out}");
    assert_eq!(m["fstype"], "tmpfs", "{out}");
    assert!(
        out.contains("No space left on device"),
        "size=1m not enforced: {out}"
    );
    let size: u64 = m["size"].parse().unwrap();
    assert!(size <= 1024, "wrote {size}k into a 1m tmpfs");
    let line = last_mountinfo_line(&out, "/mnt/t").expect("/mnt/t in mountinfo");
    let mi = parse_mountinfo_line(line).unwrap_or_else(|| panic!("bad mountinfo line {line:?}"));
    assert_eq!(mi.fstype, "tmpfs");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(mi.options.split(',').any(|x| x == o), "{o} missing: {line}");
    }
    assert!(mi.super_options.contains("size=1024k"), "{line}");
    assert!(mi.super_options.contains("mode=710"), "{line}");
}

/// crun 1.28 bug: without linux.rootfsPropagation its `rshared` bind ends private (no
/// `shared:` peer group; with rootfsPropagation "private" or "shared" it is shared), though
/// its features list rshared among the mountOptions it recognizes.
#[test]
fn mount_propagation_options() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let src = b.dir.join("psrc");
    fs::create_dir(&src).unwrap();
    for (dest, prop) in [
        ("/mnt/shared", "rshared"),
        ("/mnt/private", "rprivate"),
        ("/mnt/unbindable", "runbindable"),
    ] {
        b.add_mount(
            json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", prop]}),
        );
    }
    let out = sh_ok(&rt, &mut b, "cat /proc/self/mountinfo");
    let opt = |dest: &str| {
        let line =
            last_mountinfo_line(&out, dest).unwrap_or_else(|| panic!("{dest} not mounted: {out}"));
        parse_mountinfo_line(line)
            .unwrap_or_else(|| panic!("bad mountinfo line {line:?}"))
            .optional
            .join(" ")
    };
    let shared = opt("/mnt/shared");
    assert!(
        shared.contains("shared:"),
        "rshared mount not shared: {shared:?}"
    );
    let private = opt("/mnt/private");
    assert!(
        !private.contains("shared:") && !private.contains("master:"),
        "rprivate mount has propagation: {private:?}"
    );
    let unb = opt("/mnt/unbindable");
    assert!(
        unb.contains("unbindable"),
        "runbindable not applied: {unb:?}"
    );
}

#[test]
fn tmpcopyup_copies_image_contents() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let etc = b.rootfs().join("etc");
    fs::create_dir_all(etc.join("sub")).unwrap();
    fs::write(etc.join("sub/deep"), "deep-content\n").unwrap();
    std::os::unix::fs::symlink("passwd", etc.join("pwlink")).unwrap();
    fs::set_permissions(etc.join("sub"), fs::Permissions::from_mode(0o750)).unwrap();
    b.add_mount(
        json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
               "options": ["tmpcopyup", "mode=755"]}),
    );
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo fstype $(stat -f -c %T /etc); echo deep $(cat /etc/sub/deep); \
         echo link $(readlink /etc/pwlink); echo submode $(stat -c %a /etc/sub); \
         grep -q '^user:x:1000' /etc/passwd && echo passwd-ok; \
         echo new > /etc/created && echo write-ok",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(m["fstype"], "tmpfs", "{out}");
    assert_eq!(m["deep"], "deep-content", "{out}");
    assert_eq!(m["link"], "passwd", "{out}");
    assert_eq!(m["submode"], "750", "{out}");
    assert!(
        out.contains("passwd-ok") && out.contains("write-ok"),
        "{out}"
    );
    assert!(
        !etc.join("created").exists(),
        "write to the tmpfs reached the image"
    );
}

#[test]
fn readonly_root() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_readonly(true);
    let (code, out, _) = sh(&rt, &mut b, "touch /rofs-test 2>&1; echo rc=$?");
    assert_eq!(code, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(!b.rootfs().join("rofs-test").exists());
    // writable root
    b.set_readonly(false);
    let out = sh_ok(&rt, &mut b, "touch /rwfs-test && echo ok");
    assert!(out.contains("ok"));
    assert!(b.rootfs().join("rwfs-test").exists());
}

// ---------------------------------------------------------------------------
// masked and read-only paths
// ---------------------------------------------------------------------------

#[test]
fn masked_paths_files_and_dirs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    fs::create_dir_all(b.rootfs().join("etc/maskdir")).unwrap();
    fs::write(b.rootfs().join("etc/maskdir/secret"), "secret\n").unwrap();
    fs::write(b.rootfs().join("etc/maskfile"), "file-secret\n").unwrap();
    b.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!("/etc/maskdir"),
            json!("/etc/maskfile"),
            json!("/does/not/exist"),
        ]);
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "echo file [$(cat /etc/maskfile)]; echo dir [$(ls -A /etc/maskdir)]; \
         echo keys [$(cat /proc/keys)]; echo keyslen $(wc -c < /proc/keys); \
         touch /etc/maskdir/x 2>&1 && echo MASKDIR-WRITABLE; echo end",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    let m = kv_lines(&out);
    assert_eq!(m["file"], "[]", "{out}");
    assert_eq!(m["dir"], "[]", "{out}");
    assert_eq!(m["keyslen"], "0", "{out}");
    assert_eq!(m["keys"], "[]", "{out}");
    assert!(!out.contains("MASKDIR-WRITABLE"), "{out}");
    assert!(out.contains("end"));
}

#[test]
fn readonly_paths() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let rw = b.dir.join("rw");
    fs::create_dir(&rw).unwrap();
    b.add_mount(
        json!({"destination": "/mnt/rw", "type": "bind", "source": rw, "options": ["rbind", "rw"]}),
    );
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/mnt/rw"));
    let (code, out, err) = sh(
        &rt,
        &mut b,
        "(echo 1 > /proc/sys/kernel/domainname) 2>&1 && echo PROCSYS-WRITABLE; \
         touch /mnt/rw/x 2>&1 && echo RW-WRITABLE; \
         echo sys $(cat /proc/sys/kernel/ostype); cat /proc/self/mountinfo",
    );
    assert_eq!(code, 0, "stdout={out} stderr={err}");
    assert!(!out.contains("WRITABLE"), "{out}");
    assert!(
        out.matches("Read-only file system").count() >= 2,
        "EROFS expected: {out}"
    );
    assert!(
        out.contains("sys Linux"),
        "readonly path not readable: {out}"
    );
    assert!(!rw.join("x").exists());
}

// ---------------------------------------------------------------------------
// devices
// ---------------------------------------------------------------------------

#[test]
fn default_devices() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let out = sh_ok(
        &rt,
        &mut b,
        "for d in null zero full random urandom tty; do \
           echo $d $(stat -c '%F %t:%T %a' /dev/$d); done; \
         echo pts $(stat -f -c %T /dev/pts); echo shm $(stat -f -c %T /dev/shm); \
         echo mqueue $(grep ' /dev/mqueue ' /proc/self/mountinfo | sed 's/.* - //' | cut -d' ' -f1); \
         echo ptmx $(readlink /dev/ptmx); echo fd $(readlink /dev/fd); \
         echo stdin $(readlink /dev/stdin); echo stdout $(readlink /dev/stdout); \
         echo stderr $(readlink /dev/stderr); \
         echo zeros $(head -c 4 /dev/zero | wc -c); echo x > /dev/null && echo null-ok; \
         echo rnd $(head -c 8 /dev/urandom | wc -c)",
    );
    let m = kv_lines(&out);
    for (d, mm) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        assert_eq!(
            m.get(d).map(String::as_str),
            Some(format!("character special file {mm} 666").as_str()),
            "/dev/{d}: {out}"
        );
    }
    assert_eq!(m["pts"], "devpts");
    assert_eq!(m["shm"], "tmpfs");
    assert_eq!(m["mqueue"], "mqueue");
    assert_eq!(m["ptmx"], "pts/ptmx");
    assert_eq!(m["fd"], "/proc/self/fd");
    assert_eq!(m["stdin"], "/proc/self/fd/0");
    assert_eq!(m["stdout"], "/proc/self/fd/1");
    assert_eq!(m["stderr"], "/proc/self/fd/2");
    assert_eq!(m["zeros"], "4");
    assert_eq!(m["rnd"], "8");
    assert!(out.contains("null-ok"));
}

#[test]
fn linux_devices_created_with_mode_and_owner() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["devices"] = json!([
        { "path": "/dev/hulltest", "type": "c", "major": 1, "minor": 3,
          "fileMode": 0o660, "uid": 1000, "gid": 2000 },
        { "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666,
          "uid": 0, "gid": 0 }
    ]);
    b.config["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    let out = sh_ok(
        &rt,
        &mut b,
        "echo hulltest $(stat -c '%F %t:%T %a %u:%g' /dev/hulltest); \
         echo fuse $(stat -c '%F %t:%T %a %u:%g' /dev/fuse); \
         echo data > /dev/hulltest && echo write-ok",
    );
    let m = kv_lines(&out);
    assert_eq!(
        m["hulltest"], "character special file 1:3 660 1000:2000",
        "{out}"
    );
    assert_eq!(m["fuse"], "character special file a:e5 666 0:0", "{out}");
    assert!(out.contains("write-ok"), "listed device not usable: {out}");
}
