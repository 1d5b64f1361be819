use super::conn::*;
use super::marshal::*;
use super::message::*;
use super::value::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

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

/// Unit properties as the systemd driver sends them with StartTransientUnit.
pub(super) fn start_properties() -> Value {
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
    )
}

#[test]
fn roundtrip() {
    let vals = vec![
        Value::str("hull-x.scope"),
        Value::str("replace"),
        start_properties(),
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

pub(super) fn fake_auth(b: &mut UnixStream) {
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

/// Any client on the system bus may send us signals: while a call waits for its reply, the
/// ones it queues stay within a fixed number of bytes, newest kept.
#[test]
fn queued_signals_are_bounded() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let peer = std::thread::spawn(move || {
        fake_auth(&mut b);
        let call = fake_read(&mut b);
        for i in 0..40 {
            let sig = Message {
                typ: SIGNAL,
                path: Some("/x".into()),
                interface: Some("a.b".into()),
                member: Some(format!("S{i}")),
                signature: "ay".into(),
                body: [&100_000u32.to_le_bytes()[..], &[7u8; 100_000]].concat(),
                ..Default::default()
            };
            b.write_all(&sig.encode(10 + i).unwrap()).unwrap();
        }
        let ret = Message {
            typ: METHOD_RETURN,
            reply_serial: Some(call.serial),
            ..Default::default()
        };
        b.write_all(&ret.encode(99).unwrap()).unwrap();
    });
    let t = Duration::from_secs(5);
    let mut c = Conn::from_stream(a, t).unwrap();
    let call = Message::method_call(None, "/", "a.b", "C", &[]).unwrap();
    let (r, peak) = crate::util::fuzz::peak_alloc(|| c.call(call, t));
    r.unwrap();
    peer.join().unwrap();
    assert!(peak < 2 << 20, "{peak} bytes held for 4 MB of signals");
    let newest = |m: &Message| m.member.as_deref() == Some("S39");
    assert!(c.wait_signal(Instant::now() + t, newest).is_ok());
}

/// A bus daemon's side of one connection: the AUTH line must carry `uid`; Hello is answered.
fn fake_bus(mut b: UnixStream, uid: u32) {
    let mut auth = Vec::new();
    let mut byte = [0u8; 1];
    while !auth.ends_with(b"\r\n") {
        b.read_exact(&mut byte).unwrap();
        auth.push(byte[0]);
    }
    let want = format!("\0AUTH EXTERNAL {}\r\n", sasl_uid(uid));
    assert_eq!(String::from_utf8_lossy(&auth), want);
    b.write_all(b"OK 0123456789abcdef\r\n").unwrap();
    let mut begin = [0u8; 7];
    b.read_exact(&mut begin).unwrap();
    assert_eq!(&begin, b"BEGIN\r\n");
    let hello = fake_read(&mut b);
    assert_eq!(hello.member.as_deref(), Some("Hello"));
    let mut e = Encoder::default();
    e.put(&Value::str(":1.7")).unwrap();
    let ret = Message {
        typ: METHOD_RETURN,
        reply_serial: Some(hello.serial),
        signature: "s".into(),
        body: e.buf,
        ..Default::default()
    };
    b.write_all(&ret.encode(1).unwrap()).unwrap();
}

/// The user's bus: EXTERNAL as the given uid (inside a user namespace not ours), then Hello;
/// over a socket path and over an abstract socket.
#[test]
fn user_bus_auth_as_a_given_uid() {
    use std::os::linux::net::SocketAddrExt;
    let t = Duration::from_secs(5);
    let dir = std::env::temp_dir().join(format!("hull-dbus-user-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bus");
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || fake_bus(l.accept().unwrap().0, 4242));
    let r = Conn::connect_bus_as(&path, 4242, t);
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    r.unwrap();

    let name = format!("hull-dbus-user-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let server = std::thread::spawn(move || fake_bus(l.accept().unwrap().0, 77));
    Conn::connect_abstract(name.as_bytes(), 77, t).unwrap();
    server.join().unwrap();
    // Nobody listening: the error names the socket.
    let Err(e) = Conn::connect_bus_as(&dir.join("none"), 1, t) else {
        panic!("connected to a socket nobody listens on");
    };
    assert!(format!("{e:#}").contains("none"), "{e:#}");
}
