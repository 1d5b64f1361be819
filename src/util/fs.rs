//! File helpers: atomic replacement (readers never see a half-written file) and small writes.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` atomically: a temp file in the same directory, then rename.
/// The temp name carries our pid so concurrent writers never share a temp file.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    stage_atomic(path, data, mode)?.commit()
}

/// A file written under its temp name, put in place by [`Staged::commit`] (one rename) and
/// removed if dropped before: lets the slow part of [`write_atomic`] run early, while we wait
/// for something else anyway, and the file appear only when it should.
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

/// The first half of [`write_atomic`]: the temp file with `data`, not yet renamed.
pub fn stage_atomic(path: &Path, data: &[u8], mode: u32) -> Result<Staged> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let staged = Staged {
        tmp: dir.join(format!(".{name}.{}.tmp", std::process::id())),
        path: path.to_path_buf(),
        committed: false,
    };
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC)
        .open(&staged.tmp)
        .and_then(|mut f| f.write_all(data))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(staged)
}

impl Staged {
    /// Puts the file in place.
    pub fn commit(mut self) -> Result<()> {
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a short value to an existing kernel file (procfs, cgroupfs) in one write(2).
pub fn write_value(path: &Path, value: &str) -> Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .with_context(|| format!("writing {value:?} to {}", path.display()))
}
