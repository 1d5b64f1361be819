//! A small, blocking D-Bus client: just what the systemd cgroup driver needs.
//!
//! - Transport: a Unix stream socket, either systemd's private peer-to-peer socket
//!   (/run/systemd/private, root only, no bus daemon and no `Hello`) or the system bus.
//! - Authentication: SASL `EXTERNAL` with the caller's uid (as ASCII decimal, hex-encoded).
//! - Marshalling: little-endian, the basic types y b n q i u x t d h s o g, variants, arrays
//!   (including dict entries) and structs, with the alignment rules of the D-Bus specification
//!   (alignment is relative to the start of the message; the body starts 8-aligned).
//! - Calls: method calls wait for the reply with the matching serial; an error reply becomes a
//!   [`DbusError`] (name and message) inside the anyhow error, so callers can test its name.
//!   Signals that arrive while waiting are queued for [`Conn::wait_signal`].
//!
//! No unix fd passing, no big-endian peers, no introspection.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

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
fn alignment(code: u8) -> usize {
    match code {
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 1, // y g v
    }
}

/// Length of the first single complete type in `sig`.
fn single_type_len(sig: &[u8]) -> Result<usize> {
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

/// Appends marshalled values to a buffer. Offsets are relative to the buffer start, which must
/// be the start of the message (or an 8-aligned body).
#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    fn pad(&mut self, a: usize) {
        while !self.buf.len().is_multiple_of(a) {
            self.buf.push(0);
        }
    }

    fn put_u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn put_string(&mut self, s: &str) -> Result<()> {
        if s.contains('\0') {
            bail!("D-Bus strings cannot contain NUL: {s:?}");
        }
        self.put_u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    fn put_sig(&mut self, s: &str) -> Result<()> {
        if s.len() > 255 || s.contains('\0') {
            bail!("invalid D-Bus signature {s:?}");
        }
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    /// A fixed-size number: D-Bus aligns it to its own size.
    fn put_fixed(&mut self, le_bytes: &[u8]) {
        self.pad(le_bytes.len());
        self.buf.extend_from_slice(le_bytes);
    }

    pub fn put(&mut self, v: &Value) -> Result<()> {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.put_u32(*b as u32),
            Value::I16(x) => self.put_fixed(&x.to_le_bytes()),
            Value::U16(x) => self.put_fixed(&x.to_le_bytes()),
            Value::I32(x) => self.put_fixed(&x.to_le_bytes()),
            Value::U32(x) => self.put_u32(*x),
            Value::I64(x) => self.put_fixed(&x.to_le_bytes()),
            Value::U64(x) => self.put_fixed(&x.to_le_bytes()),
            Value::F64(x) => self.put_fixed(&x.to_le_bytes()),
            Value::Str(s) | Value::ObjPath(s) => self.put_string(s)?,
            Value::Sig(s) => self.put_sig(s)?,
            Value::Array(elem, items) => {
                let first = *elem
                    .as_bytes()
                    .first()
                    .context("empty array element type")?;
                if single_type_len(elem.as_bytes())? != elem.len() {
                    bail!("array element signature {elem:?} is not one complete type");
                }
                self.put_u32(0);
                let len_pos = self.buf.len() - 4;
                // Padding to the element alignment is there even for an empty array and is
                // not counted in the length.
                self.pad(alignment(first));
                let start = self.buf.len();
                for it in items {
                    let s = it.signature();
                    if s != *elem {
                        bail!("array of {elem:?} holds a {s:?}");
                    }
                    self.put(it)?;
                }
                let n = self.buf.len() - start;
                if n > 1 << 26 {
                    bail!("D-Bus array too long ({n} bytes)");
                }
                self.buf[len_pos..len_pos + 4].copy_from_slice(&(n as u32).to_le_bytes());
            }
            Value::Struct(fields) => {
                if fields.is_empty() {
                    bail!("empty D-Bus struct");
                }
                self.pad(8);
                for f in fields {
                    self.put(f)?;
                }
            }
            Value::DictEntry(k, val) => {
                self.pad(8);
                self.put(k)?;
                self.put(val)?;
            }
            Value::Variant(inner) => {
                self.put_sig(&inner.signature())?;
                self.put(inner)?;
            }
        }
        Ok(())
    }
}

