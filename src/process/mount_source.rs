//! Bind sources for an init in a user namespace. Inside it, the container's root may not
//! traverse root-owned 0700 directories on the host (podman's userdata), so the init asks the
//! parent: the parent enters the init's mount namespace (so earlier container mounts are seen,
//! sources resolve at mount time, in order) with the host's credentials, clones the source
//! as a detached mount tree (open_tree) and passes the fd back; the init attaches it with
//! move_mount and closes it. No host fd outlives the mount step.
//!
//! The parent acts with more privilege than the init, so it takes a request as a question, not
//! an order: only a bind source the config names (with exactly its idmapping) or, for a user
//! namespace, a host node of a device the config gives the container is opened.

use super::sync::{Channel, Tag};
use crate::setup::devices::{self, DeviceId};
use crate::setup::mount_fd::{clone_tree, SourceRequest};
use crate::setup::{idmap, mount_options, mounts};
use anyhow::{bail, Context, Result};
use std::collections::hash_map::{Entry, HashMap};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// Init side: the detached tree asked for, opened (and idmapped) by the parent.
pub fn request(chan: &Channel, req: &SourceRequest) -> Result<OwnedFd> {
    chan.send(Tag::MountSource, &req.encode())?;
    let (tag, data, fd) = recv_with_fd(chan.raw_fd())?;
    match (tag, fd) {
        (Some(Tag::MountSourceFd), Some(fd)) => Ok(fd),
        (Some(Tag::Error), _) => bail!("{}", String::from_utf8_lossy(&data)),
        (None, _) => bail!("sync: parent exited while opening a mount source"),
        (t, _) => bail!("sync: expected a mount source fd, got {t:?}"),
    }
}

/// What the config lets the init ask for.
pub struct Allowed {
    /// The bind mounts' sources, as the init asks for them (mounts::bind_request).
    binds: Vec<SourceRequest>,
    /// Devices a container in a user namespace gets bound from the host, and their paths.
    devices: Vec<DeviceId>,
    device_paths: Vec<PathBuf>,
}

impl Allowed {
    pub fn new(spec: &oci_spec::runtime::Spec, bundle: &Path) -> Allowed {
        let linux = spec.linux().as_ref();
        let maps = idmap::container_maps(linux);
        let binds = spec
            .mounts()
            .iter()
            .flatten()
            .filter_map(|m| {
                let opts = mount_options::parse(m.options().as_deref().unwrap_or(&[]));
                mounts::is_bind_entry(m, &opts)
                    .then(|| mounts::bind_request(m, &opts, bundle, &maps).ok())
                    .flatten()
            })
            .collect();
        let spec_devices = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
        let (devices, device_paths) = devices::bindable(spec_devices);
        Allowed {
            binds,
            devices,
            device_paths,
        }
    }

    /// Refuses a request the config does not account for. A device request is answered
    /// with the device the opened node must turn out to be one of (checked once it is open:
    /// the path is the host's, resolved at open time).
    fn check(&self, req: &SourceRequest) -> Result<Option<&[DeviceId]>> {
        if self.binds.contains(req) {
            return Ok(None);
        }
        let p = &req.path;
        let device_path = self.device_paths.contains(p)
            || (p.starts_with("/dev") && !p.components().any(|c| c == Component::ParentDir));
        if device_path && !req.recursive && req.idmap.is_none() {
            return Ok(Some(&self.devices));
        }
        bail!(
            "container init asked for mount source {}, which its config does not name",
            p.display()
        )
    }
}

/// Parent side, for one init: the namespaces and directories it moves between (opened at
/// the first request), what it may open, and the idmap user namespaces built so far (one per
/// distinct mapping).
pub struct Server {
    theirs: OwnedFd,
    ours: OwnedFd,
    root: OwnedFd,
    cwd: OwnedFd,
    allowed: Allowed,
    idmaps: HashMap<(String, String), OwnedFd>,
}

impl Server {
    pub fn new(pid: i32, allowed: Allowed) -> Result<Server> {
        let open = |p: &str| -> Result<OwnedFd> {
            Ok(std::fs::File::open(p)
                .with_context(|| format!("opening {p}"))?
                .into())
        };
        Ok(Server {
            theirs: open(&format!("/proc/{pid}/ns/mnt"))?,
            ours: open("/proc/self/ns/mnt")?,
            root: crate::util::path::open_root(Path::new("/"))?,
            cwd: crate::util::path::open_root(Path::new("."))?,
            allowed,
            idmaps: HashMap::new(),
        })
    }

