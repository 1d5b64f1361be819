//! Restoring a container from CRIU images, as runc does: CRIU runs in the container's
//! cgroups (so the restored tasks land there), roots the restore at a bind mount of the
//! rootfs, re-binds the external mounts from the host, joins namespaces the config names by
//! path, hands the init's old stdio pipes over to ours, and restores the init as our child
//! (rst_sibling), so `hull restore` can supervise it like `run`.

use super::options::Common;
use super::request::{self, base_opts, quote_log};
use super::swrk::{CriuStdio, Notify, Swrk, FIRST_EXTRA_FD};
use super::version;
use crate::cgroups::Manager;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rust_criu::rust_criu_protobuf::rpc;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Request<'a> {
    pub criu: &'a Path,
    pub common: &'a Common,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    /// The new container's state directory (the rootfs bind mount lives there meanwhile).
    pub state_dir: &'a Path,
    pub cgroup: &'a dyn Manager,
}

/// What the caller does when CRIU reports progress.
pub struct Handlers<'a> {
    /// Namespaces exist, the init (this pid) is not restored yet: prestart/createRuntime hooks.
    pub namespaces_ready: &'a mut dyn FnMut(i32) -> Result<()>,
    /// The pty master of a restored terminal (CRIU's orphan-pts-master).
    pub pty_master: &'a mut dyn FnMut(OwnedFd) -> Result<()>,
}