/// Reads marshalled little-endian values from a buffer (offsets relative to its start).
pub struct Decoder<'a> {
    buf: &'a [u8],
    pub pos: usize,
    depth: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Decoder<'a> {
        Decoder { buf, pos, depth: 0 }
    }

    fn align(&mut self, a: usize) -> Result<()> {
        let p = self.pos.div_ceil(a) * a;
        if p > self.buf.len() {
            bail!("truncated D-Bus message");
        }
        self.pos = p;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| anyhow!("truncated D-Bus message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.align(N)?;
        Ok(self.take(N)?.try_into().unwrap())
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.fixed::<4>()?))
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let b = self.take(len)?;
        let nul = self.take(1)?;
        if nul != [0] {
            bail!("D-Bus string is not NUL-terminated");
        }
        String::from_utf8(b.to_vec()).context("D-Bus string is not UTF-8")
    }

    /// Reads every value of the signature `sig` (a sequence of complete types).
    pub fn read_all(&mut self, sig: &str) -> Result<Vec<Value>> {
        let s = sig.as_bytes();
        let mut i = 0;
        let mut out = Vec::new();
        while i < s.len() {
            let n = single_type_len(&s[i..])?;
            out.push(self.read(&s[i..i + n])?);
            i += n;
        }
        Ok(out)
    }

    /// Reads one value of the single complete type `sig`.
    pub fn read(&mut self, sig: &[u8]) -> Result<Value> {
        self.depth += 1;
        if self.depth > 64 {
            bail!("D-Bus value nested too deeply");
        }
        let v = self.read_inner(sig);
        self.depth -= 1;
        v
    }

    fn read_inner(&mut self, sig: &[u8]) -> Result<Value> {
        let c = *sig.first().context("empty D-Bus signature")?;
        Ok(match c {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                v => bail!("invalid D-Bus boolean {v}"),
            },
            b'n' => Value::I16(i16::from_le_bytes(self.fixed::<2>()?)),
            b'q' => Value::U16(u16::from_le_bytes(self.fixed::<2>()?)),
            b'i' => Value::I32(i32::from_le_bytes(self.fixed::<4>()?)),
            b'u' | b'h' => Value::U32(self.u32()?),
            b'x' => Value::I64(i64::from_le_bytes(self.fixed::<8>()?)),
            b't' => Value::U64(u64::from_le_bytes(self.fixed::<8>()?)),
            b'd' => Value::F64(f64::from_le_bytes(self.fixed::<8>()?)),
            b's' | b'o' => {
                let n = self.u32()? as usize;
                let t = self.text(n)?;
                if c == b's' {
                    Value::Str(t)
                } else {
                    Value::ObjPath(t)
                }
            }
            b'g' => {
                let n = self.take(1)?[0] as usize;
                Value::Sig(self.text(n)?)
            }
            b'v' => {
                let n = self.take(1)?[0] as usize;
                let s = self.text(n)?;
                if single_type_len(s.as_bytes())? != s.len() {
                    bail!("variant signature {s:?} is not one complete type");
                }
                Value::Variant(Box::new(self.read(s.as_bytes())?))
            }
            b'a' => {
                let n = self.u32()? as usize;
                let elem = &sig[1..1 + single_type_len(&sig[1..])?];
                self.align(alignment(elem[0]))?;
                let end = self
                    .pos
                    .checked_add(n)
                    .filter(|&e| e <= self.buf.len())
                    .ok_or_else(|| anyhow!("truncated D-Bus array"))?;
                let mut items = Vec::new();
                while self.pos < end {
                    let before = self.pos;
                    items.push(self.read(elem)?);
                    if self.pos == before {
                        bail!("D-Bus array element of type {elem:?} has no size");
                    }
                }
                if self.pos != end {
                    bail!("D-Bus array elements overrun the array length");
                }
                Value::Array(String::from_utf8_lossy(elem).into_owned(), items)
            }
            b'(' => {
                self.align(8)?;
                let mut fields = Vec::new();
                let mut i = 1;
                while sig[i] != b')' {
                    let n = single_type_len(&sig[i..])?;
                    fields.push(self.read(&sig[i..i + n])?);
                    i += n;
                }
                Value::Struct(fields)
            }
            b'{' => {
                self.align(8)?;
                let kn = single_type_len(&sig[1..])?;
                let k = self.read(&sig[1..1 + kn])?;
                let vn = single_type_len(&sig[1 + kn..])?;
                let v = self.read(&sig[1 + kn..1 + kn + vn])?;
                Value::DictEntry(Box::new(k), Box::new(v))
            }
            other => bail!("unsupported D-Bus type code {:?}", other as char),
        })
    }
}

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

