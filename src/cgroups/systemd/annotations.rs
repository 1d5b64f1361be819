//! Unit properties of the user's choice, from "org.systemd.property.<Name>" annotations whose
//! values are written in (a subset of) the GVariant text format.

use super::properties::prop;
use crate::cgroups::dbus::Value;
use anyhow::{bail, Context, Result};

/// Prefix of the annotations that become unit properties (as in runc).
pub const PROPERTY_ANNOTATION: &str = "org.systemd.property.";

/// Parses an annotation value in the subset of the GVariant text format runc documents:
/// "uint64 123" (also uint32, int64, int32, uint16, int16, byte, double, boolean, string
/// prefixes, or "@t 123"), true/false, 'text' or "text", a bare integer (int32) or a bare
/// floating point number (double).
pub fn parse_gvariant(text: &str) -> Result<Value> {
    let t = text.trim();
    let bad = || {
        format!(
            "unsupported property value {text:?} (use e.g. \"uint64 123\", \"true\", \"'text'\")"
        )
    };
    let (ty, rest) = match t.split_once(char::is_whitespace) {
        Some((a, b))
            if a.starts_with('@')
                || (a.starts_with(|c: char| c.is_ascii_lowercase())
                    && a.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())) =>
        {
            (Some(a), b.trim())
        }
        _ => (None, t),
    };
    let int = |s: &str| s.parse::<i128>().with_context(bad);
    let ranged = |v: i128, lo: i128, hi: i128| -> Result<i128> {
        if v < lo || v > hi {
            bail!("{}: out of range", bad());
        }
        Ok(v)
    };
    Ok(match ty {
        Some("uint64" | "@t") => Value::U64(ranged(int(rest)?, 0, u64::MAX as i128)? as u64),
        Some("int64" | "@x") => {
            Value::I64(ranged(int(rest)?, i64::MIN as i128, i64::MAX as i128)? as i64)
        }
        Some("uint32" | "@u") => Value::U32(ranged(int(rest)?, 0, u32::MAX as i128)? as u32),
        Some("int32" | "@i") => {
            Value::I32(ranged(int(rest)?, i32::MIN as i128, i32::MAX as i128)? as i32)
        }
        Some("uint16" | "@q") => Value::U16(ranged(int(rest)?, 0, u16::MAX as i128)? as u16),
        Some("int16" | "@n") => {
            Value::I16(ranged(int(rest)?, i16::MIN as i128, i16::MAX as i128)? as i16)
        }
        Some("byte" | "@y") => Value::Byte(ranged(int(rest)?, 0, 255)? as u8),
        Some("double" | "@d") => Value::F64(rest.parse().with_context(bad)?),
        Some("boolean" | "@b") => match rest {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => bail!("{}", bad()),
        },
        Some("string" | "@s") => parse_gvariant_string(rest).with_context(bad)?,
        Some(_) => bail!("{}", bad()),
        None => match t {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ if t.starts_with('\'') || t.starts_with('"') => {
                parse_gvariant_string(t).with_context(bad)?
            }
            _ if t.contains('.') || t.contains('e') => Value::F64(t.parse().with_context(bad)?),
            _ => Value::I32(ranged(int(t)?, i32::MIN as i128, i32::MAX as i128)? as i32),
        },
    })
}

fn parse_gvariant_string(t: &str) -> Result<Value> {
    let q = t.chars().next().context("empty string value")?;
    if !(q == '\'' || q == '"') || t.len() < 2 || !t.ends_with(q) {
        bail!("not a quoted string");
    }
    let mut out = String::new();
    let mut esc = false;
    for c in t[1..t.len() - 1].chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == q {
            bail!("unescaped quote inside the string");
        } else {
            out.push(c);
        }
    }
    Ok(Value::Str(out))
}

/// Unit properties from "org.systemd.property.<Name>" annotations. A name ending in "Sec"
/// (not "USec") takes seconds and becomes "<Name>USec" in microseconds, as runc does.
pub fn annotation_properties(
    annotations: &std::collections::HashMap<String, String>,
) -> Result<Vec<Value>> {
    let mut keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.starts_with(PROPERTY_ANNOTATION))
        .collect();
    keys.sort();
    let mut p = Vec::new();
    for k in keys {
        let name = &k[PROPERTY_ANNOTATION.len()..];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("annotation {k:?}: invalid systemd property name {name:?}");
        }
        let v = parse_gvariant(&annotations[k]).with_context(|| format!("annotation {k:?}"))?;
        if let Some(stem) = name.strip_suffix("Sec").filter(|_| !name.ends_with("USec")) {
            let secs = match v {
                Value::U64(x) => x as f64,
                Value::I64(x) => x as f64,
                Value::U32(x) => x as f64,
                Value::I32(x) => x as f64,
                Value::U16(x) => x as f64,
                Value::I16(x) => x as f64,
                Value::Byte(x) => x as f64,
                Value::F64(x) => x,
                _ => bail!("annotation {k:?}: a time in seconds must be a number"),
            };
            if !(0.0..=(u64::MAX / 1_000_000) as f64).contains(&secs) {
                bail!("annotation {k:?}: {secs} seconds is out of range");
            }
            p.push(prop(
                &format!("{stem}USec"),
                Value::U64((secs * 1e6) as u64),
            ));
        } else {
            p.push(prop(name, v));
        }
    }
    Ok(p)
}
