//! The in-child setup steps, one module per concept: namespaces, rootfs (mounts, cgroupfs,
//! devices, masked/readonly paths), process attributes (user, capabilities, rlimits,
//! terminal, fds) and the final exec.

pub mod affinity;
pub mod attrs;
pub mod caps;
pub mod cgroupfs;
pub mod cpulist;
pub mod devices;
pub mod exec;
pub mod fds;
pub mod finalize;
pub mod host_mounts;
pub mod idmap;
pub mod ioprio;
pub mod kattrs;
pub mod lsm;
pub mod mempolicy;
pub mod mount_fd;
pub mod mount_options;
pub mod mount_syscalls;
pub mod mounts;
pub mod namespaces;
pub mod netdev;
pub mod paths;
pub mod personality;
pub mod proc_guard;
pub mod rdt;
pub mod rlimits;
pub mod rootfs;
pub mod sched;
pub mod sysctl;
pub mod terminal;
pub mod user;

// After the others only to keep merges with parallel branches clean.
pub mod dev_null;
