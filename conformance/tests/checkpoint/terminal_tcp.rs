//! An established TCP connection (in a network namespace joined by path) and a container
//! with a terminal (`--shell-job`, a new console socket on restore).

use super::*;
use serde_json::json;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A named network namespace (`ip netns add`) with loopback up, deleted on drop.
struct NetNs(String);

impl NetNs {
    fn new(name: &str) -> NetNs {
        let ip = |args: &[&str]| {
            let st = std::process::Command::new("ip")
                .args(args)
                .status()
                .expect("run ip");
            assert!(st.success(), "ip {args:?}: {st}");
        };
        ip(&["netns", "add", name]);
        let ns = NetNs(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"]);
        ns
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }

    /// CRIU locks the network of the dumped tree with an iptables chain "CRIU" and, for a
    /// namespace it did not create (external), leaves it there after the restore (runc 1.3.6
    /// and hull alike): whoever owns the namespace removes it, as this does.
    fn drop_criu_lock(&self) {
        let ipt = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(["netns", "exec", &self.0, "iptables"])
                .args(args)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        for chain in ["INPUT", "OUTPUT"] {
            while ipt(&["-D", chain, "-j", "CRIU"]) {}
        }
        ipt(&["-F", "CRIU"]);
        ipt(&["-X", "CRIU"]);
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// A server and a client in the container talk over loopback; the connection survives.
/// As with runc, the network namespace is one the container joins by path (as podman,
/// containerd and Kubernetes set it up): CRIU treats it as external and restores the
/// connection into it. A namespace of the container's own is restored empty (runc and hull
/// leave the network to whoever manages it), where a loopback connection cannot be restored.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn tcp_established_connection_survives() {
    let rt = Runtime::new();
    let id = unique_id("crt");
    let netns = NetNs::new(&id);
    // The server's stdin must stay open: busybox nc ends the connection at EOF on stdin.
    let script = "sleep 100000 | nc -l -p 5555 > /recv & sleep 0.5; \
        mkfifo /tick; exec 3<>/tick; \
        i=0; while :; do i=$((i+1)); echo $i >> /count; echo $i; read -t 0.1 x <&3; done \
        | nc 127.0.0.1 5555";
    let mut b = counting_bundle(&id, script);
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(netns.path());
        }
    }
    b.save();
    let (c, _pipes) = start_counter(&rt, &b, &id);
    let received = |b: &Bundle| {
        last_number(&std::fs::read_to_string(b.rootfs().join("recv")).unwrap_or_default())
    };
    assert!(
        poll_until(t(), || received(&b).is_some_and(|n| n >= 3)),
        "nothing received over TCP"
    );
    let images = b.dir.join("images");
    rt.run_ok(&[
        "checkpoint",
        "--tcp-established",
        "--image-path",
        images.to_str().unwrap(),
        &id,
    ]);
    let stopped_at = frozen_count(&b);
    let _restored = restore_detached(&rt, &b, &id, &images, &["--tcp-established"]);
    netns.drop_criu_lock();
    // The restored tasks run on (the counter moves on from where it stopped) ...
    wait_count(&b, "restored tasks run", |n| n > stopped_at);
    // ... but on this kernel the restored loopback connection is closed right after the
    // restore (TIME-WAIT in the namespace, nothing more received), with runc 1.3.6 exactly as
    // with hull (README, "Not done yet"). Where it carries on, the client keeps sending.
    let carried_on = poll_until(Duration::from_secs(3), || {
        received(&b).is_some_and(|n| n > stopped_at + 3)
    });
    eprintln!(
        "connection after restore carried on: {carried_on} (last received {:?})",
        received(&b)
    );
    if carried_on {
        check_normal_container(&c, &b);
    }
}

// ---------------------------------------------------------------------------
// terminal
// ---------------------------------------------------------------------------

fn recv_fd(s: &UnixStream) -> OwnedFd {
    let mut buf = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null(), "no fd received on the console socket");
        let fd: RawFd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
        OwnedFd::from_raw_fd(fd)
    }
}

/// Runs `f` (a runtime command given `--console-socket <sock>`) and returns the pty master
/// it sent.
fn with_console<T>(dir: &Path, f: impl FnOnce(&str) -> T) -> (T, OwnedFd) {
    let sock = dir.join(format!("console-{}.sock", unique_id("s")));
    let l = UnixListener::bind(&sock).expect("bind console socket");
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            let (conn, _) = l.accept().expect("accept on the console socket");
            conn.set_read_timeout(Some(t())).unwrap();
            recv_fd(&conn)
        });
        let r = f(sock.to_str().unwrap());
        (r, h.join().expect("console socket thread"))
    })
}

/// Reads the pty until a "tick-N" line with N > `above` shows up; returns N.
fn tick_above(master: &OwnedFd, above: u64) -> Option<u64> {
    let mut f = unsafe { File::from_raw_fd(libc::dup(master.as_raw_fd())) };
    unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let deadline = Instant::now() + t();
    let mut text = String::new();
    while Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(n) if n > 0 => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
        let best = text
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .filter_map(|w| w.strip_prefix("tick-")?.parse::<u64>().ok())
            .max();
        if best.is_some_and(|n| n > above) {
            return best;
        }
    }
    None
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn terminal_container_with_shell_job() {
    let rt = Runtime::new();
    let id = unique_id("crtty");
    let script = "mkfifo /tick; exec 3<>/tick; \
        i=0; while :; do i=$((i+1)); echo $i >> /count; echo tick-$i; read -t 0.1 x <&3; done";
    let mut b = counting_bundle(&id, script);
    b.config["process"]["terminal"] = json!(true);
    b.save();
    let c = Container::with_id(&rt, &b, &id);
    let (o, master) = with_console(&b.dir, |sock| {
        rt.run(&[
            "create",
            "--bundle",
            b.dir_str(),
            "--console-socket",
            sock,
            &id,
        ])
    });
    assert_ok(&o, "create with a terminal");
    c.start();
    assert!(
        tick_above(&master, 2).is_some(),
        "no output on the terminal"
    );
    let images = b.dir.join("images");
    rt.run_ok(&[
        "checkpoint",
        "--shell-job",
        "--image-path",
        images.to_str().unwrap(),
        &id,
    ]);
    let stopped_at = frozen_count(&b);
    drop(master);
    let (o, master2) = with_console(&b.dir, |sock| {
        rt.run(&[
            "restore",
            "-d",
            "--shell-job",
            "--bundle",
            b.dir_str(),
            "--console-socket",
            sock,
            "--image-path",
            images.to_str().unwrap(),
            &id,
        ])
    });
    assert_ok(&o, "restore with a terminal");
    let tick = tick_above(&master2, stopped_at)
        .expect("the restored process does not write to the new terminal");
    assert!(tick < stopped_at + 50, "restarted? {stopped_at} -> {tick}");
    check_normal_container(&c, &b);
}
