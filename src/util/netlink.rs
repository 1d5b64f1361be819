//! A minimal rtnetlink client (NETLINK_ROUTE): requests built by hand, replies read until the
//! kernel's acknowledgement or the end of a dump. Enough for moving a link between network
//! namespaces, renaming it, setting it up or down and copying its addresses; no crate needed.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_EXCL: u16 = 0x200;
const HEADER_LEN: usize = 16;

/// 4-byte alignment of netlink messages and attributes.
fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A request: a fixed family header (ifinfomsg, ifaddrmsg) followed by attributes.
pub struct Request {
    kind: u16,
    flags: u16,
    body: Vec<u8>,
}

impl Request {
    pub fn new(kind: u16, flags: u16, header: &[u8]) -> Request {
        Request {
            kind,
            flags,
            body: header.to_vec(),
        }
    }

    /// Appends attribute `kind` with `data`.
    pub fn attr(mut self, kind: u16, data: &[u8]) -> Request {
        let len = 4 + data.len();
        self.body.extend_from_slice(&(len as u16).to_ne_bytes());
        self.body.extend_from_slice(&kind.to_ne_bytes());
        self.body.extend_from_slice(data);
        self.body.resize(align(self.body.len()), 0);
        self
    }

    fn encode(&self, seq: u32) -> Vec<u8> {
        let mut m = Vec::with_capacity(HEADER_LEN + self.body.len());
        m.extend_from_slice(&((HEADER_LEN + self.body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&self.kind.to_ne_bytes());
        m.extend_from_slice(&(self.flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&self.body);
        m
    }
}

/// A NETLINK_ROUTE socket, bound in the network namespace it was created in.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    pub fn open() -> Result<Socket> {
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("netlink socket");
        }
        Ok(Socket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            seq: 0,
        })
    }

    /// Sends `req` and returns the payloads of the replies (for a dump, every entry) once the
    /// kernel acknowledged it; a kernel error becomes an io::Error with its errno.
    pub fn request(&mut self, req: &Request) -> Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let msg = req.encode(self.seq);
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("netlink send");
        }
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e).context("netlink recv");
            }
            if collect(&buf[..n as usize], self.seq, &mut replies)? {
                return Ok(replies);
            }
        }
    }
}

/// Splits one datagram into messages, keeping the payloads of those answering request `seq`;
/// true once the exchange is complete. Bounds-checked throughout: a short or lying length
/// is an error, never a panic.
fn collect(mut data: &[u8], seq: u32, replies: &mut Vec<Vec<u8>>) -> Result<bool> {
    while data.len() >= HEADER_LEN {
        let len = u32::from_ne_bytes(data[0..4].try_into()?) as usize;
        let kind = u16::from_ne_bytes(data[4..6].try_into()?);
        let msg_seq = u32::from_ne_bytes(data[8..12].try_into()?);
        if len < HEADER_LEN || len > data.len() {
            bail!("netlink: truncated message");
        }
        let payload = &data[HEADER_LEN..len];
        if msg_seq == seq {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let errno = i32::from_ne_bytes(
                        payload
                            .get(0..4)
                            .context("netlink: short error")?
                            .try_into()?,
                    );
                    if errno == 0 {
                        return Ok(true);
                    }
                    // saturating: a reply saying i32::MIN must not overflow the negation
                    return Err(std::io::Error::from_raw_os_error(errno.saturating_neg()).into());
                }
                _ => replies.push(payload.to_vec()),
            }
        }
        data = &data[align(len).min(data.len())..];
    }
    Ok(false)
}

/// The attributes after a fixed header of `skip` bytes: (type, data) pairs.
pub fn attrs(payload: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut data = payload.get(skip..).unwrap_or(&[]);
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, &data[4..len]));
        data = &data[align(len).min(data.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses_attributes() {
        let r = Request::new(RTM_GETLINK, 0, &[0u8; 16]).attr(3, b"eth0\0");
        let m = r.encode(7);
        assert_eq!(m.len(), 16 + 16 + 12);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        let a = attrs(&m[16..], 16);
        assert_eq!(a, vec![(3u16, &b"eth0\0"[..])]);
    }

    /// xorshift64*: a dependency-free source of arbitrary bytes for the property test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Random bytes, with length fields often made plausible so parsing gets past them.
        fn datagram(&mut self) -> Vec<u8> {
            let len = (self.next() % 200) as usize;
            let mut v: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
            let mut at = 0;
            while at + 16 <= v.len() && !self.next().is_multiple_of(4) {
                let n = (16 + self.next() % 48) as u32;
                v[at..at + 4].copy_from_slice(&n.to_ne_bytes());
                v[at + 8..at + 12].copy_from_slice(&7u32.to_ne_bytes());
                v[at + 4..at + 6].copy_from_slice(&((self.next() % 4) as u16).to_ne_bytes());
                at += align(n as usize);
            }
            v
        }
    }

    /// Property: over arbitrary datagrams (replies come from the kernel, but a parser of
    /// binary input must hold on any), neither parser panics, every reply is a slice of the
    /// input past a header, and every attribute lies inside its payload.
    #[test]
    fn parsers_hold_on_arbitrary_bytes() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..50_000 {
            let data = rng.datagram();
            let mut replies = Vec::new();
            let _ = collect(&data, 7, &mut replies);
            for r in &replies {
                assert!(r.len() + HEADER_LEN <= data.len());
                let skip = (rng.next() % 24) as usize;
                for (_, a) in attrs(r, skip) {
                    assert!(a.len() + 4 + skip <= r.len());
                }
            }
            for (_, a) in attrs(&data, 0) {
                assert!(a.len() + 4 <= data.len());
            }
        }
        // a lying length is an error, an error reply of i32::MIN is not a panic
        let mut m = 17u32.to_ne_bytes().to_vec();
        m.extend_from_slice(&[0; 12]);
        assert!(collect(&m, 0, &mut Vec::new()).is_err());
        let mut m = 20u32.to_ne_bytes().to_vec();
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&i32::MIN.to_ne_bytes());
        assert!(collect(&m, 0, &mut Vec::new()).is_err());
    }
}
