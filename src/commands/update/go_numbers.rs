//! Numbers parsed the way runc's Go code parses them (strconv, the flag package, go-units'
//! RAMInBytes), because runc's error texts are what callers see.

use anyhow::{anyhow, bail, Result};

/// Go's strconv.ParseUint(s, 10, 64), with its error text.
pub fn go_parse_uint(s: &str) -> Result<u64> {
    let syntax = || anyhow!("strconv.ParseUint: parsing {}: invalid syntax", go_quote(s));
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    s.parse::<u64>().map_err(|_| {
        anyhow!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        )
    })
}

/// Go's strconv.ParseInt(s, 10, 64), with its error text.
pub fn go_parse_int(s: &str) -> Result<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        bail!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s));
    }
    let v: i128 = digits.parse().unwrap_or(i128::MAX);
    let v = if s.starts_with('-') { -v } else { v };
    i64::try_from(v).map_err(|_| {
        anyhow!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )
    })
}

/// strconv.Quote for the ASCII strings these errors usually hold (JSON escaping is close
/// enough for the rest).
pub(super) fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Go's underscoreOK: underscores only between digits (or a base prefix and a digit).
fn underscore_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's strconv.ParseInt(s, 0, 64) as Go's flag package uses it for int flags; the error is
/// the flag package's ("parse error" / "value out of range").
pub fn go_parse_int_base0(s: &str) -> std::result::Result<i64, &'static str> {
    const SYNTAX: &str = "parse error";
    const RANGE: &str = "value out of range";
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    if b.is_empty() {
        return Err(SYNTAX);
    }
    let (base, digits) = if b[0] == b'0' && b.len() > 1 {
        match b[1].to_ascii_lowercase() {
            b'x' => (16, &body[2..]),
            b'b' => (2, &body[2..]),
            b'o' => (8, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else {
        (10, body)
    };
    if digits.is_empty() {
        return Err(SYNTAX);
    }
    let mut underscores = false;
    let mut v: u128 = 0;
    for c in digits.bytes() {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let d = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 10,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return Err(SYNTAX),
        };
        if d >= base {
            return Err(SYNTAX);
        }
        // Like Go, an overflow is reported at once (before later syntax errors).
        v = v * base as u128 + d as u128;
        if v > u64::MAX as u128 {
            return Err(RANGE);
        }
    }
    if underscores && !underscore_ok(s) {
        return Err(SYNTAX);
    }
    let v = if neg { -(v as i128) } else { v as i128 };
    i64::try_from(v).map_err(|_| RANGE)
}

/// docker/go-units RAMInBytes as vendored by runc 1.1: `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`
/// with binary (1024-based) multipliers. Errors carry go-units' / strconv's text.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let invalid = || anyhow!("invalid size: '{s}'");
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return Err(invalid());
    }
    while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        digits(&mut i);
    }
    let num = &s[..i];
    if i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let mut mul: f64 = 1.0;
    if i < b.len() {
        let p = match b[i].to_ascii_lowercase() {
            b'k' => Some(1),
            b'm' => Some(2),
            b'g' => Some(3),
            b't' => Some(4),
            b'p' => Some(5),
            _ => None,
        };
        if let Some(p) = p {
            mul = 1024f64.powi(p);
            i += 1;
        }
    }
    if i < b.len() && b[i].eq_ignore_ascii_case(&b'i') {
        i += 1;
    }
    if i < b.len() && b[i].eq_ignore_ascii_case(&b'b') {
        i += 1;
    }
    if i != b.len() {
        return Err(invalid());
    }
    let size: f64 = match num.parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        Ok(_) => bail!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(num)
        ),
        Err(_) => bail!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(num)
        ),
    };
    let v = size * mul;
    // Go's int64(float64) on amd64: out-of-range values become math.MinInt64.
    if v >= 9_223_372_036_854_775_808.0 {
        return Ok(i64::MIN);
    }
    Ok(v as i64)
}