/// A hex-encoded SASL EXTERNAL identity: the uid in ASCII decimal, each byte as two hex digits.
pub fn sasl_uid(uid: u32) -> String {
    uid.to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HULL_DBUS_DEBUG=1 traces every message on stderr.
fn debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("HULL_DBUS_DEBUG").is_some_and(|v| v == "1"))
}

fn describe(m: &Message) -> String {
    let kind = match m.typ {
        METHOD_CALL => "call",
        METHOD_RETURN => "return",
        ERROR => "error",
        SIGNAL => "signal",
        _ => "?",
    };
    format!(
        "{kind} {}.{} reply_to={:?} err={:?} sig={:?} args={:?}",
        m.interface.as_deref().unwrap_or(""),
        m.member.as_deref().unwrap_or(""),
        m.reply_serial,
        m.error_name,
        m.signature,
        m.args().ok()
    )
}

/// A connection to a bus or a peer.
pub struct Conn {
    sock: UnixStream,
    serial: u32,
    /// Signals received while waiting for a reply.
    queued: VecDeque<Message>,
    /// Bytes received but not yet parsed into a message.
    rbuf: Vec<u8>,
}

impl Conn {
    /// Connects to the socket at `path` and authenticates. With `hello`, registers on the bus
    /// (required by a bus daemon, not by a peer such as systemd's private socket).
    pub fn connect(path: &Path, hello: bool, timeout: Duration) -> Result<Conn> {
        let sock = UnixStream::connect(path)
            .with_context(|| format!("connecting to D-Bus socket {}", path.display()))?;
        let mut c = Conn::from_stream(sock, timeout)?;
        if !hello {
            c.sync_peer(timeout)?;
        }
        if hello {
            c.call(
                Message::method_call(
                    Some("org.freedesktop.DBus"),
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "Hello",
                    &[],
                )?,
                timeout,
            )
            .context("D-Bus Hello")?;
        }
        Ok(c)
    }

