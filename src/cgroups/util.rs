//! Small file helpers shared by the v1 and v2 managers.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Write `value` to `dir/file`. The error names the file and the value, and keeps the io error
/// as its source (so callers can look for EBUSY etc. with [`io_errno`]).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value)
}

pub(crate) fn write_path(path: &Path, value: &str) -> Result<()> {
    let res = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|e| {
        anyhow::Error::new(e).context(format!("failed to write {:?} to {}", value, path.display()))
    })
}

/// errno of the io error at the root of `e`, if any.
pub(crate) fn io_errno(e: &anyhow::Error) -> Option<i32> {
    e.chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .and_then(|io| io.raw_os_error())
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))
}

/// Like [`read`], but None when the file does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("failed to read {}", path.display()))),
    }
}

/// Parse a single-number file; "max" (v2) gives u64::MAX.
pub(crate) fn parse_u64(s: &str) -> Result<u64> {
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    // v1 may report a negative value ("-1") for unlimited in some files.
    if let Ok(v) = t.parse::<u64>() {
        return Ok(v);
    }
    if let Ok(v) = t.parse::<i64>() {
        if v < 0 {
            return Ok(u64::MAX);
        }
    }
    Err(anyhow!("cannot parse {t:?} as a number"))
}

pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let s = read(dir, file)?;
    parse_u64(&s).with_context(|| format!("in {}", dir.join(file).display()))
}

/// Like [`read_u64`], but 0 when the file does not exist.
pub(crate) fn read_u64_or_zero(dir: &Path, file: &str) -> Result<u64> {
    match read_opt(dir, file)? {
        Some(s) => parse_u64(&s).with_context(|| format!("in {}", dir.join(file).display())),
        None => Ok(0),
    }
}

/// Parse "key value" lines (memory.stat, cpu.stat, cgroup.events ...).
pub(crate) fn parse_flat_keyed(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Parse a list of pids (cgroup.procs).
pub(crate) fn parse_pids(s: &str) -> Vec<i32> {
    s.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Sub-directories (child cgroups) of `dir`.
pub(crate) fn child_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect()
}

/// All pids in `dir`/cgroup.procs and in every descendant. A missing directory gives [].
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        match read_opt(&d, "cgroup.procs")? {
            Some(s) => out.extend(parse_pids(&s)),
            None => continue,
        }
        stack.extend(child_dirs(&d));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The cheap path of destroying a container's cgroup: a single rmdir of each directory, in
/// order. rmdir of a cgroup succeeds only when no process and no child cgroup is left in it,
/// so when every one succeeds (or is already gone) there was nothing to kill and nothing
/// below: the same end state as killing, listing and removing the tree, without reading
/// cgroup.procs or listing each directory. Stops at the first directory that is busy (or any
/// other error) and returns false: the caller then does the full kill-and-remove.
pub(crate) fn rmdir_if_empty<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> bool {
    dirs.into_iter().all(|d| match std::fs::remove_dir(d) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    })
}

/// rmdir `dir` and all its sub-directories, deepest first. EBUSY is retried with backoff
/// (a cgroup whose last task just exited can stay busy for a moment). A missing directory is
/// not an error.
pub(crate) fn remove_cgroup_tree(dir: &Path) -> Result<()> {
    for child in child_dirs(dir) {
        remove_cgroup_tree(&child)?;
    }
    let mut delay = Duration::from_millis(1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("failed to remove cgroup {}", dir.display()))
            }
        }
    }
}

/// Wait with backoff until `cond` is true or `timeout` passes. Returns whether it became true.
pub(crate) fn wait_until(
    timeout: Duration,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_micros(200);
    loop {
        if cond()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// kill(pid, SIGKILL), ignoring processes that are already gone.
pub(crate) fn sigkill(pid: i32) -> Result<()> {
    // SAFETY: plain syscall.
    if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            bail!("failed to kill pid {pid}: {e}");
        }
    }
    Ok(())
}

/// Parse a PSI file (cpu.pressure, memory.pressure, io.pressure).
pub(crate) fn parse_psi(s: &str) -> super::stats::PsiStats {
    let mut out = super::stats::PsiStats::default();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let which = match it.next() {
            Some("some") => &mut out.some,
            Some("full") => &mut out.full,
            _ => continue,
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => which.avg10 = v.parse().unwrap_or(0.0),
                "avg60" => which.avg60 = v.parse().unwrap_or(0.0),
                "avg300" => which.avg300 = v.parse().unwrap_or(0.0),
                "total" => which.total = v.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    out
}

/// Hugepage sizes supported by the kernel, in the cgroup file naming ("2MB", "1GB", "64KB").
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut v: Vec<(u64, String)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, hugepage_name(kb)))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

pub(crate) fn hugepage_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb % (1 << 20) == 0 {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb % (1 << 10) == 0 {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("12\n").unwrap(), 12);
        assert_eq!(parse_u64("max\n").unwrap(), u64::MAX);
        assert_eq!(parse_u64("-1").unwrap(), u64::MAX);
        assert!(parse_u64("abc").is_err());
    }

    #[test]
    fn flat_keyed() {
        let m = parse_flat_keyed("populated 1\nfrozen 0\nbad\n");
        assert_eq!(m["populated"], 1);
        assert_eq!(m["frozen"], 0);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn psi() {
        let p = parse_psi(
            "some avg10=1.50 avg60=0.00 avg300=0.25 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
        );
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.avg300, 0.25);
        assert_eq!(p.some.total, 123);
        assert_eq!(p.full.total, 7);
    }

    #[test]
    fn hugepage_names() {
        assert_eq!(hugepage_name(2048), "2MB");
        assert_eq!(hugepage_name(1_048_576), "1GB");
        assert_eq!(hugepage_name(64), "64KB");
        assert_eq!(hugepage_name(32768), "32MB");
    }

    #[test]
    fn write_error_names_file_and_value() {
        let e = write(Path::new("/nonexistent-hull-dir"), "x.max", "42").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("\"42\""), "{msg}");
        assert!(msg.contains("/nonexistent-hull-dir/x.max"), "{msg}");
        assert_eq!(io_errno(&e), Some(libc::ENOENT));
    }
}
