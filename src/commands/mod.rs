//! One module per CLI command. `container` holds what several commands share: creating a
//! container (create/run) and tearing one down (delete/run).

pub mod checkpoint;
pub mod container;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod exec_cgroup;

pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod run;
pub mod signals;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::state::Store;
use oci_spec::runtime::Spec;
use std::path::Path;

/// Global options every command sees.
pub struct Globals {
    pub store: Store,
    pub systemd_cgroup: bool,
    /// runc's rootless cgroup manager: tolerate a cgroup the caller may not create when
    /// nothing needs it (see `cgroups::rootless`).
    pub rootless_cgroups: bool,
    /// `--criu`: the CRIU binary checkpoint/restore run (default: "criu" from $PATH).
    pub criu: std::path::PathBuf,
}

/// The state JSON hooks receive on stdin (and the seccomp agent gets with its fd).
pub fn hook_state(id: &str, status: &str, pid: i32, bundle: &Path, spec: &Spec) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": crate::spec::validate::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
    });
    if let Some(a) = spec.annotations().as_ref().filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}
