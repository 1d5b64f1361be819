//! /proc/self/mountinfo (proc(5)): a line per mount, "id parent major:minor root mount-point
//! options [optional fields...] - fstype source super-options", with space, tab, newline
//! and backslash in paths escaped as octal (`\040`).

use anyhow::{Context, Result};
use std::path::PathBuf;

/// One mount, its fields as written (paths still escaped: unescape what you use).
#[derive(Debug, PartialEq)]
pub struct Entry<'a> {
    pub id: &'a str,
    pub parent: &'a str,
    pub root: &'a str,
    pub mount_point: &'a str,
    pub fstype: &'a str,
}

impl Entry<'_> {
    pub fn mount_point(&self) -> PathBuf {
        PathBuf::from(unescape(self.mount_point))
    }
}

/// Our mount namespace's table.
pub fn read() -> Result<String> {
    std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")
}

/// The well-formed entries of a table; a line that is not one is skipped.
pub fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<Entry<'_>> {
    let (fields, fs) = line.split_once(" - ")?;
    let mut f = fields.split(' ');
    let id = f.next()?;
    let parent = f.next()?;
    Some(Entry {
        id,
        parent,
        root: f.nth(1)?,
        mount_point: f.next()?,
        fstype: fs.split(' ').next().filter(|t| !t.is_empty())?,
    })
}

/// Undoes the octal escapes; anything else (a lone backslash) stays as it is.
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // At most \377: a larger value is no byte (and would overflow).
        let octal = b.get(i + 1..i + 4).filter(|d| {
            b[i] == b'\\'
                && (b'0'..=b'3').contains(&d[0])
                && d.iter().all(|c| (b'0'..=b'7').contains(c))
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_escapes() {
        let t = "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                 garbage\n\
                 1 2 3:4 / /proc rw - proc proc rw\n";
        let e: Vec<_> = entries(t).collect();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].root, "/mnt1");
        assert_eq!(e[0].mount_point(), PathBuf::from("/mnt two"));
        assert_eq!(e[0].fstype, "ext3");
        assert_eq!(e[1].fstype, "proc");
        assert_eq!(unescape("a\\134b\\011c\\012"), "a\\b\tc\n");
        assert_eq!(unescape("\\0"), "\\0");
        assert_eq!(unescape("\\777x"), "\\777x", "not a byte: kept");
    }

    /// Property: any text parses without a panic, and escaping then unescaping a path is
    /// the identity (the kernel's escape set: space, tab, newline, backslash).
    #[test]
    fn arbitrary_text_never_panics_and_escapes_round_trip() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: Vec<char> = " -\\\t\n/0123478abé".chars().collect();
        for _ in 0..20_000 {
            let len = (next() % 60) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = unescape(&s);
            for e in entries(&s) {
                let _ = (e.mount_point(), unescape(e.root));
            }
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            assert_eq!(unescape(&escaped), s);
        }
    }
}
