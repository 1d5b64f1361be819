//! Linux security modules: the AppArmor profile (`process.apparmorProfile`, `exec --apparmor`)
//! and SELinux label (`process.selinuxLabel`, `exec --process-label`) a program is exec'd
//! under, and the SELinux context of the container's mounts (`linux.mountLabel`).
//!
//! Where the host cannot apply what the config asks for, runc's rules hold: a profile or a
//! process label is refused before anything is created (runc fails too: its validator refuses
//! the label; the profile write fails in its init), while a mount label is left out with a
//! debug line (as crun; runc hands `context=` to a kernel that rejects it).

mod procattr;

use anyhow::{bail, Result};
use oci_spec::runtime::{Process, Spec};
use std::borrow::Cow;
use std::io::Write;
use std::sync::OnceLock;

const SELINUX_MAGIC: libc::c_long = 0xf97cff8c;

/// runc's test: the securityfs directory exists and the module says it is enabled.
pub fn apparmor_enabled() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// go-selinux's test (what runc uses): a writable selinuxfs is mounted and our own context is
/// not the pre-policy "kernel" one.
pub fn selinux_enabled() -> bool {
    selinuxfs_mounted()
        && std::fs::read_to_string("/proc/self/attr/current")
            .is_ok_and(|c| !matches!(c.trim_end_matches(['\0', '\n']), "" | "kernel"))
}

fn is_writable_selinuxfs(dir: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(dir) else {
        return false;
    };
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs fills the struct we pass.
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return false;
    }
    if s.f_type as libc::c_long != SELINUX_MAGIC {
        return false;
    }
    let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs fills the struct we pass.
    unsafe { libc::statvfs(c.as_ptr(), &mut v) == 0 && v.f_flag & libc::ST_RDONLY == 0 }
}

fn selinuxfs_mounted() -> bool {
    if is_writable_selinuxfs("/sys/fs/selinux") {
        return true;
    }
    // Elsewhere (old /selinux): the mount table names it.
    let Ok(info) = crate::util::mountinfo::read() else {
        return false;
    };
    let found = crate::util::mountinfo::entries(&info).any(|e| {
        e.fstype == "selinuxfs" && e.mount_point().to_str().is_some_and(is_writable_selinuxfs)
    });
    found
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Refuses, before anything is created, a profile or label this host cannot apply.
pub fn check_process(p: &Process) -> Result<()> {
    if let Some(profile) = nonempty(p.apparmor_profile()) {
        if !apparmor_enabled() {
            bail!("apparmor profile {profile:?} is specified in config, but apparmor is not enabled on this host");
        }
    }
    if nonempty(p.selinux_label()).is_some() && !selinux_enabled() {
        // runc's words
        bail!("selinux label is specified in config, but selinux is disabled or not supported");
    }
    Ok(())
}

/// `create`/`run`: the process's labels, and a note when the mount label will be left out.
pub fn check_config(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        check_process(p)?;
    }
    if let Some(label) = mount_label_of(spec) {
        if !selinux_enabled() {
            crate::logging::debug(&format!(
                "linux.mountLabel {label:?} not applied: selinux is disabled or not supported"
            ));
        }
    }
    Ok(())
}

fn mount_label_of(spec: &Spec) -> Option<&str> {
    spec.linux()
        .as_ref()
        .and_then(|l| nonempty(l.mount_label()))
}

/// The SELinux context the container's mounts get, decided once in the init.
static MOUNT_LABEL: OnceLock<Option<String>> = OnceLock::new();

/// In the container init, before its mounts: use `linux.mountLabel` if SELinux is enabled.
pub fn use_mount_label(spec: &Spec) {
    let label = mount_label_of(spec).filter(|_| selinux_enabled());
    let _ = MOUNT_LABEL.set(label.map(str::to_owned));
}

/// Mount data for a filesystem of type `fstype`, with the container's mount label.
pub fn label_mount_data<'a>(fstype: &str, data: &'a str) -> Cow<'a, str> {
    let label = MOUNT_LABEL.get().and_then(|l| l.as_deref());
    with_mount_label(fstype, data, label)
}

/// runc's rule: `context="<label>"` appended to the options of every filesystem except those
/// SELinux labels by itself (proc, sysfs), mqueue (runc labels its root file instead: older
/// kernels reject the option) and cgroup filesystems; bind mounts take no data.
fn with_mount_label<'a>(fstype: &str, data: &'a str, label: Option<&str>) -> Cow<'a, str> {
    let Some(label) = label else {
        return Cow::Borrowed(data);
    };
    if matches!(
        fstype,
        "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2" | "bind" | ""
    ) {
        return Cow::Borrowed(data);
    }
    if data.is_empty() {
        Cow::Owned(format!("context=\"{label}\""))
    } else {
        Cow::Owned(format!("{data},context=\"{label}\""))
    }
}

/// Sets the AppArmor profile and SELinux label the next execve applies. The container init
/// calls it at the end of its setup, before it waits for `start` (still root: a fresh procfs
/// needs CAP_SYS_ADMIN), as runc does, so a profile the kernel does not know fails `create`,
/// not `start`; the startContainer hooks the init runs after `start` are exec'd under them too,
/// as runc's. `keyring`: a session keyring is joined next, which SELinux then labels with the
/// process label (runc writes attr/keycreate first). Opens nothing when neither is set.
pub fn set_exec_labels(p: &Process, keyring: bool) -> Result<()> {
    let profile = nonempty(p.apparmor_profile());
    let label = nonempty(p.selinux_label());
    if profile.is_none() && label.is_none() {
        return Ok(());
    }
    let proc = procattr::ProcRoot::open()?;
    if let Some(profile) = profile {
        // attr/apparmor/exec since Linux 5.1 (LSM stacking); attr/exec before.
        let (rel, file) = match proc.open_attr("apparmor/exec") {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => ("exec", proc.open_attr("exec")),
            r => ("apparmor/exec", r),
        };
        let what = format!("apparmor profile {profile:?}");
        write_attr(file, rel, &format!("exec {profile}"), &what)?;
    }
    if let Some(label) = label {
        if keyring {
            let what = format!("selinux key label {label:?}");
            write_attr(proc.open_attr("keycreate"), "keycreate", label, &what)?;
        }
        let what = format!("selinux label {label:?}");
        write_attr(proc.open_attr("exec"), "exec", label, &what)?;
    }
    Ok(())
}

/// One write(2) of `value` to the opened attr file `rel` (an LSM takes the whole value in one
/// write).
fn write_attr(
    file: std::io::Result<std::fs::File>,
    rel: &str,
    value: &str,
    what: &str,
) -> Result<()> {
    file.and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| attr_error(what, &format!("/proc/thread-self/attr/{rel}"), &e))
}

fn attr_error(what: &str, path: &str, e: &std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "unable to apply {what}: write {path}: {}",
        crate::util::errno_text(e)
    )
}

#[cfg(test)]
mod tests {
    use super::with_mount_label;

    #[test]
    fn mount_label_joins_the_data_as_runc() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            with_mount_label("tmpfs", "mode=755,size=65536k", l),
            "mode=755,size=65536k,context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        assert_eq!(
            with_mount_label("devpts", "", l),
            "context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        for untouched in ["proc", "sysfs", "mqueue", "cgroup", "cgroup2", "bind"] {
            assert_eq!(with_mount_label(untouched, "ro", l), "ro", "{untouched}");
        }
        // no label (none configured, or SELinux disabled): data as given
        assert_eq!(with_mount_label("tmpfs", "mode=755", None), "mode=755");
    }
}
