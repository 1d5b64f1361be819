//! The systemd cgroup driver (`hull --systemd-cgroup`), following runc's rules.
//!
//! - `linux.cgroupsPath` is "slice:prefix:name". An empty slice means "system.slice", "-" the
//!   root slice; a nested slice "a-b.slice" lives at /a.slice/a-b.slice. The unit is
//!   "<prefix>-<name>.scope" ("<name>.scope" with an empty prefix), or `name` itself when it
//!   ends in ".slice" (then a slice unit is created and the init joins it through cgroupfs).
//!   No cgroupsPath means "system.slice:hull:<id>" (runc uses the prefix "runc").
//! - The scope can only be started once the init exists (systemd wants its pid), so this
//!   manager asks the parent to place the init ([`Manager::parent_places`]): the init waits
//!   while the parent calls `StartTransientUnit(unit, "replace", props, [])` with
//!   PIDs=[init], Delegate=yes, Slice=, DefaultDependencies=no and the resource properties
//!   systemd knows (memory, CPU weight/quota, cpuset, tasks, IO weight), waits for the job's
//!   `JobRemoved` signal, and then applies the full resources through the cgroupfs manager
//!   (v2 or v1/hybrid) on the scope's directory, as runc does.
//!   Also passed as properties, so that systemd re-applying the unit (daemon-reload,
//!   set-property) keeps hull's values: linux.resources.unified keys systemd manages, and on
//!   cgroup v1 the device rules (DevicePolicy=strict + DeviceAllow=). Annotations
//!   "org.systemd.property.<Name>" add properties of the user's choice, as in runc.
//! - Everything else (freeze, stats, pids, exec joining) works on the scope's directory
//!   through cgroupfs; `update` sends SetUnitProperties and writes cgroupfs; destroy stops the
//!   unit (`StopUnit` + job wait) and removes what is left.
//! - D-Bus: the private socket /run/systemd/private as root, else the system bus
//!   ([`super::dbus`]); HULL_SYSTEMD_BUS=1 forces the bus.
//! - Rootless (runc's rootless cgroup manager with --systemd-cgroup): the unit goes to the
//!   user's systemd instance over the user's session bus ([`user`]); the default slice is
//!   "user.slice" and every cgroup path is below the user manager's own cgroup. Only cgroup
//!   v2 (a user can only be delegated v2 controllers); the limits asked for must be
//!   delegated to the user manager, which is checked before the unit is started.

mod annotations;
mod bus;
mod job;
mod manager;
mod naming;
mod properties;
pub mod user;

pub use manager::SystemdManager;

/// Has the user's systemd instance move `pid` into `unit`'s cgroup (or its sub-cgroup `sub`,
/// "" or "/x"): for a process that may not move itself there (see `process::exec`).
pub fn attach_user_process(unit: &str, sub: &str, pid: i32) -> anyhow::Result<()> {
    bus::Systemd::connect_user()?.attach_processes(unit, sub, &[pid as u32])
}

/// Whether systemd runs as the init system (runc checks the same directory).
pub fn is_running() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod user_tests;
