//! Device cgroup rules: a model of the kernel's v1 devices controller (so that v1 updates
//! write only the difference and never open a window where e.g. /dev/null is denied), and the
//! v1 writer. The v2 eBPF program is built from the same [`DeviceRule`] list.

use super::util;
use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::fmt;
use std::path::Path;

pub const ACC_READ: u8 = 1;
pub const ACC_WRITE: u8 = 2;
pub const ACC_MKNOD: u8 = 4;
pub const ACC_ALL: u8 = 7;

/// One rule: allow or deny `access` to devices of `typ` ('a', 'b' or 'c') major:minor
/// (None = wildcard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub typ: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Bit set of ACC_READ | ACC_WRITE | ACC_MKNOD.
    pub access: u8,
}

pub fn parse_access(s: &str) -> Result<u8> {
    let mut a = 0;
    for c in s.chars() {
        a |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => bail!("invalid device access {s:?}: only r, w and m are allowed"),
        };
    }
    Ok(a)
}

pub fn access_string(a: u8) -> String {
    let mut s = String::new();
    if a & ACC_READ != 0 {
        s.push('r');
    }
    if a & ACC_WRITE != 0 {
        s.push('w');
    }
    if a & ACC_MKNOD != 0 {
        s.push('m');
    }
    s
}

impl DeviceRule {
    /// From an OCI linux.resources.devices entry. An empty access means "rwm"; type "u" is a
    /// character device; a missing type means all.
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<DeviceRule> {
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => bail!("device cgroup rules cannot match fifos (type \"p\")"),
        };
        let access = match d.access().as_deref() {
            None | Some("") => ACC_ALL,
            Some(s) => parse_access(s)?,
        };
        Ok(DeviceRule {
            allow: d.allow(),
            typ,
            major: d.major().filter(|m| *m >= 0),
            minor: d.minor().filter(|m| *m >= 0),
            access,
        })
    }

    pub fn allow(typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule {
            allow: true,
            typ,
            major,
            minor,
            access: parse_access(access).unwrap_or(ACC_ALL),
        }
    }

    /// The "type major:minor access" form used by devices.allow / devices.deny / devices.list.
    pub fn cgroup_string(&self) -> String {
        self.to_string()
    }

    fn is_all(&self) -> bool {
        self.typ == 'a'
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<i64>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            access_string(self.access)
        )
    }
}

/// Converts the OCI device list.
pub fn rules_from_oci(list: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    list.iter().map(DeviceRule::from_oci).collect()
}

/// The devices runc always allows after the configured rules (AllowedDevices in runc's
/// specconv): mknod of any char/block device, /dev/null, zero, full, tty, random, urandom,
/// /dev/pts/*, /dev/ptmx. Callers append these to the spec's rules for a new container.
pub fn default_allowed_devices() -> Vec<DeviceRule> {
    vec![
        DeviceRule::allow('c', None, None, "m"),
        DeviceRule::allow('b', None, None, "m"),
        DeviceRule::allow('c', Some(1), Some(3), "rwm"), // null
        DeviceRule::allow('c', Some(1), Some(8), "rwm"), // random
        DeviceRule::allow('c', Some(1), Some(7), "rwm"), // full
        DeviceRule::allow('c', Some(5), Some(0), "rwm"), // tty
        DeviceRule::allow('c', Some(1), Some(5), "rwm"), // zero
        DeviceRule::allow('c', Some(1), Some(9), "rwm"), // urandom
        DeviceRule::allow('c', Some(136), None, "rwm"),  // /dev/pts/*
        DeviceRule::allow('c', Some(5), Some(2), "rwm"), // ptmx
    ]
}

/// Model of a v1 devices cgroup: a default and a list of exceptions to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Emulator {
    pub default_allow: bool,
    /// (type, major, minor) → access bits; kept in insertion order.
    pub exceptions: Vec<(char, Option<i64>, Option<i64>, u8)>,
}

