//! Container id validation, done on every command before the id touches a path.

use anyhow::{bail, Result};

/// Accepts runc's charset (`^[\w+-.]+$`) and refuses `.` and `..`, so an id can never name a
/// path outside the state root.
pub fn validate(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("invalid container id: the id must not be empty");
    }
    if id == "." || id == ".." {
        bail!("invalid container id {id:?}");
    }
    // The id names the state directory: one path component, at most NAME_MAX bytes.
    if id.len() > 255 {
        bail!("invalid container id: longer than 255 characters");
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.')))
    {
        bail!("invalid container id {id:?}: character {c:?} is not allowed (use letters, digits, _ + - .)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids() {
        for ok in ["a", "abc-1_2.3+x", "A.."] {
            super::validate(ok).unwrap();
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\n", "é"] {
            assert!(super::validate(bad).is_err(), "{bad:?}");
        }
    }
}
