//! `exec --cgroup [<controllers>:]<path>`: run the new process in an existing sub-cgroup of
//! the container's cgroup (runc's flag, with its words for bad input).

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Parses the --cgroup values into controller → sub-path ("" = every controller, or the one
/// cgroup v2 directory), as runc's getSubCgroupPaths does.
fn parse(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut subs = BTreeMap::new();
    for a in args {
        match a.split_once(':') {
            Some((ctrls, path)) => {
                for c in ctrls.split(',') {
                    if c.is_empty() {
                        bail!("invalid --cgroup argument: {a} (empty <controller> prefix)");
                    }
                    if subs.insert(c.to_string(), path.to_string()).is_some() {
                        bail!(
                            "invalid --cgroup argument(s): controller {c} specified multiple times"
                        );
                    }
                }
            }
            None if args.len() != 1 => {
                bail!("invalid --cgroup argument: {a} (missing <controller>: prefix)")
            }
            None => {
                subs.insert(String::new(), a.clone());
            }
        }
    }
    Ok(subs)
}

/// `base` joined with `sub`, lexically cleaned; None when it would leave `base`.
fn below(base: &Path, sub: &str) -> Option<PathBuf> {
    let mut parts: Vec<&str> = Vec::new();
    for c in sub.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.iter().fold(base.to_path_buf(), |p, c| p.join(c)))
}

/// The cgroup.procs files to join: the container's cgroups (`paths`, hierarchy key →
/// directory: "cpu,cpuacct", "name=systemd", "unified", or "" on v2) with the sub-paths of
/// `args` applied. Every named controller must be one of the container's and every sub-cgroup
/// must exist.
pub fn procs_files(paths: &BTreeMap<String, PathBuf>, args: &[String]) -> Result<Vec<PathBuf>> {
    let subs = parse(args)?;
    let all = subs.get("");
    for c in subs.keys().filter(|c| !c.is_empty()) {
        if !paths.keys().any(|k| k.split(',').any(|x| x == c)) {
            bail!("unknown controller {c}");
        }
    }
    let mut files = Vec::with_capacity(paths.len());
    for (key, dir) in paths {
        let sub = key.split(',').find_map(|c| subs.get(c)).or(all);
        let dir = match sub {
            Some(s) => {
                below(dir, s).ok_or_else(|| anyhow::anyhow!("{s} is not a sub cgroup path"))?
            }
            None => dir.clone(),
        };
        if sub.is_some() && !dir.is_dir() {
            bail!(
                "error adding pid to cgroups: open {}: no such file or directory",
                dir.join("cgroup.procs").display()
            );
        }
        // v1: `tasks` moves just the (single-threaded) exec child, which spares the kernel's
        // global threadgroup lock (see CgroupState::join_files).
        files.push(dir.join(match key.as_str() {
            "" | "unified" => "cgroup.procs",
            _ => "tasks",
        }));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse(&v(&["sub"])).unwrap()[""], "sub");
        let m = parse(&v(&["memory:a", "cpu,cpuacct:b"])).unwrap();
        assert_eq!((m["memory"].as_str(), m["cpuacct"].as_str()), ("a", "b"));
        assert!(parse(&v(&["a", "b"])).is_err());
        assert!(parse(&v(&[":x"])).is_err());
        assert!(parse(&v(&["pids:a", "pids:b"])).is_err());
        let base = Path::new("/sys/fs/cgroup/pids/c");
        assert_eq!(below(base, "/"), Some(base.to_path_buf()));
        assert_eq!(below(base, "x/../y"), Some(base.join("y")));
        assert_eq!(below(base, ".."), None);
        assert_eq!(below(base, "x/../../y"), None);
    }
}