impl Emulator {
    /// Apply one rule the way the kernel's devices.allow / devices.deny do.
    pub fn apply(&mut self, r: &DeviceRule) {
        if r.is_all() {
            self.default_allow = r.allow;
            self.exceptions.clear();
            return;
        }
        let pos = self
            .exceptions
            .iter()
            .position(|e| e.0 == r.typ && e.1 == r.major && e.2 == r.minor);
        if r.allow == self.default_allow {
            // Remove access from a matching exception.
            if let Some(i) = pos {
                self.exceptions[i].3 &= !r.access;
                if self.exceptions[i].3 == 0 {
                    self.exceptions.remove(i);
                }
            }
        } else {
            match pos {
                Some(i) => self.exceptions[i].3 |= r.access,
                None => self.exceptions.push((r.typ, r.major, r.minor, r.access)),
            }
        }
    }

    /// The state a rule list produces starting from "deny everything" (runc's convention).
    pub fn from_rules(rules: &[DeviceRule]) -> Emulator {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(r);
        }
        e
    }

    /// Parse devices.list. With a default-allow cgroup the kernel shows only "a *:* rwm"
    /// (exceptions are not listed), so the result is then `None` unless it is exactly that.
    pub fn from_list(s: &str) -> Option<Emulator> {
        let mut e = Emulator::default();
        for line in s.lines().filter(|l| !l.trim().is_empty()) {
            let r = parse_rule_line(line)?;
            if r.is_all() {
                if r.access == ACC_ALL {
                    e.default_allow = true;
                    continue;
                }
                return None;
            }
            e.apply(&DeviceRule { allow: true, ..r });
        }
        if e.default_allow && !e.exceptions.is_empty() {
            return None;
        }
        Some(e)
    }

    fn get(&self, k: (char, Option<i64>, Option<i64>)) -> u8 {
        self.exceptions
            .iter()
            .find(|e| (e.0, e.1, e.2) == k)
            .map_or(0, |e| e.3)
    }

    fn same(&self, other: &Emulator) -> bool {
        self.default_allow == other.default_allow
            && self.exceptions.len() == other.exceptions.len()
            && self
                .exceptions
                .iter()
                .all(|e| other.get((e.0, e.1, e.2)) == e.3)
    }

    /// Writes (allow?, rule) that take a cgroup from `self` to `target`. Between two
    /// default-deny states only the differences are written (no transient deny of everything).
    pub fn transition(&self, target: &Emulator) -> Vec<DeviceRule> {
        let mut out = Vec::new();
        if self.same(target) {
            return out;
        }
        let rule = |allow, e: &(char, Option<i64>, Option<i64>, u8), access| DeviceRule {
            allow,
            typ: e.0,
            major: e.1,
            minor: e.2,
            access,
        };
        if !self.default_allow && !target.default_allow {
            // Add missing access first, then take away what must go.
            for t in &target.exceptions {
                let have = self.get((t.0, t.1, t.2));
                if t.3 & !have != 0 {
                    out.push(rule(true, t, t.3 & !have));
                }
            }
            for c in &self.exceptions {
                let want = target.get((c.0, c.1, c.2));
                if c.3 & !want != 0 {
                    out.push(rule(false, c, c.3 & !want));
                }
            }
            return out;
        }
        // Reset to the target's default, then add its exceptions.
        out.push(DeviceRule {
            allow: target.default_allow,
            typ: 'a',
            major: None,
            minor: None,
            access: ACC_ALL,
        });
        for t in &target.exceptions {
            out.push(rule(!target.default_allow, t, t.3));
        }
        out
    }
}

