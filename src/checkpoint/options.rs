//! runc's checkpoint/restore flags, validated and turned into what the CRIU request needs.

use crate::cli::args::{flag, FlagSpec, Kind, Parsed};
use anyhow::{bail, Context, Result};
use rust_criu::rust_criu_protobuf::rpc::Criu_cg_mode;
use std::path::{Path, PathBuf};

/// `hull checkpoint`'s flags, with runc's names and meaning.
pub const CHECKPOINT_FLAGS: &[FlagSpec] = &[
    flag(&["image-path"], Kind::Value),
    flag(&["work-path"], Kind::Value),
    flag(&["parent-path"], Kind::Value),
    flag(&["leave-running"], Kind::Bool),
    flag(&["tcp-established"], Kind::Bool),
    flag(&["ext-unix-sk"], Kind::Bool),
    flag(&["shell-job"], Kind::Bool),
    flag(&["lazy-pages"], Kind::Bool),
    flag(&["status-fd"], Kind::Value),
    flag(&["page-server"], Kind::Value),
    flag(&["file-locks"], Kind::Bool),
    flag(&["pre-dump"], Kind::Bool),
    flag(&["manage-cgroups-mode"], Kind::Value),
    flag(&["empty-ns"], Kind::Multi),
    flag(&["auto-dedup"], Kind::Bool),
];

/// `hull restore`'s flags, with runc's names and meaning.
pub const RESTORE_FLAGS: &[FlagSpec] = &[
    flag(&["console-socket"], Kind::Value),
    flag(&["image-path"], Kind::Value),
    flag(&["work-path"], Kind::Value),
    flag(&["tcp-established"], Kind::Bool),
    flag(&["ext-unix-sk"], Kind::Bool),
    flag(&["shell-job"], Kind::Bool),
    flag(&["file-locks"], Kind::Bool),
    flag(&["manage-cgroups-mode"], Kind::Value),
    flag(&["bundle", "b"], Kind::Value),
    flag(&["detach", "d"], Kind::Bool),
    flag(&["pid-file"], Kind::Value),
    flag(&["no-subreaper"], Kind::Bool),
    // Accepted as runc accepts it (containerd passes it when configured): CRIU rebuilds the
    // mount namespace from the images, there is no pivot_root to skip.
    flag(&["no-pivot"], Kind::Bool),
    flag(&["empty-ns"], Kind::Multi),
    flag(&["auto-dedup"], Kind::Bool),
    flag(&["lazy-pages"], Kind::Bool),
];

/// What both a dump and a restore are told.
pub struct Common {
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub cgroups_mode: Criu_cg_mode,
    /// CLONE_NEW* bits of namespaces CRIU creates empty (network always: like runc, hull
    /// does not manage network devices, whoever set them up restores them).
    pub empty_ns: u32,
    pub auto_dedup: bool,
    pub lazy_pages: bool,
}

/// Dump-only settings.
pub struct Dump {
    pub common: Common,
    /// Relative to the image path (runc's rule), checked to be a directory.
    pub parent_path: Option<String>,
    pub leave_running: bool,
    pub pre_dump: bool,
    pub page_server: Option<(String, i32)>,
    pub status_fd: Option<i32>,
}

pub fn cgroups_mode(v: Option<&str>) -> Result<Criu_cg_mode> {
    Ok(match v.unwrap_or("") {
        "" => Criu_cg_mode::DEFAULT,
        "soft" => Criu_cg_mode::SOFT,
        "full" => Criu_cg_mode::FULL,
        "strict" => Criu_cg_mode::STRICT,
        "ignore" => Criu_cg_mode::IGNORE,
        other => {
            bail!("invalid --manage-cgroups-mode value {other:?}: use soft, full, strict or ignore")
        }
    })
}

pub fn empty_ns(names: &[String]) -> Result<u32> {
    let mut mask = libc::CLONE_NEWNET as u32;
    for n in names {
        match n.as_str() {
            "network" => mask |= libc::CLONE_NEWNET as u32,
            other => bail!("namespace {other:?} is not supported by --empty-ns (only network)"),
        }
    }
    Ok(mask)
}

/// `--image-path`, or runc's default `./checkpoint`.
fn image_path(p: &Parsed) -> Result<PathBuf> {
    let path = match p.get("image-path").filter(|s| !s.is_empty()) {
        Some(s) => PathBuf::from(s),
        None => std::env::current_dir()?.join("checkpoint"),
    };
    Ok(path)
}

