//! Which unit and cgroup a container gets: linux.cgroupsPath "slice:prefix:name" parsed the
//! way runc's systemd driver does, and slice names expanded into cgroup paths.

use anyhow::{bail, Result};

/// The default unit prefix when linux.cgroupsPath is empty (runc uses "runc").
pub const DEFAULT_PREFIX: &str = "hull";

/// runc's ExpandSlice: "a-b.slice" → "/a.slice/a-b.slice", "-.slice" → "/".
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || format!("invalid systemd slice name {slice:?}");
    let Some(stem) = slice.strip_suffix(".slice") else {
        bail!("{}: it must end in \".slice\"", bad());
    };
    if slice.contains('/') {
        bail!("{}: it must not contain '/'", bad());
    }
    if stem == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for comp in stem.split('-') {
        if comp.is_empty() {
            bail!("{}: empty component between '-'", bad());
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(comp);
        path.push_str(".slice");
        prefix.push_str(comp);
        prefix.push('-');
    }
    Ok(path)
}

fn valid_unit_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

/// Where and what the container's unit is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitPlan {
    /// The unit name ("hull-<id>.scope" or "<name>.slice").
    pub unit: String,
    /// For a scope: the slice it goes into (its Slice= property).
    pub slice: Option<String>,
    /// The unit's cgroup path below the hierarchy root ("/system.slice/hull-x.scope").
    pub cgroup: String,
}

impl UnitPlan {
    pub fn is_slice(&self) -> bool {
        self.slice.is_none()
    }
}

/// The slice of a scope when cgroupsPath names none: runc's defaults, "system.slice" for the
/// system instance and "user.slice" for the user's (rootless).
pub fn default_slice(user: bool) -> &'static str {
    if user {
        "user.slice"
    } else {
        "system.slice"
    }
}

/// Parses linux.cgroupsPath the way runc's systemd driver does. With `user` (the user's
/// systemd instance) the cgroup path is relative to the user manager's cgroup.
pub fn plan(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<UnitPlan> {
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => ("", DEFAULT_PREFIX, id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            if parts.len() != 3 {
                bail!(
                    "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {p:?} instead"
                );
            }
            (parts[0], parts[1], parts[2])
        }
    };
    if name.is_empty() {
        bail!("invalid cgroupsPath {cgroups_path:?}: the unit name part is empty");
    }
    let slice = if slice.is_empty() {
        default_slice(user)
    } else if slice == "-" {
        "-.slice"
    } else {
        slice
    };
    let plan = if name.ends_with(".slice") {
        UnitPlan {
            unit: name.to_string(),
            slice: None,
            cgroup: expand_slice(name)?,
        }
    } else {
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        let parent = expand_slice(slice)?;
        let cgroup = if parent == "/" {
            format!("/{unit}")
        } else {
            format!("{parent}/{unit}")
        };
        UnitPlan {
            unit,
            slice: Some(slice.to_string()),
            cgroup,
        }
    };
    if !valid_unit_name(&plan.unit) {
        bail!(
            "invalid systemd unit name {:?}: only letters, digits and \":-_.\\@\" are allowed",
            plan.unit
        );
    }
    Ok(plan)
}
