//! The in-child setup steps, one module per concept: namespaces, rootfs (mounts, cgroupfs,
//! devices, masked/readonly paths), process attributes (user, capabilities, rlimits,
//! terminal, fds) and the final exec.

pub mod attrs;
pub mod caps;
pub mod cgroupfs;
pub mod devices;
pub mod exec;
pub mod fds;
pub mod finalize;
pub mod mount_options;
pub mod mounts;
pub mod namespaces;
pub mod paths;
pub mod rlimits;
pub mod rootfs;
pub mod sysctl;
pub mod terminal;
pub mod user;

// After the others only to keep merges with parallel branches clean.
pub mod dev_null;
