//! The D-Bus values hull sends and receives, and the signature rules (alignment, one complete
//! type) that both directions of the wire format share.

use anyhow::{bail, Result};

/// A D-Bus value (the subset of types hull uses).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    ObjPath(String),
    Sig(String),
    /// Element signature and elements (a dict is an array of 2-field structs with "{..}").
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    /// A dict entry (only inside an array whose element signature starts with '{').
    DictEntry(Box<Value>, Box<Value>),
    Variant(Box<Value>),
}

impl Value {
    /// The value's D-Bus type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I16(_) => "n".into(),
            Value::U16(_) => "q".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::F64(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::ObjPath(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(f) => {
                let inner: String = f.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            Value::DictEntry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
            Value::Variant(_) => "v".into(),
        }
    }

    /// The text of a string, object path or signature.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::ObjPath(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::U32(v) => Some(*v),
            _ => None,
        }
    }

    /// A `s` string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// A variant holding `v`.
    pub fn var(v: Value) -> Value {
        Value::Variant(Box::new(v))
    }
}

/// Alignment of the type whose signature starts with `code`.
pub(super) fn alignment(code: u8) -> usize {
    match code {
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 1, // y g v
    }
}

/// Length of the first single complete type in `sig`.
pub(super) fn single_type_len(sig: &[u8]) -> Result<usize> {
    let Some(&c) = sig.first() else {
        bail!("D-Bus signature ended early");
    };
    match c {
        b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b'h' | b's' | b'o'
        | b'g' | b'v' => Ok(1),
        b'a' => Ok(1 + single_type_len(&sig[1..])?),
        b'(' | b'{' => {
            let close = if c == b'(' { b')' } else { b'}' };
            let mut i = 1;
            let mut fields = 0;
            while sig.get(i) != Some(&close) {
                if i >= sig.len() {
                    bail!("unterminated container in D-Bus signature");
                }
                i += single_type_len(&sig[i..])?;
                fields += 1;
            }
            // The spec forbids empty structs; a dict entry is exactly key and value.
            if (c == b'(' && fields == 0) || (c == b'{' && fields != 2) {
                bail!(
                    "invalid D-Bus signature {:?}",
                    String::from_utf8_lossy(&sig[..=i])
                );
            }
            Ok(i + 1)
        }
        other => bail!("unsupported D-Bus type code {:?}", other as char),
    }
}
