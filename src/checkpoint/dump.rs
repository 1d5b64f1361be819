//! Checkpointing (and pre-dumping) a running container with CRIU, as runc does.

use super::options::Dump;
use super::request::{self, base_opts, quote_log, Dirs};
use super::swrk::{CriuStdio, Swrk};
use super::version;
use crate::state::ContainerState;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rust_criu::rust_criu_protobuf::rpc;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What `restore` needs to reconnect the init's stdio: the target of each of its fds 0-2
/// ("pipe:[123]" pipes are handed over to the restoring caller's stdio).
pub const DESCRIPTORS: &str = "descriptors.json";

/// The namespaces CRIU must treat as external because the container joined them by path:
/// CRIU records them by inode and expects them to exist again at restore.
fn external_namespaces(spec: &Spec) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
    {
        let name = match ns.typ() {
            LinuxNamespaceType::Network => "net",
            LinuxNamespaceType::Pid => "pid",
            _ => continue,
        };
        let Some(path) = ns.path() else { continue };
        let ino = std::fs::metadata(path)
            .with_context(|| format!("{name} namespace {}", path.display()))?
            .ino();
        out.push(format!("{name}[{ino}]:{}", request::ns_key(name)));
    }
    Ok(out)
}

/// The freezer CRIU uses to stop the tasks (faster and race-free compared with ptrace alone).
fn freezer(st: &ContainerState) -> Option<PathBuf> {
    let cg = st.cgroup.as_ref()?;
    cg.paths
        .get("freezer")
        .or_else(|| cg.paths.get(""))
        .cloned()
}

fn write_descriptors(pid: i32, image: &Path) -> Result<()> {
    let fds: Vec<String> = (0..3)
        .map(|i| {
            std::fs::read_link(format!("/proc/{pid}/fd/{i}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    crate::util::fs::write_atomic(&image.join(DESCRIPTORS), &serde_json::to_vec(&fds)?, 0o600)
}

fn dump_opts(st: &ContainerState, spec: &Spec, d: &Dump, dirs: &Dirs) -> Result<rpc::Criu_opts> {
    let mut o = base_opts(&d.common, dirs, "dump.log", st.annotations.as_ref());
    o.set_root(st.rootfs.to_string_lossy().into_owned());
    o.set_pid(st.pid);
    o.set_leave_running(d.leave_running);
    o.external = external_namespaces(spec)?;
    if let Some(f) = freezer(st) {
        o.set_freeze_cgroup(f.to_string_lossy().into_owned());
    }
    if let Some((addr, port)) = &d.page_server {
        let mut ps = rpc::Criu_page_server_info::new();
        ps.set_address(addr.clone());
        ps.set_port(*port);
        o.ps = protobuf::MessageField::some(ps);
    }
    if let Some(parent) = &d.parent_path {
        o.set_parent_img(parent.clone());
        o.set_track_mem(true);
    }
    if !d.pre_dump {
        o.ext_mnt = super::mounts::for_dump(spec, st.pid)?;
    }
    Ok(o)
}

fn check_features(criu: &Path, d: &Dump) -> Result<()> {
    let mut want = rpc::Criu_features::new();
    if d.pre_dump {
        want.set_mem_track(true);
    }
    if d.common.lazy_pages {
        want.set_lazy_pages(true);
    }
    if want.has_mem_track() || want.has_lazy_pages() {
        version::require_features(criu, want)?;
    }
    Ok(())
}

/// Dumps (or pre-dumps) the container into the directories options::prepare_dump_dirs made.
/// The caller destroys it afterwards unless it was told to leave it running.
pub fn checkpoint(criu: &Path, st: &ContainerState, spec: &Spec, d: &Dump) -> Result<()> {
    version::check(criu)?;
    check_features(criu, d)?;
    let dirs = request::open_dirs(&d.common)?;
    let opts = dump_opts(st, spec, d, &dirs)?;
    if !d.pre_dump {
        write_descriptors(st.pid, &d.common.image_path)?;
    }
    let t = if d.pre_dump {
        rpc::Criu_req_type::PRE_DUMP
    } else {
        rpc::Criu_req_type::DUMP
    };
    let mut status_fd = d.status_fd;
    let mut swrk = Swrk::spawn(criu, &[], CriuStdio::Null)?;
    let res = swrk.call(&request::request(t, opts), &mut |n| {
        if n.script == "status-ready" {
            // Lazy pages: the page server is ready; tell whoever waits on --status-fd.
            if let Some(fd) = status_fd.take() {
                unsafe {
                    libc::write(fd, [0u8].as_ptr().cast(), 1);
                    libc::close(fd);
                }
            }
        }
        Ok(())
    });
    let (status, _) = swrk.finish();
    if let Err(e) = res {
        quote_log(&dirs.log_dir, "dump.log");
        return Err(e);
    }
    // A pre-dump CRIU waits for the next request and fails when we hang up: that is fine.
    if !status.success() && !d.pre_dump {
        quote_log(&dirs.log_dir, "dump.log");
        bail!("criu failed: {status}");
    }
    Ok(())
}