    /// Answers one request. A request the config does not account for is fatal for the
    /// create (our init never sends one), and so is an error returning to our own mount
    /// namespace; an error opening the source goes back to the init (which reports it with
    /// the mount it belongs to).
    pub fn serve(&mut self, chan: &Channel, payload: &[u8]) -> Result<()> {
        let Some(req) = SourceRequest::decode(payload) else {
            bail!("sync: malformed mount source request");
        };
        let devices = self.allowed.check(&req)?;
        let path = &req.path;
        let opened = self.in_their_mount_ns(|| {
            clone_tree(path, req.recursive)
                .with_context(|| format!("bind source {}", path.display()))
        })?;
        let opened = opened.and_then(|tree| {
            if let Some(devices) = devices {
                if !devices.contains(&DeviceId::of_fd(&tree)?) {
                    bail!(
                        "host {} is not a device the container's config gives it",
                        path.display()
                    );
                }
            }
            if let Some(i) = &req.idmap {
                let key = (i.uid_map.clone(), i.gid_map.clone());
                let ns = match self.idmaps.entry(key) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(idmap::userns_fd(&i.uid_map, &i.gid_map)?),
                };
                idmap::apply(&tree, ns, i.recursive)
                    .with_context(|| format!("idmapping {}", path.display()))?;
            }
            Ok(tree)
        });
        match opened {
            Ok(fd) => send_with_fd(chan.raw_fd(), Tag::MountSourceFd, &fd),
            Err(e) => chan.send(Tag::Error, format!("{e:#}").as_bytes()),
        }
    }

    /// Runs `f` in the init's mount namespace, then returns to ours with our root and cwd
    /// restored (setns resets both to the namespace's root).
    fn in_their_mount_ns<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        setns(&self.theirs, "into the container's mount namespace")?;
        let r = f();
        setns(&self.ours, "back to the runtime's mount namespace")?;
        if unsafe { libc::fchdir(self.root.as_raw_fd()) } != 0
            || unsafe { libc::chroot(c".".as_ptr()) } != 0
            || unsafe { libc::fchdir(self.cwd.as_raw_fd()) } != 0
        {
            return Err(std::io::Error::last_os_error()).context("restoring root and cwd");
        }
        Ok(r)
    }
}

fn setns(fd: &OwnedFd, what: &str) -> Result<()> {
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("setns {what}"));
    }
    Ok(())
}

fn send_with_fd(sock: RawFd, tag: Tag, fd: &OwnedFd) -> Result<()> {
    crate::util::scm::send(sock, fd.as_raw_fd(), &[tag as u8]).context("sending a mount source fd")
}

/// One message: its tag (None at EOF), payload and the fd it carried, if any.
fn recv_with_fd(sock: RawFd) -> Result<(Option<Tag>, Vec<u8>, Option<OwnedFd>)> {
    let mut data = vec![0u8; 64 * 1024];
    let (n, fd) = crate::util::scm::recv(sock, &mut data).context("sync recvmsg")?;
    if n == 0 {
        return Ok((None, Vec::new(), fd));
    }
    data.truncate(n);
    let tag = Tag::from_byte(data.remove(0));
    data.shrink_to_fit();
    Ok((tag.or(Some(Tag::Error)), data, fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::mount_fd::IdmapRequest;

    fn allowed() -> Allowed {
        let spec: oci_spec::runtime::Spec = serde_json::from_str(
            r#"{"ociVersion": "1.3.0", "root": {"path": "rootfs"},
              "mounts": [
                {"destination": "/data", "type": "bind", "source": "vol", "options": ["rbind"]},
                {"destination": "/ids", "type": "bind", "source": "/srv/ids", "options": ["bind", "idmap"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "/etc"}
              ],
              "linux": {
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
              }}"#,
        )
        .unwrap();
        Allowed::new(&spec, Path::new("/bundle"))
    }

    fn req(path: &str, recursive: bool, idmap: Option<IdmapRequest>) -> SourceRequest {
        SourceRequest {
            path: path.into(),
            recursive,
            idmap,
        }
    }

    #[test]
    fn only_what_the_config_names_is_served() {
        let a = allowed();
        let map = "0 100000 65536\n".to_string();
        let idmap = |uid: &str| IdmapRequest {
            uid_map: uid.into(),
            gid_map: map.clone(),
            recursive: false,
        };
        // bind sources, exactly as the config asks for them
        assert!(a.check(&req("/bundle/vol", true, None)).unwrap().is_none());
        assert!(a
            .check(&req("/srv/ids", false, Some(idmap(&map))))
            .unwrap()
            .is_none());
        assert!(a
            .check(&req("/bundle/vol", false, Some(idmap(&map))))
            .is_err());
        assert!(a
            .check(&req("/srv/ids", false, Some(idmap("0 0 65536\n"))))
            .is_err());
        assert!(a.check(&req("/srv/ids", false, None)).is_err());
        // not a bind mount, or not in the config at all
        assert!(a.check(&req("/etc", false, None)).is_err());
        assert!(a.check(&req("/etc/shadow", false, None)).is_err());
        // device nodes: at their paths or in the host's /dev, to be checked once open
        let fuse = libc::makedev(10, 229);
        let devices = a.check(&req("/dev/fuse", false, None)).unwrap().unwrap();
        assert!(devices
            .iter()
            .any(|d| d.kind == libc::S_IFCHR && d.rdev == fuse));
        assert!(a
            .check(&req("/dev/char/10:229", false, None))
            .unwrap()
            .is_some());
        assert!(a.check(&req("/dev/../etc", false, None)).is_err());
        assert!(a.check(&req("/dev/null", true, None)).is_err());
    }
}
