//! The container state store: one directory per container under the state root
//! (`/run/hull/<id>/`), holding `state.json` (written atomically), `config.json` (the config
//! as it was at create, so later commands never re-read a bundle that may have changed) and,
//! while the container is created but not started, the `exec.fifo` that `start` opens.

pub mod id;

use crate::util::proc;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// What hull remembers about a container between commands.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ContainerState {
    pub id: String,
    /// Init pid in the host pid namespace; 0 while the container is being created.
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot), so a recycled pid is never mistaken for it.
    #[serde(default)]
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
    #[serde(default)]
    pub owner: String,
    /// Resolved cgroup directories (None until create has made them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<crate::cgroups::CgroupState>,
    /// The config's hooks, kept for start (poststart) and delete (poststop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Set by `pause`, cleared by `resume`.
    #[serde(default)]
    pub paused: bool,
    /// The container has no pid namespace of its own (none in the config, or one joined by
    /// path): killing its init does not kill the rest, so `kill KILL` signals the whole cgroup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shares_pid_ns: bool,
    /// The resctrl groups of linux.intelRdt: joined by `exec`, removed by delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<crate::setup::rdt::Groups>,
    /// The `hull create` (or `run`) process, recorded while `pid` is still 0: when it is gone
    /// before recording the init, the create was killed midway and the container will never
    /// start (see [`ContainerState::status`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub creator: i32,
    /// No mount namespace of its own: the number of mounts on the rootfs before create
    /// (see setup::host_mounts); delete detaches the ones above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mounts: Option<usize>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's words for a container with no (readable) state file. Callers that must tell it
/// from other load errors (delete removing a leftover directory) look for this type.
#[derive(Debug)]
pub struct NotExist;

impl std::fmt::Display for NotExist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("container does not exist")
    }
}

impl std::error::Error for NotExist {}

/// The state root, e.g. /run/hull.
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Atomically claims `id`: creating its directory is what decides which of two concurrent
    /// `create`s wins. The loser gets an error and touches nothing.
    pub fn claim(&self, id: &str) -> Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let mut b = std::fs::DirBuilder::new();
        b.mode(0o711);
        if let Err(e) = b.create(&self.root) {
            if e.kind() != ErrorKind::AlreadyExists {
                b.recursive(true)
                    .create(&self.root)
                    .with_context(|| format!("creating state root {}", self.root.display()))?;
            }
        }
        let dir = self.dir(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                bail!("container with id exists: {id}")
            }
            Err(e) => {
                Err(anyhow!(e).context(format!("creating state directory {}", dir.display())))
            }
        }
    }

    /// Loads a container's state. A missing container is reported with runc's words.
    pub fn load(&self, id: &str) -> Result<ContainerState> {
        let path = self.dir(id).join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .with_context(|| format!("corrupt state file {}", path.display())),
            // Also when the directory exists without a state file: create records its state
            // right after claiming the directory, so such a directory is what a create killed
            // in between (or a half-finished delete) left behind. runc says the same of it, and
            // containerd's shim takes "does not exist" from delete as "already gone".
            Err(e) if e.kind() == ErrorKind::NotFound => Err(NotExist.into()),
            Err(e) => Err(anyhow!(e).context(format!("reading {}", path.display()))),
        }
    }

    pub fn save(&self, st: &ContainerState) -> Result<()> {
        self.stage(st)?.commit()
    }

    /// Writes `st` under a temp name, for [`crate::util::fs::Staged::commit`] to put in place.
    pub fn stage(&self, st: &ContainerState) -> Result<crate::util::fs::Staged> {
        let data = serde_json::to_vec(st)?;
        crate::util::fs::stage_atomic(&self.dir(&st.id).join(STATE_FILE), &data, 0o600)
    }

    /// Removes the container's directory and everything in it.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        // Usually the directory holds only what create put there: unlink those and rmdir
        // (3-4 syscalls instead of remove_dir_all's open, stat and listing). Anything else
        // in it (an update's device list, a temp file) makes the rmdir fail: then the
        // general removal below.
        for f in [STATE_FILE, CONFIG_FILE, EXEC_FIFO] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        if std::fs::remove_dir(&dir).is_ok() {
            return Ok(());
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(anyhow!(e).context(format!("removing state directory of {id}")))
            }
            _ => Ok(()),
        }
    }

    /// Ids of all containers in the store, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            // runc's words: a state root that does not exist is an error, not an empty list
            Err(e) if e.kind() == ErrorKind::NotFound => {
                bail!("open {}: no such file or directory", self.root.display())
            }
            Err(e) => return Err(anyhow!(e).context(format!("reading {}", self.root.display()))),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| id::validate(n).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

impl ContainerState {
    /// The container's status, derived from the live process rather than stored, so it is
    /// never stale: a dead or recycled pid means stopped; a pending exec fifo means created.
    pub fn status(&self, store: &Store) -> Status {
        if self.pid == 0 {
            // A create killed before it recorded the init (by its caller's timeout, say) left
            // this state: it is over, and `delete` must be able to clean up without --force,
            // as it can after runc's create dies (runc then has no state file at all). A
            // creator pid recycled by then looks alive: the state stays "creating", as before.
            if self.creator > 0 && !proc::exists(self.creator) {
                return Status::Stopped;
            }
            return Status::Creating;
        }
        if !proc::is_alive(self.pid, self.pid_start) {
            return Status::Stopped;
        }
        if store.dir(&self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self.paused {
            return Status::Paused;
        }
        Status::Running
    }

    /// The OCI state object, in runc's field order.
    pub fn to_oci(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: crate::spec::validate::OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: self.annotations.as_ref().filter(|a| !a.is_empty()),
            owner: &self.owner,
        }
    }
}

/// What `state` and `list --format json` print (runc's field names and order).
#[derive(Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a HashMap<String, String>>,
    pub owner: &'a str,
}
