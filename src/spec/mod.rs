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
    parse_object(raw, true)
}

/// Like [`parse`] for a config already accepted by `create` (the saved one): the warning
/// about unknown capabilities was given then.
pub fn parse_saved(raw: &[u8]) -> Result<Spec> {
    parse_object(raw, false)
}

fn parse_object(raw: &[u8], warn: bool) -> Result<Spec> {
    parse_lenient(raw, "/process", warn).context("invalid config")
}

/// A process JSON (`exec --process`), read with the same leniency as a config.
pub fn parse_process(raw: &[u8]) -> Result<oci_spec::runtime::Process> {
    parse_lenient(raw, "", true)
}

/// The typed parse, and only when it fails, a second one that accepts what runtime-spec allows
/// but oci-spec refuses in the process object at `process`: the spec's own scheduler flag
/// names (sched_flags) and capability names the runtime does not know (runtime-spec 1.1+: a
/// warning, not an error). A valid config is parsed once.
fn parse_lenient<T: serde::de::DeserializeOwned>(
    raw: &[u8],
    process: &str,
    warn: bool,
) -> Result<T> {
    let first = match serde_json::from_slice(raw) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(raw) else {
        return Err(first.into());
    };
    let Some(p) = v.pointer_mut(process) else {
        return Err(first.into());
    };
    let mut changed = false;
    if sched_flags::mentioned(raw) {
        sched_flags::rewrite_process(p).map_err(anyhow::Error::msg)?;
        changed = true;
    }
    let unknown = drop_unknown_capabilities(p);
    if !unknown.is_empty() {
        changed = true;
        if warn {
            crate::setup::caps::warn_unknown(unknown);
        }
    }
    if !changed {
        return Err(first.into());
    }
    Ok(serde_json::from_value(v)?)
}

/// Removes the capability names oci-spec does not know from every set of the process's
/// capabilities; returns them.
fn drop_unknown_capabilities(process: &mut serde_json::Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return unknown;
    };
    for set in caps.values_mut().filter_map(|s| s.as_array_mut()) {
        set.retain(|name| {
            let known =
                serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                unknown.push(name.as_str().map_or_else(|| name.to_string(), String::from));
            }
            known
        });
    }
    unknown
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

    #[test]
    fn unknown_capabilities_are_dropped() {
        let raw = br#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_UNKNOWN","CAP_KILL","UNKNOWN_CAP"]}}}"#;
        let spec = parse(raw).unwrap();
        let b = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(b.bounding().as_ref().unwrap().len(), 1);
        // a wrong type elsewhere is still an error
        assert!(parse(br#"{"ociVersion":"1.0.2","process":{"cwd":5}}"#).is_err());
    }
}
