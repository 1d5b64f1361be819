//! Reading what /proc says about a process: fields of /proc/<pid>/status, namespace links
//! (/proc/<pid>/ns/<kind>) and the lines of a mountinfo file, parsed once here for every test.

use std::fmt::Display;
use std::fs;

/// The value of `key:` in a /proc/<pid>/status text (e.g. `CapEff`, `NoNewPrivs`), trimmed.
pub fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|r| r.trim().to_string())
    })
}

/// `readlink /proc/<pid>/ns/<kind>` (`pid` may be `"self"`), e.g. `net:[4026531840]`; panics
/// naming the link when it cannot be read.
pub fn ns_link(pid: impl Display, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// One line of a mountinfo file (proc(5)), split into the fields the tests look at. Strings
/// are as the kernel prints them (octal escapes such as `\040` are kept).
#[derive(Debug, Clone, PartialEq)]
pub struct MountInfoLine<'a> {
    /// Field 5: the mount point.
    pub mount_point: &'a str,
    /// Field 6: per-mount options (`rw,nosuid,...`).
    pub options: &'a str,
    /// The optional fields (`shared:N`, `master:N`, ...), possibly none.
    pub optional: Vec<&'a str>,
    /// The filesystem type after the ` - ` separator.
    pub fstype: &'a str,
    /// The mount source after the filesystem type ("" when absent).
    pub source: &'a str,
    /// The per-superblock options ("" when absent).
    pub super_options: &'a str,
}

/// Splits a mountinfo line; `None` for a line without the ` - ` separator or with fewer than
/// six fields before it.
pub fn parse_mountinfo_line(line: &str) -> Option<MountInfoLine<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let lf: Vec<&str> = left.split(' ').collect();
    if lf.len() < 6 {
        return None;
    }
    let mut rf = right.split(' ');
    Some(MountInfoLine {
        mount_point: lf[4],
        options: lf[5],
        optional: lf[6..].to_vec(),
        fstype: rf.next().unwrap_or(""),
        source: rf.next().unwrap_or(""),
        super_options: rf.next().unwrap_or(""),
    })
}

/// The last line of `mountinfo` whose mount point is `mount_point` (the visible mount when
/// several are stacked there).
pub fn last_mountinfo_line<'a>(mountinfo: &'a str, mount_point: &str) -> Option<&'a str> {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(mount_point))
}

/// This test process's /proc/self/mountinfo ("" when it cannot be read).
pub fn own_mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
pub(crate) fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_line_fields() {
        let l = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue";
        let m = parse_mountinfo_line(l).unwrap();
        assert_eq!(m.mount_point, "/mnt/a\\040b");
        assert_eq!(m.options, "rw,noatime");
        assert_eq!(m.optional, ["master:1", "shared:2"]);
        assert_eq!(
            (m.fstype, m.source, m.super_options),
            ("ext3", "/dev/root", "rw,errors=continue")
        );
        assert_eq!(parse_mountinfo_line("36 35 98:0 / /x rw"), None);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tsh\nCapEff:\t00000000a80425fb\nCapEffX:\t1\n";
        assert_eq!(
            status_field(s, "CapEff").as_deref(),
            Some("00000000a80425fb")
        );
        assert_eq!(status_field(s, "Cap"), None);
    }
}