fn parse_rule_line(line: &str) -> Option<DeviceRule> {
    let mut it = line.split_whitespace();
    let typ = it.next()?.chars().next()?;
    let (ma, mi) = it.next()?.split_once(':')?;
    let access = parse_access(it.next()?).ok()?;
    let num = |s: &str| -> Option<Option<i64>> {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    Some(DeviceRule {
        allow: true,
        typ,
        major: num(ma)?,
        minor: num(mi)?,
        access,
    })
}

/// Apply device rules to a v1 devices cgroup directory.
pub fn apply_v1(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let target = Emulator::from_rules(rules);
    let current = util::read_opt(dir, "devices.list")?
        .and_then(|s| Emulator::from_list(&s))
        // Unknown current state: assume allow-all with unknown exceptions → full rewrite.
        .unwrap_or(Emulator {
            default_allow: true,
            exceptions: vec![('x', None, None, 0)],
        });
    // Each write(2) is one rule, applied in order: devices.allow and devices.deny are opened
    // once each and kept for the whole transition (a dozen rules otherwise cost a dozen
    // opens of a fresh cgroup file).
    let (mut allow, mut deny) = (None, None);
    for r in current.transition(&target) {
        let (slot, file) = if r.allow {
            (&mut allow, "devices.allow")
        } else {
            (&mut deny, "devices.deny")
        };
        let rule = r.cgroup_string();
        let path = dir.join(file);
        let res = match slot {
            Some(f) => Ok(f),
            None => std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map(|f| slot.insert(f)),
        }
        .and_then(|f: &mut std::fs::File| std::io::Write::write_all(f, rule.as_bytes()));
        res.map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "failed to write {:?} to {}",
                rule,
                path.display()
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny_all() -> DeviceRule {
        DeviceRule {
            allow: false,
            typ: 'a',
            major: None,
            minor: None,
            access: ACC_ALL,
        }
    }

    #[test]
    fn strings() {
        let r = DeviceRule::allow('c', Some(1), Some(3), "rwm");
        assert_eq!(r.cgroup_string(), "c 1:3 rwm");
        let r = DeviceRule::allow('c', Some(136), None, "rw");
        assert_eq!(r.cgroup_string(), "c 136:* rw");
        assert_eq!(deny_all().cgroup_string(), "a *:* rwm");
        assert!(parse_access("rx").is_err());
    }

    #[test]
    fn from_oci() {
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert_eq!(DeviceRule::from_oci(&d).unwrap(), deny_all());
        let d: LinuxDeviceCgroup = serde_json::from_str(
            r#"{"allow":true,"type":"c","major":10,"minor":200,"access":"rw"}"#,
        )
        .unwrap();
        assert_eq!(
            DeviceRule::from_oci(&d).unwrap().cgroup_string(),
            "c 10:200 rw"
        );
    }

    #[test]
    fn emulator_and_transitions() {
        let mut rules = vec![deny_all()];
        rules.extend(default_allowed_devices());
        let target = Emulator::from_rules(&rules);
        assert!(!target.default_allow);
        assert_eq!(target.exceptions.len(), 10);

        // From the kernel's default (allow all): full rewrite starting with "a" deny.
        let cur = Emulator::from_list("a *:* rwm\n").unwrap();
        assert!(cur.default_allow);
        let t = cur.transition(&target);
        assert_eq!(t.len(), 11);
        assert!(!t[0].allow && t[0].typ == 'a');

        // Same state: nothing to write.
        let listed: String = target
            .exceptions
            .iter()
            .map(|e| {
                format!(
                    "{}\n",
                    DeviceRule {
                        allow: true,
                        typ: e.0,
                        major: e.1,
                        minor: e.2,
                        access: e.3
                    }
                )
            })
            .collect();
        let cur = Emulator::from_list(&listed).unwrap();
        assert!(cur.transition(&target).is_empty());

        // Adding one device and removing write from another: only the difference.
        let mut rules2 = rules.clone();
        rules2.push(DeviceRule::allow('c', Some(10), Some(200), "rwm"));
        rules2.push(DeviceRule {
            allow: false,
            typ: 'c',
            major: Some(1),
            minor: Some(9),
            access: ACC_WRITE,
        });
        let t = cur.transition(&Emulator::from_rules(&rules2));
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].cgroup_string(), "c 10:200 rwm");
        assert!(t[0].allow);
        assert_eq!(t[1].cgroup_string(), "c 1:9 w");
        assert!(!t[1].allow);

        // Allow-all target from a deny state.
        let all = Emulator::from_rules(&[DeviceRule::allow('a', None, None, "rwm")]);
        let t = cur.transition(&all);
        assert_eq!(t.len(), 1);
        assert!(t[0].allow && t[0].typ == 'a');
    }
}
