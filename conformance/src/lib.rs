//! Conformance harness for hull.
//!
//! The integration tests under `conformance/tests/` drive the runtime binary
//! as a separate process, the way containerd's runc shim and runtime-tools do.
//! The binary is chosen by [`hull_bin`]: `HULL_BIN` if set (e.g.
//! `HULL_BIN=/usr/sbin/runc` to validate the tests against runc), else the
//! most recently built `target/{release,debug}/hull` of this workspace.
//!
//! Everything created here (state roots, bundles, containers, cgroups) has a
//! unique name and is cleaned up by `Drop` guards, so tests can run in
//! parallel and clean up even when they panic. Every wait has a timeout.
//!
//! Modules, by what they set up: [`binary`] (the binary under test, unique ids), [`process`]
//! (commands with timeouts, budgets, polling), [`runtime`] (a state root), [`bundle`]
//! (bundles and rootfs), [`container`] (a container handle), [`fdpass`] (fds received
//! on a unix socket), [`cgroups`] (the host's cgroup
//! layout and leftovers), [`mounts`] (unmounting, `TempDir`), [`procfs`] (status fields,
//! namespace links, mountinfo lines), [`time`] (RFC 3339). Everything
//! is re-exported here, so tests `use hull_conformance::*`.

pub mod binary;
pub mod bundle;
pub mod cgroups;
pub mod container;
pub mod fdpass;
pub mod mounts;
pub mod process;
pub mod procfs;
pub mod runtime;
pub mod time;

pub use binary::*;
pub use bundle::*;
pub use cgroups::*;
pub use container::*;
pub use fdpass::*;
pub use mounts::*;
pub use process::*;
pub use procfs::*;
pub use runtime::*;
pub use time::*;
