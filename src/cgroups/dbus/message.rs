//! One D-Bus message: its fixed header, header fields and body; encoding, decoding, and an
//! error reply as a Rust error.

use super::marshal::{Decoder, Encoder};
use super::value::Value;
use anyhow::{bail, Context, Result};

pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

/// Header field codes.
const F_PATH: u8 = 1;
const F_INTERFACE: u8 = 2;
const F_MEMBER: u8 = 3;
const F_ERROR_NAME: u8 = 4;
const F_REPLY_SERIAL: u8 = 5;
const F_DESTINATION: u8 = 6;
const F_SENDER: u8 = 7;
const F_SIGNATURE: u8 = 8;

/// Largest message we accept (the specification's limit is 128 MiB).
const MAX_MESSAGE: usize = 1 << 27;

/// One D-Bus message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub typ: u8,
    pub flags: u8,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    pub signature: String,
    /// The marshalled body (starts 8-aligned in the message).
    pub body: Vec<u8>,
}

impl Message {
    /// A method call with `args` as its body.
    pub fn method_call(
        destination: Option<&str>,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<Message> {
        let mut e = Encoder::default();
        for a in args {
            e.put(a)?;
        }
        Ok(Message {
            typ: METHOD_CALL,
            path: Some(path.into()),
            interface: Some(interface.into()),
            member: Some(member.into()),
            destination: destination.map(str::to_string),
            signature: args.iter().map(Value::signature).collect(),
            body: e.buf,
            ..Default::default()
        })
    }

    /// The body's values.
    pub fn args(&self) -> Result<Vec<Value>> {
        let mut d = Decoder::new(&self.body, 0);
        let v = d.read_all(&self.signature)?;
        if d.pos != self.body.len() {
            bail!("D-Bus message body is longer than its signature");
        }
        Ok(v)
    }

    /// Marshals the message with `serial`.
    pub fn encode(&self, serial: u32) -> Result<Vec<u8>> {
        let mut e = Encoder::default();
        e.buf
            .extend_from_slice(&[b'l', self.typ, self.flags, 1 /* protocol version */]);
        e.buf
            .extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        e.buf.extend_from_slice(&serial.to_le_bytes());
        let mut fields = Vec::new();
        let mut field = |code: u8, v: Value| {
            fields.push(Value::Struct(vec![Value::Byte(code), Value::var(v)]));
        };
        if let Some(p) = &self.path {
            field(F_PATH, Value::ObjPath(p.clone()));
        }
        if let Some(s) = &self.interface {
            field(F_INTERFACE, Value::str(s.clone()));
        }
        if let Some(s) = &self.member {
            field(F_MEMBER, Value::str(s.clone()));
        }
        if let Some(s) = &self.error_name {
            field(F_ERROR_NAME, Value::str(s.clone()));
        }
        if let Some(s) = self.reply_serial {
            field(F_REPLY_SERIAL, Value::U32(s));
        }
        if let Some(s) = &self.destination {
            field(F_DESTINATION, Value::str(s.clone()));
        }
        if let Some(s) = &self.sender {
            field(F_SENDER, Value::str(s.clone()));
        }
        if !self.signature.is_empty() {
            field(F_SIGNATURE, Value::Sig(self.signature.clone()));
        }
        e.put(&Value::Array("(yv)".into(), fields))?;
        e.pad(8);
        e.buf.extend_from_slice(&self.body);
        Ok(e.buf)
    }

    /// Total length of the message whose first 16 bytes are `fixed`.
    pub fn total_len(fixed: &[u8; 16]) -> Result<usize> {
        if fixed[0] != b'l' {
            bail!(
                "unsupported D-Bus message endianness {:?} (only little-endian)",
                fixed[0] as char
            );
        }
        let body = u32::from_le_bytes(fixed[4..8].try_into().unwrap()) as usize;
        let fields = u32::from_le_bytes(fixed[12..16].try_into().unwrap()) as usize;
        let total = (16 + fields).div_ceil(8) * 8 + body;
        if total > MAX_MESSAGE {
            bail!("D-Bus message too large ({total} bytes)");
        }
        Ok(total)
    }

    /// Parses a complete marshalled message.
    pub fn decode(buf: &[u8]) -> Result<Message> {
        let fixed: &[u8; 16] = buf
            .get(..16)
            .and_then(|b| b.try_into().ok())
            .context("truncated D-Bus message header")?;
        let total = Message::total_len(fixed)?;
        if buf.len() != total {
            bail!("D-Bus message length mismatch");
        }
        let body_len = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
        let mut m = Message {
            typ: buf[1],
            flags: buf[2],
            serial: u32::from_le_bytes(buf[8..12].try_into().unwrap()),
            ..Default::default()
        };
        let mut d = Decoder::new(&buf[..total - body_len], 12);
        let Value::Array(_, fields) = d.read(b"a(yv)")? else {
            unreachable!()
        };
        for f in fields {
            let Value::Struct(f) = f else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (f.first(), f.get(1)) else {
                continue;
            };
            let s = || v.as_str().map(str::to_string);
            match *code {
                F_PATH => m.path = s(),
                F_INTERFACE => m.interface = s(),
                F_MEMBER => m.member = s(),
                F_ERROR_NAME => m.error_name = s(),
                F_REPLY_SERIAL => m.reply_serial = v.as_u32(),
                F_DESTINATION => m.destination = s(),
                F_SENDER => m.sender = s(),
                F_SIGNATURE => m.signature = s().unwrap_or_default(),
                _ => {}
            }
        }
        m.body = buf[total - body_len..].to_vec();
        Ok(m)
    }
}

/// An error reply: its name (e.g. "org.freedesktop.systemd1.NoSuchUnit") and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbusError {
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for DbusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}: {}", self.name, self.message)
        }
    }
}

impl std::error::Error for DbusError {}

/// The D-Bus error name inside `e`, if it is (or wraps) an error reply.
pub fn error_name(e: &anyhow::Error) -> Option<&str> {
    e.chain()
        .find_map(|c| c.downcast_ref::<DbusError>())
        .map(|d| d.name.as_str())
}
