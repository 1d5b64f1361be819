//! The parts of a CRIU request that dump and restore share, and what both do around it:
//! image and work directories, the CRIU config file, quoting CRIU's log on failure.

use super::options::Common;
use anyhow::{Context, Result};
use rust_criu::rust_criu_protobuf::rpc;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Directories CRIU works in, kept open while it runs: CRIU opens our fds through
/// /proc/<our pid>/fd/<n>, so their numbers go into the request.
pub struct Dirs {
    pub images: OwnedFd,
    pub work: Option<OwnedFd>,
    /// Where CRIU writes its log: the work directory if given, else the image directory.
    pub log_dir: PathBuf,
}

pub fn open_dirs(c: &Common) -> Result<Dirs> {
    let images = crate::util::path::open_root_any(&c.image_path)
        .with_context(|| format!("opening the image directory {}", c.image_path.display()))?;
    let work = match &c.work_path {
        Some(w) => {
            super::options::make_dir(w, "--work-path")?;
            Some(crate::util::path::open_root_any(w)?)
        }
        None => None,
    };
    Ok(Dirs {
        images,
        work,
        log_dir: c.work_path.clone().unwrap_or_else(|| c.image_path.clone()),
    })
}

/// Options common to dump and restore (runc's values).
pub fn base_opts(
    c: &Common,
    dirs: &Dirs,
    log_file: &str,
    annotations: Option<&HashMap<String, String>>,
) -> rpc::Criu_opts {
    let mut o = rpc::Criu_opts::new();
    o.set_images_dir_fd(dirs.images.as_raw_fd());
    if let Some(w) = &dirs.work {
        o.set_work_dir_fd(w.as_raw_fd());
    }
    o.set_log_level(4);
    o.set_log_file(log_file.into());
    o.set_manage_cgroups(true);
    o.set_manage_cgroups_mode(c.cgroups_mode);
    o.set_notify_scripts(true);
    o.set_shell_job(c.shell_job);
    o.set_tcp_established(c.tcp_established);
    o.set_ext_unix_sk(c.ext_unix_sk);
    o.set_file_locks(c.file_locks);
    o.set_empty_ns(c.empty_ns);
    o.set_orphan_pts_master(true);
    o.set_auto_dedup(c.auto_dedup);
    o.set_lazy_pages(c.lazy_pages);
    if let Some(f) = config_file(annotations) {
        o.set_config_file(f);
    }
    o
}

/// runc's rule: the "org.criu.config" annotation names a CRIU config file (empty: none);
/// without it /etc/criu/runc.conf, so settings made there for runc apply to hull as well.
fn config_file(annotations: Option<&HashMap<String, String>>) -> Option<String> {
    match annotations.and_then(|a| a.get("org.criu.config")) {
        Some(f) if f.is_empty() => None,
        Some(f) => Some(f.clone()),
        None => Some("/etc/criu/runc.conf".into()),
    }
}

/// CRIU's own words: every "Error" line of its log (with the line before), as warnings.
pub fn quote_log(dir: &Path, file: &str) {
    let path = dir.join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let errors: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("Error") && !lines[i].contains("RLIMIT_NOFILE"))
        .collect();
    if errors.is_empty() {
        return;
    }
    crate::logging::warn(&format!("--- Quoting {:?}", path.display().to_string()));
    for i in errors.into_iter().take(10) {
        crate::logging::warn(&format!("{}:{}", i + 1, lines[i]));
    }
    crate::logging::warn("---");
}

pub fn request(t: rpc::Criu_req_type, opts: rpc::Criu_opts) -> rpc::Criu_req {
    let mut r = rpc::Criu_req::new();
    r.set_type(t);
    r.opts = protobuf::MessageField::some(opts);
    r
}

/// CRIU's key for an external namespace, as runc names it ("extRootNetNS").
pub fn ns_key(name: &str) -> String {
    let mut c = name.chars();
    let cap: String = c
        .next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default();
    format!("extRoot{cap}NS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_config_file() {
        assert_eq!(ns_key("net"), "extRootNetNS");
        assert_eq!(ns_key("pid"), "extRootPidNS");
        assert_eq!(config_file(None).as_deref(), Some("/etc/criu/runc.conf"));
        let mut a = HashMap::new();
        a.insert("org.criu.config".to_string(), String::new());
        assert_eq!(config_file(Some(&a)), None);
    }
}
