//! The wire format: marshalling values into little-endian bytes and reading them back, with
//! every length taken from the wire checked against the bytes that are actually there.

use super::value::{alignment, single_type_len, Value};
use anyhow::{anyhow, bail, Context, Result};

/// Appends marshalled values to a buffer. Offsets are relative to the buffer start, which must
/// be the start of the message (or an 8-aligned body).
#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub(super) fn pad(&mut self, a: usize) {
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
    /// How many more values may be read (see [`Decoder::read`]).
    values_left: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Decoder<'a> {
        Decoder {
            buf,
            pos,
            depth: 0,
            values_left: buf.len().saturating_sub(pos) + 64,
        }
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
        // A value takes dozens of bytes in memory however few it takes on the wire (a struct
        // of structs takes none of its own): a crafted array of deeply nested structs would
        // become hundreds of times its size. No real message has more values than bytes.
        self.values_left = self
            .values_left
            .checked_sub(1)
            .context("D-Bus message holds more values than bytes")?;
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