/// mount(2) with MS_BIND|MS_REC.
fn bind_rec(src: &Path, dst: &Path) -> std::io::Result<()> {
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)
    };
    let (s, d) = (c(src)?, c(dst)?);
    let flags = libc::MS_BIND | libc::MS_REC;
    if unsafe {
        libc::mount(
            s.as_ptr(),
            d.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The rootfs bound at <state dir>/criu-root: CRIU wants its root to be a mount point whose
/// parent is not overmounted. Unmounted and removed on drop.
struct CriuRoot(PathBuf);

impl CriuRoot {
    fn mount(rootfs: &Path, state_dir: &Path) -> Result<CriuRoot> {
        let dir = state_dir.join("criu-root");
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let guard = CriuRoot(dir);
        bind_rec(rootfs, &guard.0).context("binding the rootfs for criu")?;
        Ok(guard)
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The init's stdio at dump time (see dump::DESCRIPTORS).
fn descriptors(image: &Path) -> Result<Vec<String>> {
    let path = image.join(super::dump::DESCRIPTORS);
    let raw = std::fs::read(&path).with_context(|| {
        format!(
            "no checkpoint in {}: reading {}",
            image.display(),
            path.display()
        )
    })?;
    serde_json::from_slice(&raw).with_context(|| format!("parsing {}", path.display()))
}

/// Namespaces the config joins by path: net and pid are CRIU externals passed as inherited
/// fds (returned to keep open), the others are joined by CRIU itself.
fn namespaces(spec: &Spec, o: &mut rpc::Criu_opts) -> Result<Vec<OwnedFd>> {
    let mut files = Vec::new();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
    {
        let Some(path) = ns.path() else { continue };
        let name = match ns.typ() {
            LinuxNamespaceType::Network => "net",
            LinuxNamespaceType::Pid => "pid",
            LinuxNamespaceType::Cgroup => {
                bail!("restore: a cgroup namespace joined by path (linux.namespaces) is not supported by criu")
            }
            LinuxNamespaceType::Mount => "mnt",
            LinuxNamespaceType::Ipc => "ipc",
            LinuxNamespaceType::Uts => "uts",
            LinuxNamespaceType::User => "user",
            LinuxNamespaceType::Time => "time",
        };
        if name == "net" || name == "pid" {
            let f = std::fs::File::open(path)
                .with_context(|| format!("opening {name} namespace {}", path.display()))?;
            let mut inh = rpc::Inherit_fd::new();
            inh.set_key(request::ns_key(name));
            inh.set_fd(FIRST_EXTRA_FD + files.len() as i32);
            o.inherit_fd.push(inh);
            files.push(OwnedFd::from(f));
        } else {
            let mut j = rpc::Join_namespace::new();
            j.set_ns(name.into());
            j.set_ns_file(path.to_string_lossy().into_owned());
            o.join_ns.push(j);
        }
    }
    Ok(files)
}

/// The init's old stdio pipes become CRIU's (= our) fds 0-2 in the restored init.
fn inherit_pipes(image: &Path, o: &mut rpc::Criu_opts) -> Result<()> {
    for (i, target) in descriptors(image)?.iter().enumerate() {
        if target.contains("pipe:") {
            let mut inh = rpc::Inherit_fd::new();
            inh.set_key(target.clone());
            inh.set_fd(i as i32);
            o.inherit_fd.push(inh);
        }
    }
    Ok(())
}

/// CRIU's cgroup roots: where it is now (the container's cgroups), per controller.
fn cgroup_roots(proc_cgroup: &str) -> Vec<rpc::Cgroup_root> {
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        for ctrl in ctrls.split(',') {
            let mut r = rpc::Cgroup_root::new();
            r.set_ctrl(ctrl.to_string());
            r.set_path(path.to_string());
            out.push(r);
        }
    }
    out
}

fn restore_opts(
    r: &Request,
    dirs: &request::Dirs,
    root: &Path,
) -> Result<(rpc::Criu_opts, Vec<OwnedFd>)> {
    let annotations = r.spec.annotations().as_ref();
    let mut o = base_opts(r.common, dirs, "restore.log", annotations);
    o.set_evasive_devices(true);
    o.set_rst_sibling(true);
    o.set_root(root.to_string_lossy().into_owned());
    let files = namespaces(r.spec, &mut o)?;
    inherit_pipes(&r.common.image_path, &mut o)?;
    Ok((o, files))
}

/// Restores the container; returns the restored init's pid (our child).
pub fn restore(r: &Request, h: &mut Handlers) -> Result<i32> {
    version::check(r.criu)?;
    if r.common.lazy_pages {
        let mut want = rpc::Criu_features::new();
        want.set_lazy_pages(true);
        version::require_features(r.criu, want)?;
    }
    let dirs = request::open_dirs(r.common)?;
    super::mounts::make_mountpoints(r.spec, r.rootfs, r.bundle)?;
    let root = CriuRoot::mount(r.rootfs, r.state_dir)?;
    let (mut opts, files) = restore_opts(r, &dirs, &root.0)?;
    let raw: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    let mut swrk = Swrk::spawn(r.criu, &raw, CriuStdio::Inherit)?;
    drop(files);
    // In the container's cgroups before it restores anything, so every task lands there.
    r.cgroup
        .add_pid(swrk.pid())
        .context("placing criu in the container's cgroup")?;
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", swrk.pid()))
        .context("reading criu's cgroups")?;
    opts.cg_root = cgroup_roots(&proc_cgroup);
    opts.ext_mnt = super::mounts::for_restore(r.spec, r.bundle, &proc_cgroup)?;
    let mut restored = None;
    let res = swrk.call(
        &request::request(rpc::Criu_req_type::RESTORE, opts),
        &mut |n: Notify| match n.script.as_str() {
            "setup-namespaces" => (h.namespaces_ready)(n.pid),
            "post-restore" => {
                restored = Some(n.pid);
                Ok(())
            }
            "orphan-pts-master" => match n.fd {
                Some(fd) => (h.pty_master)(fd),
                None => bail!("criu sent no pty master with orphan-pts-master"),
            },
            _ => Ok(()),
        },
    );
    let (status, _) = swrk.finish();
    drop(root);
    if let Err(e) = res {
        quote_log(&dirs.log_dir, "restore.log");
        return Err(e);
    }
    if !status.success() {
        quote_log(&dirs.log_dir, "restore.log");
        bail!("criu failed: {status}");
    }
    restored.context("criu finished without reporting the restored init (post-restore)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_roots_per_controller() {
        let r = cgroup_roots("4:cpu,cpuacct:/a/b\n1:name=systemd:/a/b\n0::/x\n");
        let v: Vec<(&str, &str)> = r.iter().map(|c| (c.ctrl(), c.path())).collect();
        assert_eq!(
            v,
            vec![
                ("cpu", "/a/b"),
                ("cpuacct", "/a/b"),
                ("name=systemd", "/a/b"),
                ("", "/x")
            ]
        );
    }
}
