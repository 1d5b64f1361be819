//! Translating OCI mount options into mount(2) flags, propagation changes, recursive
//! (mount_setattr) attributes and filesystem data, with runc's option vocabulary.

/// Everything an options list asks for.
#[derive(Default, Debug, PartialEq)]
pub struct MountOptions {
    /// Flags for mount(2) / a bind remount.
    pub flags: libc::c_ulong,
    /// Flags explicitly cleared (e.g. "rw", "dev"): they matter when remounting a bind mount.
    pub cleared: libc::c_ulong,
    /// MS_SHARED/MS_PRIVATE/... (with MS_REC for the r-variants), applied one by one afterwards.
    pub propagation: Vec<libc::c_ulong>,
    /// mount_setattr attributes to set / clear recursively ("rro", "rnosuid", ...).
    pub attr_set: u64,
    pub attr_clr: u64,
    /// Filesystem-specific options, joined with commas.
    pub data: String,
    pub tmpcopyup: bool,
    pub is_bind: bool,
    /// "idmap" (false) or "ridmap" (true): an idmapped mount, recursive or not.
    pub idmap: Option<bool>,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// (name, clear?, flag)
const FLAGS: &[(&str, bool, libc::c_ulong)] = &[
    ("async", true, libc::MS_SYNCHRONOUS),
    ("atime", true, libc::MS_NOATIME),
    ("bind", false, libc::MS_BIND),
    ("defaults", false, 0),
    ("dev", true, libc::MS_NODEV),
    ("diratime", true, libc::MS_NODIRATIME),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("exec", true, libc::MS_NOEXEC),
    ("iversion", false, libc::MS_I_VERSION),
    ("lazytime", false, libc::MS_LAZYTIME),
    ("loud", true, libc::MS_SILENT),
    ("mand", false, libc::MS_MANDLOCK),
    ("noatime", false, libc::MS_NOATIME),
    ("nodev", false, libc::MS_NODEV),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("noexec", false, libc::MS_NOEXEC),
    ("noiversion", true, libc::MS_I_VERSION),
    ("nolazytime", true, libc::MS_LAZYTIME),
    ("nomand", true, libc::MS_MANDLOCK),
    ("norelatime", true, libc::MS_RELATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("nosuid", false, libc::MS_NOSUID),
    ("nosymfollow", false, 256 /* MS_NOSYMFOLLOW */),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("remount", false, libc::MS_REMOUNT),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("silent", false, libc::MS_SILENT),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("suid", true, libc::MS_NOSUID),
    ("sync", false, libc::MS_SYNCHRONOUS),
];

const PROPAGATION: &[(&str, libc::c_ulong)] = &[
    ("private", libc::MS_PRIVATE),
    ("shared", libc::MS_SHARED),
    ("slave", libc::MS_SLAVE),
    ("unbindable", libc::MS_UNBINDABLE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

/// (name, clear?, attribute)
const RECURSIVE: &[(&str, bool, u64)] = &[
    ("rro", false, MOUNT_ATTR_RDONLY),
    ("rrw", true, MOUNT_ATTR_RDONLY),
    ("rnosuid", false, MOUNT_ATTR_NOSUID),
    ("rsuid", true, MOUNT_ATTR_NOSUID),
    ("rnodev", false, MOUNT_ATTR_NODEV),
    ("rdev", true, MOUNT_ATTR_NODEV),
    ("rnoexec", false, MOUNT_ATTR_NOEXEC),
    ("rexec", true, MOUNT_ATTR_NOEXEC),
    ("rnodiratime", false, MOUNT_ATTR_NODIRATIME),
    ("rdiratime", true, MOUNT_ATTR_NODIRATIME),
    ("rrelatime", false, MOUNT_ATTR_RELATIME),
    ("rnorelatime", true, MOUNT_ATTR_RELATIME),
    ("rnoatime", false, MOUNT_ATTR_NOATIME),
    ("ratime", true, MOUNT_ATTR_NOATIME),
    ("rstrictatime", false, MOUNT_ATTR_STRICTATIME),
    ("rnostrictatime", true, MOUNT_ATTR_STRICTATIME),
    ("rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
];

/// Every option name hull understands (reported by `features`).
pub fn known_options() -> Vec<&'static str> {
    let mut v: Vec<&str> = FLAGS
        .iter()
        .map(|f| f.0)
        .chain(PROPAGATION.iter().map(|p| p.0))
        .chain(RECURSIVE.iter().map(|r| r.0))
        .collect();
    v.extend(["tmpcopyup", "idmap", "ridmap"]);
    v.sort();
    v
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let opt = opt.as_str();
        if let Some(&(_, clear, f)) = FLAGS.iter().find(|f| f.0 == opt) {
            if clear {
                o.flags &= !f;
                o.cleared |= f;
            } else {
                o.flags |= f;
                o.cleared &= !f;
            }
        } else if let Some(&(_, p)) = PROPAGATION.iter().find(|p| p.0 == opt) {
            o.propagation.push(p);
        } else if let Some(&(_, clear, a)) = RECURSIVE.iter().find(|r| r.0 == opt) {
            // atime attributes are a 3-bit field, not independent bits: always clear the field.
            let is_atime = matches!(
                a,
                MOUNT_ATTR_RELATIME | MOUNT_ATTR_NOATIME | MOUNT_ATTR_STRICTATIME
            ) && opt != "rnodiratime"
                && opt != "rdiratime";
            if is_atime {
                o.attr_clr |= MOUNT_ATTR__ATIME;
                if !clear {
                    o.attr_set = (o.attr_set & !MOUNT_ATTR__ATIME) | a;
                }
            } else if clear {
                o.attr_clr |= a;
                o.attr_set &= !a;
            } else {
                o.attr_set |= a;
                o.attr_clr &= !a;
            }
        } else if opt == "idmap" || opt == "ridmap" {
            o.idmap = Some(opt == "ridmap");
        } else if opt == "tmpcopyup" {
            o.tmpcopyup = true;
        } else {
            data.push(opt);
        }
    }
    o.is_bind = o.flags & libc::MS_BIND != 0;
    o.data = data.join(",");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = p(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        let o = p(&["rbind", "ro", "rw"]);
        assert!(o.is_bind);
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC);
        assert_eq!(o.cleared, libc::MS_RDONLY);
    }

    #[test]
    fn recursive_attrs() {
        let o = p(&["rro", "rnosuid", "rnoatime", "tmpcopyup"]);
        assert_eq!(
            o.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.attr_clr, MOUNT_ATTR__ATIME);
        assert!(o.tmpcopyup);
    }
}
