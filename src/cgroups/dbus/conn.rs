//! The connection: the Unix socket, SASL EXTERNAL authentication, sending calls and waiting
//! for their replies while queueing the signals that arrive meanwhile.

use super::message::{DbusError, Message, ERROR, METHOD_CALL, METHOD_RETURN, SIGNAL};
use super::value::Value;
use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// At most this many signals wait in the queue...
const MAX_QUEUED: usize = 1024;
/// ...holding at most this many bytes (systemd's signals are a few hundred bytes each).
const MAX_QUEUED_BYTES: usize = 1 << 20;

/// Roughly the memory a queued message holds.
fn footprint(m: &Message) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    std::mem::size_of::<Message>()
        + m.body.len()
        + m.signature.len()
        + text(&m.path)
        + text(&m.interface)
        + text(&m.member)
        + text(&m.error_name)
        + text(&m.destination)
        + text(&m.sender)
}

/// A connection to a bus or a peer.
pub struct Conn {
    sock: UnixStream,
    serial: u32,
    /// Signals received while waiting for a reply.
    queued: VecDeque<Message>,
    /// Bytes held by `queued` (see [`footprint`]).
    queued_bytes: usize,
    /// Bytes received but not yet parsed into a message.
    rbuf: Vec<u8>,
}

impl Conn {
    /// Connects to the socket at `path` and authenticates. With `hello`, registers on the bus
    /// (required by a bus daemon, not by a peer such as systemd's private socket).
    pub fn connect(path: &Path, hello: bool, timeout: Duration) -> Result<Conn> {
        let sock = UnixStream::connect(path)
            .with_context(|| format!("connecting to D-Bus socket {}", path.display()))?;
        // SAFETY: geteuid cannot fail.
        let mut c = Conn::from_stream_as(sock, timeout, unsafe { libc::geteuid() })?;
        if !hello {
            c.sync_peer(timeout)?;
            return Ok(c);
        }
        c.hello(timeout)?;
        Ok(c)
    }

    /// Connects to a bus daemon listening on an abstract unix socket, authenticating as `uid`.
    pub fn connect_abstract(name: &[u8], uid: u32, timeout: Duration) -> Result<Conn> {
        use std::os::linux::net::SocketAddrExt;
        let shown = String::from_utf8_lossy(name).into_owned();
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)
            .with_context(|| format!("bad abstract D-Bus socket name {shown:?}"))?;
        let sock = UnixStream::connect_addr(&addr)
            .with_context(|| format!("connecting to abstract D-Bus socket @{shown}"))?;
        let mut c = Conn::from_stream_as(sock, timeout, uid)?;
        c.hello(timeout)?;
        Ok(c)
    }

    /// Connects to a bus daemon at `path`, authenticating as `uid` (inside a user namespace
    /// the uid the daemon sees us as, not ours).
    pub fn connect_bus_as(path: &Path, uid: u32, timeout: Duration) -> Result<Conn> {
        let sock = UnixStream::connect(path)
            .with_context(|| format!("connecting to D-Bus socket {}", path.display()))?;
        let mut c = Conn::from_stream_as(sock, timeout, uid)?;
        c.hello(timeout)?;
        Ok(c)
    }

    /// Registers on the bus (a bus daemon answers nothing else before it).
    fn hello(&mut self, timeout: Duration) -> Result<()> {
        let m = Message::method_call(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            &[],
        )?;
        self.call(m, timeout).context("D-Bus Hello")?;
        Ok(())
    }

    /// Authenticates on an already connected stream as our effective uid.
    pub fn from_stream(sock: UnixStream, timeout: Duration) -> Result<Conn> {
        // SAFETY: geteuid cannot fail.
        Conn::from_stream_as(sock, timeout, unsafe { libc::geteuid() })
    }

    /// Authenticates on an already connected stream as `uid`.
    pub fn from_stream_as(sock: UnixStream, timeout: Duration, uid: u32) -> Result<Conn> {
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        let mut c = Conn {
            sock,
            serial: 0,
            queued: VecDeque::new(),
            queued_bytes: 0,
            rbuf: Vec::new(),
        };
        c.auth(uid).context("D-Bus authentication")?;
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

    fn auth(&mut self, uid: u32) -> Result<()> {
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

    /// Keeps a signal for [`Conn::wait_signal`]. On the system bus any client may send us
    /// signals, so the queue is bounded in count and in bytes, oldest dropped first.
    fn queue_signal(&mut self, m: Message) {
        let size = footprint(&m);
        while !self.queued.is_empty()
            && (self.queued.len() >= MAX_QUEUED || self.queued_bytes + size > MAX_QUEUED_BYTES)
        {
            if let Some(old) = self.queued.pop_front() {
                self.queued_bytes -= footprint(&old);
            }
        }
        if size <= MAX_QUEUED_BYTES {
            self.queued_bytes += size;
            self.queued.push_back(m);
        }
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
            let m = self.queued.remove(i).unwrap();
            self.queued_bytes -= footprint(&m);
            return Ok(m);
        }
        loop {
            let m = self.recv(deadline)?;
            if m.typ == SIGNAL && want(&m) {
                return Ok(m);
            }
        }
    }
}
