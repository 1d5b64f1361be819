//! Loading and validating a bundle's config.json. Everything that can be rejected before any
//! state, cgroup or mount exists is rejected here, so bad input never leaves anything behind.

pub mod default;
pub mod sched_flags;
pub mod validate;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// Above this size a config is refused outright: serde handles tens of MB in well under a
/// second, but nothing legitimate comes close to this and we must never stall a caller.
const MAX_CONFIG_BYTES: u64 = 128 << 20;

/// A parsed bundle: the spec, the raw bytes (kept so the state store can save them without
/// re-serializing), and absolute bundle/rootfs paths.
pub struct Bundle {
    pub spec: Spec,
    pub raw: Vec<u8>,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
}

/// Reads `<bundle>/config.json`, parses and validates it.
pub fn load_bundle(bundle: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(bundle)
        .with_context(|| format!("bundle directory {}", bundle.display()))?;
    let path = dir.join("config.json");
    let meta = std::fs::metadata(&path).with_context(|| format!("open {}", path.display()))?;
    if meta.len() > MAX_CONFIG_BYTES {
        bail!(
            "{}: config is {} bytes, larger than the {} byte limit",
            path.display(),
            meta.len(),
            MAX_CONFIG_BYTES
        );
    }
    let raw = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    let spec = parse(&raw).with_context(|| format!("{}", path.display()))?;
    let rootfs = validate::validate(&spec, &dir)?;
    Ok(Bundle {
        spec,
        raw,
        dir,
        rootfs,
    })
}

/// Parses config bytes, turning serde's messages into one line that names the problem.
pub fn parse(raw: &[u8]) -> Result<Spec> {
    // A cheap look at the first byte gives a clear message for `null`, arrays and the like
    // without parsing the document twice on the hot path.
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => bail!("config is empty"),
        Some(_) => {
            let v: serde_json::Value =
                serde_json::from_slice(raw).context("invalid JSON in config")?;
            bail!("config must be a JSON object, got {}", kind_of(&v));
        }
    }
    sched_flags::from_slice(raw, Some("process")).context("invalid config")
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn rejects_non_objects_clearly() {
        let e = format!("{:#}", parse(b"null").unwrap_err());
        assert!(e.contains("got null"), "{e}");
        assert!(parse(b"  ").is_err());
        assert!(parse(b"{").is_err());
        assert!(parse(br#"{"ociVersion":"1.0.2"}"#).is_ok());
    }
}