pub fn common(p: &Parsed) -> Result<Common> {
    Ok(Common {
        image_path: image_path(p)?,
        work_path: p
            .get("work-path")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
        tcp_established: p.bool("tcp-established"),
        ext_unix_sk: p.bool("ext-unix-sk"),
        shell_job: p.bool("shell-job"),
        file_locks: p.bool("file-locks"),
        cgroups_mode: cgroups_mode(p.get("manage-cgroups-mode"))?,
        empty_ns: empty_ns(&p.all("empty-ns"))?,
        auto_dedup: p.bool("auto-dedup"),
        lazy_pages: p.bool("lazy-pages"),
    })
}

/// runc's rule: relative to the image directory, and an existing directory there.
pub fn check_parent_path(image: &Path, parent: &str) -> Result<()> {
    if Path::new(parent).is_absolute() {
        bail!("--parent-path must be relative");
    }
    let real = image.join(parent);
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("invalid --parent-path: {}: not a directory", real.display()),
        Err(e) => bail!(
            "invalid --parent-path: {}: {}",
            real.display(),
            crate::util::errno_text(&e)
        ),
    }
}

/// `ADDRESS:PORT` (an IPv6 address in brackets).
pub fn page_server(v: &str) -> Result<(String, i32)> {
    let usage = "use --page-server ADDRESS:PORT to specify the page server";
    let (addr, port) = v.rsplit_once(':').context(usage)?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    if addr.is_empty() || port.is_empty() {
        bail!("{usage}");
    }
    let port: u16 = port
        .parse()
        .with_context(|| format!("invalid port number {port:?} in --page-server"))?;
    Ok((addr.to_string(), port as i32))
}

/// The status fd must be open and writable (checked now, not by CRIU later).
fn status_fd(v: &str) -> Result<i32> {
    let fd: i32 = v
        .parse()
        .with_context(|| format!("invalid --status-fd argument {v:?}"))?;
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        bail!(
            "invalid --status-fd argument {fd}: {}",
            crate::util::errno_text(&std::io::Error::last_os_error())
        );
    }
    if flags & libc::O_ACCMODE == libc::O_RDONLY {
        bail!("invalid --status-fd argument {fd}: not writable");
    }
    Ok(fd)
}

pub fn dump(p: &Parsed) -> Result<Dump> {
    let common = common(p)?;
    let parent_path = p
        .get("parent-path")
        .filter(|s| !s.is_empty())
        .map(String::from);
    let page_server = p
        .get("page-server")
        .filter(|s| !s.is_empty())
        .map(page_server)
        .transpose()?;
    let status_fd = match p.get("status-fd") {
        None | Some("-1") => None,
        Some(v) => Some(status_fd(v)?),
    };
    Ok(Dump {
        common,
        parent_path,
        leave_running: p.bool("leave-running"),
        pre_dump: p.bool("pre-dump"),
        page_server,
        status_fd,
    })
}

/// Creates the image directory (and the work directory) as runc does before a dump.
pub fn prepare_dump_dirs(d: &Dump) -> Result<()> {
    make_dir(&d.common.image_path, "--image-path")?;
    if let Some(w) = &d.common.work_path {
        make_dir(w, "--work-path")?;
    }
    if let Some(parent) = &d.parent_path {
        check_parent_path(&d.common.image_path, parent)?;
    }
    Ok(())
}

pub fn make_dir(path: &Path, flag: &str) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating {flag} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_path_rules() {
        let dir = std::env::temp_dir().join(format!("hull-parent-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pre")).unwrap();
        std::fs::write(dir.join("file"), b"").unwrap();
        assert!(check_parent_path(&dir, "pre").is_ok());
        assert!(check_parent_path(&dir, "../hull-no-such-dir")
            .unwrap_err()
            .to_string()
            .contains("--parent-path"));
        assert!(check_parent_path(&dir, "/abs")
            .unwrap_err()
            .to_string()
            .contains("must be relative"));
        assert!(check_parent_path(&dir, "file")
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn page_server_and_modes() {
        assert_eq!(page_server("10.0.0.1:27").unwrap(), ("10.0.0.1".into(), 27));
        assert_eq!(page_server("[::1]:80").unwrap(), ("::1".into(), 80));
        assert!(page_server("nohost").is_err());
        assert!(page_server("h:port").is_err());
        assert!(cgroups_mode(Some("bogus")).is_err());
        assert_eq!(cgroups_mode(Some("strict")).unwrap(), Criu_cg_mode::STRICT);
        assert_eq!(empty_ns(&[]).unwrap(), libc::CLONE_NEWNET as u32);
        assert!(empty_ns(&["pid".into()]).is_err());
    }
}