    /// Authenticates on an already connected stream.
    pub fn from_stream(sock: UnixStream, timeout: Duration) -> Result<Conn> {
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        let mut c = Conn {
            sock,
            serial: 0,
            queued: VecDeque::new(),
            rbuf: Vec::new(),
        };
        c.auth().context("D-Bus authentication")?;
        Ok(c)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 4096 {
                bail!("D-Bus authentication line too long");
            }
            match self.sock.read(&mut b) {
                Ok(0) => bail!("connection closed during authentication"),
                Ok(_) => line.push(b[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        line.truncate(line.len() - 2);
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    fn auth(&mut self) -> Result<()> {
        let uid = unsafe { libc::geteuid() };
        let hello = format!("\0AUTH EXTERNAL {}\r\n", sasl_uid(uid));
        self.sock.write_all(hello.as_bytes())?;
        let reply = self.read_line()?;
        if !reply.starts_with("OK ") && reply != "OK" {
            bail!("server rejected EXTERNAL authentication for uid {uid}: {reply:?}");
        }
        self.sock.write_all(b"BEGIN\r\n")?;
        Ok(())
    }

    /// Sends `m` and returns its serial.
    pub fn send(&mut self, m: &Message) -> Result<u32> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let bytes = m.encode(self.serial)?;
        if debug() {
            eprintln!("dbus> #{} {}", self.serial, describe(m));
        }
        self.sock
            .write_all(&bytes)
            .context("writing to the D-Bus socket")?;
        Ok(self.serial)
    }

    /// Reads more bytes into the receive buffer (waiting at most until `deadline`).
    fn fill(&mut self, deadline: Instant) -> Result<()> {
        let mut chunk = [0u8; 8192];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("timed out waiting for a D-Bus message");
            }
            self.sock.set_read_timeout(Some(left))?;
            match self.sock.read(&mut chunk) {
                Ok(0) => bail!("D-Bus peer closed the connection"),
                Ok(n) => {
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    bail!("timed out waiting for a D-Bus message")
                }
                Err(e) => return Err(e).context("reading from the D-Bus socket"),
            }
        }
    }

    /// Receives the next message (waiting at most until `deadline`). A partial message stays
    /// buffered when the deadline passes, so a later call continues where this one stopped.
    pub fn recv(&mut self, deadline: Instant) -> Result<Message> {
        while self.rbuf.len() < 16 {
            self.fill(deadline)?;
        }
        let fixed: [u8; 16] = self.rbuf[..16].try_into().unwrap();
        let total = Message::total_len(&fixed)?;
        while self.rbuf.len() < total {
            self.fill(deadline)?;
        }
        let rest = self.rbuf.split_off(total);
        let buf = std::mem::replace(&mut self.rbuf, rest);
        let m = Message::decode(&buf)?;
        if debug() {
            eprintln!("dbus< #{} {}", m.serial, describe(&m));
        }
        Ok(m)
    }

    /// Makes sure a peer-to-peer server processes our messages. sd-bus (systemd 252) can read
    /// the first message together with "BEGIN" during authentication and then not look at it
    /// until more data arrives. So ping until a reply comes: each ping is new data that wakes
    /// the server, which then answers everything it has.
    pub fn sync_peer(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pings = Vec::new();
        loop {
            let ping = Message::method_call(None, "/", "org.freedesktop.DBus.Peer", "Ping", &[])?;
            pings.push(self.send(&ping)?);
            let wait =
                (Instant::now() + Duration::from_millis(100 << pings.len().min(5))).min(deadline);
            loop {
                match self.recv(wait) {
                    Ok(m)
                        if matches!(m.typ, METHOD_RETURN | ERROR)
                            && m.reply_serial.is_some_and(|r| pings.contains(&r)) =>
                    {
                        return Ok(());
                    }
                    Ok(m) if m.typ == SIGNAL => self.queue_signal(m),
                    Ok(_) => {}
                    Err(e) if Instant::now() >= deadline => {
                        return Err(e).context("the D-Bus peer does not answer pings")
                    }
                    Err(e) if format!("{e}").contains("timed out") => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }

    fn queue_signal(&mut self, m: Message) {
        if self.queued.len() >= 1024 {
            self.queued.pop_front();
        }
        self.queued.push_back(m);
    }

    /// Calls a method and returns the reply's values; an error reply becomes a [`DbusError`].
    pub fn call(&mut self, m: Message, timeout: Duration) -> Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        let serial = self.send(&m)?;
        loop {
            let r = self.recv(deadline).with_context(|| {
                format!(
                    "waiting for the reply to {}",
                    m.member.as_deref().unwrap_or("?")
                )
            })?;
            match r.typ {
                METHOD_RETURN if r.reply_serial == Some(serial) => return r.args(),
                ERROR if r.reply_serial == Some(serial) => {
                    let message = r
                        .args()
                        .ok()
                        .and_then(|a| a.first().and_then(|v| v.as_str().map(str::to_string)))
                        .unwrap_or_default();
                    return Err(DbusError {
                        name: r.error_name.unwrap_or_else(|| "unknown error".into()),
                        message,
                    }
                    .into());
                }
                SIGNAL => self.queue_signal(r),
                _ => {}
            }
        }
    }

    /// Waits for a signal for which `want` returns true (queued ones first).
    pub fn wait_signal(
        &mut self,
        deadline: Instant,
        mut want: impl FnMut(&Message) -> bool,
    ) -> Result<Message> {
        if let Some(i) = self.queued.iter().position(&mut want) {
            return Ok(self.queued.remove(i).unwrap());
        }
        loop {
            let m = self.recv(deadline)?;
            if m.typ == SIGNAL && want(&m) {
                return Ok(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut e = Encoder::default();
        e.put(v).unwrap();
        e.buf
    }

    #[test]
    fn basic_types() {
        assert_eq!(enc(&Value::Byte(7)), [7]);
        assert_eq!(enc(&Value::Bool(true)), [1, 0, 0, 0]);
        assert_eq!(enc(&Value::U32(0x01020304)), [4, 3, 2, 1]);
        assert_eq!(enc(&Value::I32(-1)), [0xff; 4]);
        assert_eq!(enc(&Value::U64(1)), [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            enc(&Value::I64(-2)),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(enc(&Value::str("ab")), [2, 0, 0, 0, b'a', b'b', 0]);
        assert_eq!(enc(&Value::ObjPath("/".into())), [1, 0, 0, 0, b'/', 0]);
        assert_eq!(enc(&Value::Sig("au".into())), [2, b'a', b'u', 0]);
        assert!(Encoder::default().put(&Value::str("a\0b")).is_err());
    }

    #[test]
    fn alignment_inside_containers() {
        // (yt): byte, 7 bytes padding, u64.
        let v = Value::Struct(vec![Value::Byte(1), Value::U64(2)]);
        assert_eq!(enc(&v), [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(v.signature(), "(yt)");
        // An empty array of 8-aligned elements still pads after its length.
        let v = Value::Array("(sv)".into(), vec![]);
        assert_eq!(enc(&v), [0, 0, 0, 0, 0, 0, 0, 0]);
        // au [1,2]: length 8.
        let v = Value::Array("u".into(), vec![Value::U32(1), Value::U32(2)]);
        assert_eq!(enc(&v), [8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
        // ay: no padding.
        let v = Value::Array("y".into(), vec![Value::Byte(0x0f)]);
        assert_eq!(enc(&v), [1, 0, 0, 0, 0x0f]);
        // Variant holding a u64 after a byte: signature "t" then pad to 8.
        let v = Value::Struct(vec![Value::str("x"), Value::var(Value::U64(5))]);
        assert_eq!(
            enc(&v),
            [1, 0, 0, 0, b'x', 0, 1, b't', 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
        );
        // Array of t after an odd offset: length, then padding to 8 not counted.
        let mut e = Encoder::default();
        e.put(&Value::Byte(9)).unwrap();
        e.put(&Value::Array("t".into(), vec![Value::U64(3)]))
            .unwrap();
        assert_eq!(e.buf, [9, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
        // Mismatched element types are refused.
        assert!(Encoder::default()
            .put(&Value::Array("u".into(), vec![Value::str("x")]))
            .is_err());
    }

    #[test]
    fn roundtrip() {
        let vals = vec![
            Value::str("hull-x.scope"),
            Value::str("replace"),
            Value::Array(
                "(sv)".into(),
                vec![
                    Value::Struct(vec![Value::str("Delegate"), Value::var(Value::Bool(true))]),
                    Value::Struct(vec![
                        Value::str("PIDs"),
                        Value::var(Value::Array("u".into(), vec![Value::U32(42)])),
                    ]),
                    Value::Struct(vec![
                        Value::str("MemoryMax"),
                        Value::var(Value::U64(1 << 30)),
                    ]),
                    Value::Struct(vec![
                        Value::str("AllowedCPUs"),
                        Value::var(Value::Array("y".into(), vec![Value::Byte(3)])),
                    ]),
                ],
            ),
            Value::Array("(sa(sv))".into(), vec![]),
            Value::Array(
                "{sv}".into(),
                vec![Value::DictEntry(
                    Box::new(Value::str("k")),
                    Box::new(Value::var(Value::I16(-3))),
                )],
            ),
            Value::F64(1.5),
            Value::Sig("a(sv)".into()),
        ];
        let sig: String = vals.iter().map(Value::signature).collect();
        assert_eq!(sig, "ssa(sv)a(sa(sv))a{sv}dg");
        let mut e = Encoder::default();
        for v in &vals {
            e.put(v).unwrap();
        }
        let mut d = Decoder::new(&e.buf, 0);
        assert_eq!(d.read_all(&sig).unwrap(), vals);
        assert_eq!(d.pos, e.buf.len());
    }

    #[test]
    fn message_bytes() {
        // A Hello call as every D-Bus library sends it (serial 1).
        let m = Message::method_call(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            &[],
        )
        .unwrap();
        let b = m.encode(1).unwrap();
        let mut want: Vec<u8> = vec![b'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0];
        let mut fields = Vec::new();
        let mut field = |code: u8, sig: u8, s: &str| {
            while !fields.len().is_multiple_of(8) {
                fields.push(0);
            }
            fields.extend_from_slice(&[code, 1, sig, 0]);
            fields.extend_from_slice(&(s.len() as u32).to_le_bytes());
            fields.extend_from_slice(s.as_bytes());
            fields.push(0);
        };
        field(1, b'o', "/org/freedesktop/DBus");
        field(2, b's', "org.freedesktop.DBus");
        field(3, b's', "Hello");
        field(6, b's', "org.freedesktop.DBus");
        want.extend_from_slice(&(fields.len() as u32).to_le_bytes());
        want.extend_from_slice(&fields);
        while !want.len().is_multiple_of(8) {
            want.push(0);
        }
        assert_eq!(b, want);
        // The well-known first bytes of a Hello: header fields are 0x6d bytes, 128 in all.
        assert_eq!(
            &b[..16],
            b"l\x01\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00\x6d\x00\x00\x00"
        );
        assert_eq!(b.len(), 128);
        let back = Message::decode(&b).unwrap();
        assert_eq!(back.member.as_deref(), Some("Hello"));
        assert_eq!(back.serial, 1);
        assert_eq!(back.destination.as_deref(), Some("org.freedesktop.DBus"));
    }

    #[test]
    fn known_signal_bytes() {
        // A JobRemoved signal (u o s s) as sd-bus marshals it: built by hand from the spec.
        let mut body = Vec::new();
        body.extend_from_slice(&7u32.to_le_bytes());
        let path = "/org/freedesktop/systemd1/job/7";
        body.extend_from_slice(&(path.len() as u32).to_le_bytes());
        body.extend_from_slice(path.as_bytes());
        body.push(0);
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        for s in ["a.scope", "done"] {
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            body.extend_from_slice(&(s.len() as u32).to_le_bytes());
            body.extend_from_slice(s.as_bytes());
            body.push(0);
        }
        let m = Message {
            typ: SIGNAL,
            path: Some("/org/freedesktop/systemd1".into()),
            interface: Some("org.freedesktop.systemd1.Manager".into()),
            member: Some("JobRemoved".into()),
            signature: "uoss".into(),
            body: body.clone(),
            ..Default::default()
        };
        let bytes = m.encode(9).unwrap();
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(back.body, body);
        assert_eq!(
            back.args().unwrap(),
            vec![
                Value::U32(7),
                Value::ObjPath(path.into()),
                Value::str("a.scope"),
                Value::str("done")
            ]
        );
    }

    #[test]
    fn bad_input() {
        assert!(Decoder::new(&[5, 0, 0, 0, b'a'], 0).read(b"s").is_err());
        assert!(Decoder::new(&[2, 0, 0, 0], 0).read(b"b").is_err());
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0x7f], 0)
            .read(b"au")
            .is_err());
        assert!(Decoder::new(&[1, b'z', 0], 0).read(b"v").is_err());
        let mut fixed = [0u8; 16];
        fixed[0] = b'B';
        assert!(Message::total_len(&fixed).is_err());
        assert!(Message::decode(&[b'l', 1, 0, 1]).is_err());
    }

    #[test]
    fn sasl_identity() {
        assert_eq!(sasl_uid(0), "30");
        assert_eq!(sasl_uid(1000), "31303030");
    }

    /// A fake peer on a socketpair: authenticates, answers one call with an error and one with
    /// a reply, sending a signal in between.
    #[test]
    fn call_and_signal_with_fake_peer() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let peer = std::thread::spawn(move || {
            let mut auth = Vec::new();
            let mut byte = [0u8; 1];
            while !auth.ends_with(b"\r\n") {
                b.read_exact(&mut byte).unwrap();
                auth.push(byte[0]);
            }
            assert!(auth.starts_with(b"\0AUTH EXTERNAL "));
            b.write_all(b"OK 0123456789abcdef\r\n").unwrap();
            let mut begin = [0u8; 7];
            b.read_exact(&mut begin).unwrap();
            assert_eq!(&begin, b"BEGIN\r\n");
            let read_msg = |b: &mut UnixStream| {
                let mut fixed = [0u8; 16];
                b.read_exact(&mut fixed).unwrap();
                let mut buf = vec![0u8; Message::total_len(&fixed).unwrap()];
                buf[..16].copy_from_slice(&fixed);
                b.read_exact(&mut buf[16..]).unwrap();
                Message::decode(&buf).unwrap()
            };
            // 1st call: error.
            let m = read_msg(&mut b);
            assert_eq!(m.member.as_deref(), Some("StopUnit"));
            assert_eq!(m.args().unwrap()[0], Value::str("x.scope"));
            let mut e = Encoder::default();
            e.put(&Value::str("Unit x.scope not loaded.")).unwrap();
            let err = Message {
                typ: ERROR,
                error_name: Some("org.freedesktop.systemd1.NoSuchUnit".into()),
                reply_serial: Some(m.serial),
                signature: "s".into(),
                body: e.buf,
                ..Default::default()
            };
            b.write_all(&err.encode(100).unwrap()).unwrap();
            // 2nd call: a signal first, then the reply.
            let m = read_msg(&mut b);
            let mut e = Encoder::default();
            for v in [
                Value::U32(3),
                Value::ObjPath("/job/3".into()),
                Value::str("x.scope"),
                Value::str("done"),
            ] {
                e.put(&v).unwrap();
            }
            let sig = Message {
                typ: SIGNAL,
                path: Some("/org/freedesktop/systemd1".into()),
                interface: Some("org.freedesktop.systemd1.Manager".into()),
                member: Some("JobRemoved".into()),
                signature: "uoss".into(),
                body: e.buf,
                ..Default::default()
            };
            b.write_all(&sig.encode(101).unwrap()).unwrap();
            let mut e = Encoder::default();
            e.put(&Value::ObjPath("/job/3".into())).unwrap();
            let ret = Message {
                typ: METHOD_RETURN,
                reply_serial: Some(m.serial),
                signature: "o".into(),
                body: e.buf,
                ..Default::default()
            };
            b.write_all(&ret.encode(102).unwrap()).unwrap();
        });
        let t = Duration::from_secs(5);
        let mut c = Conn::from_stream(a, t).unwrap();
        let call = |name: &str| {
            Message::method_call(
                Some("org.freedesktop.systemd1"),
                "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager",
                name,
                &[Value::str("x.scope"), Value::str("replace")],
            )
            .unwrap()
        };
        let err = c.call(call("StopUnit"), t).unwrap_err();
        assert_eq!(
            error_name(&err),
            Some("org.freedesktop.systemd1.NoSuchUnit")
        );
        assert!(format!("{err:#}").contains("Unit x.scope not loaded."));
        let r = c.call(call("StartUnit"), t).unwrap();
        assert_eq!(r, vec![Value::ObjPath("/job/3".into())]);
        let s = c
            .wait_signal(Instant::now() + t, |m| {
                m.member.as_deref() == Some("JobRemoved")
            })
            .unwrap();
        assert_eq!(s.args().unwrap()[3], Value::str("done"));
        peer.join().unwrap();
        // Nothing more comes: a wait times out.
        let e = c
            .wait_signal(Instant::now() + Duration::from_millis(50), |_| true)
            .unwrap_err();
        assert!(format!("{e:#}").contains("closed") || format!("{e:#}").contains("timed out"));
    }

    fn fake_auth(b: &mut UnixStream) {
        let mut auth = Vec::new();
        let mut byte = [0u8; 1];
        while !auth.ends_with(b"\r\n") {
            b.read_exact(&mut byte).unwrap();
            auth.push(byte[0]);
        }
        b.write_all(b"OK 0123456789abcdef\r\n").unwrap();
        let mut begin = [0u8; 7];
        b.read_exact(&mut begin).unwrap();
    }

    fn fake_read(b: &mut UnixStream) -> Message {
        let mut fixed = [0u8; 16];
        b.read_exact(&mut fixed).unwrap();
        let mut buf = vec![0u8; Message::total_len(&fixed).unwrap()];
        buf[..16].copy_from_slice(&fixed);
        b.read_exact(&mut buf[16..]).unwrap();
        Message::decode(&buf).unwrap()
    }

    /// A peer that sits on the first ping (like sd-bus with data buffered during auth) is
    /// woken by the next one; a message split across a timeout is not lost.
    #[test]
    fn sync_peer_and_partial_messages() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let peer = std::thread::spawn(move || {
            fake_auth(&mut b);
            let first = fake_read(&mut b);
            assert_eq!(first.member.as_deref(), Some("Ping"));
            let second = fake_read(&mut b);
            for p in [first, second] {
                let r = Message {
                    typ: METHOD_RETURN,
                    reply_serial: Some(p.serial),
                    ..Default::default()
                };
                b.write_all(&r.encode(50 + p.serial).unwrap()).unwrap();
            }
            // Half a signal, a pause, then the rest.
            let sig = Message {
                typ: SIGNAL,
                path: Some("/x".into()),
                interface: Some("a.b".into()),
                member: Some("Sig".into()),
                ..Default::default()
            }
            .encode(99)
            .unwrap();
            b.write_all(&sig[..20]).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            b.write_all(&sig[20..]).unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        let t = Duration::from_secs(5);
        let mut c = Conn::from_stream(a, t).unwrap();
        c.sync_peer(t).unwrap();
        let early = Instant::now() + Duration::from_millis(100);
        assert!(c.wait_signal(early, |_| true).is_err());
        let s = c.wait_signal(Instant::now() + t, |_| true).unwrap();
        assert_eq!(s.member.as_deref(), Some("Sig"));
        peer.join().unwrap();
    }

    #[test]
    fn malformed_signatures_are_refused() {
        assert!(single_type_len(b"()").is_err());
        assert!(single_type_len(b"a{s}").is_err());
        assert!(single_type_len(b"a{sss}").is_err());
        assert_eq!(single_type_len(b"a{sv}").unwrap(), 5);
        assert_eq!(single_type_len(b"(sa(sv))").unwrap(), 8);
    }
}
