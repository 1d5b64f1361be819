//! A busybox image built locally (no network) from Debian's busybox-static,
//! once per test process, in three shapes: a plain rootfs directory, a rootfs
//! tarball (for `podman import`) and an OCI image archive made with umoci
//! (for `ctr images import`). The build directory is removed at process exit.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::util::{require_tool, run_cmd, unique};

/// Name under which the OCI archive's single manifest is tagged
/// (`org.opencontainers.image.ref.name`).
pub const OCI_TAG: &str = "bb";
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct Image {
    /// Build directory (removed at exit).
    pub dir: PathBuf,
    /// The rootfs directory.
    pub rootfs: PathBuf,
    /// `tar` of the rootfs (for `podman import`).
    pub rootfs_tar: PathBuf,
    /// OCI image-layout archive (for `ctr images import`).
    pub oci_archive: PathBuf,
}

static IMAGE: OnceLock<Result<Image, String>> = OnceLock::new();
static IMAGE_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_image_dir() {
    if std::env::var_os("HULL_CLIENTS_KEEP").is_some() {
        return;
    }
    if let Some(d) = IMAGE_DIR.get() {
        let _ = fs::remove_dir_all(d);
    }
}

/// The per-process busybox image (built on first use).
pub fn busybox() -> &'static Image {
    match IMAGE.get_or_init(build) {
        Ok(i) => i,
        Err(e) => panic!("building the busybox test image failed: {e}"),
    }
}

fn build() -> Result<Image, String> {
    for t in ["umoci", "tar"] {
        require_tool(t);
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return Err("/bin/busybox missing (install busybox-static)".into());
    }
    let dir = std::env::temp_dir().join(unique("hull-clients-img"));
    fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    IMAGE_DIR.set(dir.clone()).ok();
    unsafe {
        libc::atexit(remove_image_dir);
    }
    let io = dir.join("io");
    let rootfs = dir.join("rootfs");
    make_rootfs(busybox, &rootfs).map_err(|e| format!("rootfs: {e}"))?;

    let layout = dir.join("oci");
    let bundle = dir.join("bundle");
    let image = format!("{}:{OCI_TAG}", layout.display());
    let t = Duration::from_secs(60);
    let umoci = |args: &[&str]| {
        let o = run_cmd(Command::new("umoci").args(args), &io, t);
        if o.code() != 0 {
            Err(format!("umoci failed\n{}", o.describe()))
        } else {
            Ok(())
        }
    };
    umoci(&["init", "--layout", &layout.to_string_lossy()])?;
    umoci(&["new", "--image", &image])?;
    umoci(&["unpack", "--image", &image, &bundle.to_string_lossy()])?;
    let cp = run_cmd(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", rootfs.display()))
            .arg(bundle.join("rootfs")),
        &io,
        t,
    );
    if cp.code() != 0 {
        return Err(cp.describe());
    }
    umoci(&["repack", "--image", &image, &bundle.to_string_lossy()])?;
    umoci(&[
        "config",
        "--image",
        &image,
        "--config.cmd",
        "sh",
        "--config.env",
        PATH_ENV,
        "--config.workingdir",
        "/",
    ])?;
    // umoci keeps the old manifest/config blobs around; gc them away.
    umoci(&["gc", "--layout", &layout.to_string_lossy()])?;
    fs::remove_dir_all(&bundle).ok();

    let oci_archive = dir.join("busybox-oci.tar");
    let rootfs_tar = dir.join("busybox-rootfs.tar");
    for (src, dst) in [(&layout, &oci_archive), (&rootfs, &rootfs_tar)] {
        let o = run_cmd(
            Command::new("tar")
                .arg("-C")
                .arg(src)
                .arg("-cf")
                .arg(dst)
                .arg("."),
            &io,
            t,
        );
        if o.code() != 0 {
            return Err(o.describe());
        }
    }
    Ok(Image {
        dir,
        rootfs,
        rootfs_tar,
        oci_archive,
    })
}

fn make_rootfs(busybox: &Path, root: &Path) -> std::io::Result<()> {
    for d in [
        "bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var", "run",
    ] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700))?;
    fs::copy(busybox, root.join("bin/busybox"))?;
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;
    let list = Command::new(busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = root.join("bin").join(applet);
        if !link.exists() {
            symlink("busybox", link)?;
        }
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(root.join("etc/group"), "root:x:0:\nnobody:x:65534:\n")?;
    Ok(())
}
