//! `linux.netDevices`: host network interfaces moved into the container's network namespace
//! by the runtime (runtime-spec 1.3): renamed to `name` when given, brought up, and keeping
//! their permanent global addresses (the kernel flushes addresses on a namespace move, so they
//! are read before and added back inside). The parent does it while the init waits, right
//! after the init's network namespace exists. Per the spec the runtime does not move devices
//! back: when the namespace goes away the kernel returns physical devices to the host and
//! destroys virtual ones.

use crate::util::netlink::{self, Request, Socket, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Linux, LinuxNamespaceType, LinuxNetDevice};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::AsRawFd;

const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFNAMSIZ: usize = 16;

/// The devices a config asks for, when it asks for any.
pub fn requested(linux: Option<&Linux>) -> Option<&HashMap<String, LinuxNetDevice>> {
    linux
        .and_then(|l| l.net_devices().as_ref())
        .filter(|d| !d.is_empty())
}

/// The name a device gets inside the container.
fn target_name<'a>(host: &'a str, dev: &'a LinuxNetDevice) -> &'a str {
    dev.name()
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host)
}

/// The kernel's rules for an interface name (dev_valid_name).
fn check_name(name: &str, what: &str) -> Result<()> {
    if name.is_empty()
        || name.len() >= IFNAMSIZ
        || name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.chars().any(char::is_whitespace)
    {
        bail!("linux.netDevices: invalid {what} network device name {name:?}");
    }
    Ok(())
}

/// Everything that can be checked before anything exists: a network namespace to move into,
/// valid and distinct names, and host devices that exist.
pub fn check(linux: &Linux) -> Result<()> {
    let Some(devices) = requested(Some(linux)) else {
        return Ok(());
    };
    let netns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Network);
    if !netns {
        bail!("linux.netDevices: unable to move network devices without a network namespace");
    }
    let mut targets = HashSet::new();
    for (host, dev) in devices {
        check_name(host, "host")?;
        let target = target_name(host, dev);
        check_name(target, "container")?;
        if !targets.insert(target) {
            bail!("linux.netDevices: more than one device is named {target:?} in the container");
        }
        host_index(host)?;
    }
    Ok(())
}

fn host_index(name: &str) -> Result<i32> {
    let c = std::ffi::CString::new(name)?;
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => bail!("linux.netDevices: network device {name:?} not found on the host"),
        i => Ok(i as i32),
    }
}

/// struct ifinfomsg with the index, flags and the mask of flags to change.
fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut h = vec![0u8; 4];
    h.extend_from_slice(&index.to_ne_bytes());
    h.extend_from_slice(&flags.to_ne_bytes());
    h.extend_from_slice(&change.to_ne_bytes());
    h
}

fn set_up(sock: &mut Socket, index: i32, up: bool) -> Result<()> {
    let flags = if up { libc::IFF_UP as u32 } else { 0 };
    let req = Request::new(
        netlink::RTM_NEWLINK,
        0,
        &ifinfomsg(index, flags, libc::IFF_UP as u32),
    );
    sock.request(&req).map(|_| ())
}

/// An address as the kernel reported it, to be added again on the moved device.
struct Address {
    header: [u8; 8],
    attrs: Vec<(u16, Vec<u8>)>,
}

/// The device's permanent addresses of global scope (what the spec says to preserve).
fn addresses(sock: &mut Socket, index: i32) -> Result<Vec<Address>> {
    let req = Request::new(netlink::RTM_GETADDR, NLM_F_DUMP, &[0u8; 8]);
    let mut out = Vec::new();
    for msg in sock.request(&req)? {
        let Some(header) = msg.get(0..8) else {
            continue;
        };
        let owner = i32::from_ne_bytes(header[4..8].try_into()?);
        let attrs = netlink::attrs(&msg, 8);
        let flags = attrs
            .iter()
            .find(|(k, _)| *k == IFA_FLAGS)
            .and_then(|(_, v)| v.get(0..4))
            .map(|v| u32::from_ne_bytes(v.try_into().unwrap_or_default()))
            .unwrap_or(header[2] as u32);
        if owner != index || header[3] != RT_SCOPE_UNIVERSE || flags & IFA_F_PERMANENT == 0 {
            continue;
        }
        out.push(Address {
            header: header.try_into()?,
            attrs: attrs
                .into_iter()
                .filter(|(k, _)| matches!(*k, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST))
                .map(|(k, v)| (k, v.to_vec()))
                .collect(),
        });
    }
    Ok(out)
}

fn add_address(sock: &mut Socket, index: i32, a: &Address) -> Result<()> {
    let mut header = a.header;
    header[2] = 0;
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut req = Request::new(netlink::RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &header);
    for (k, v) in &a.attrs {
        req = req.attr(*k, v);
    }
    sock.request(&req).map(|_| ())
}

/// Moves device `index` into the namespace `ns` and renames it in the same request.
fn move_link(sock: &mut Socket, index: i32, target: &str, ns: &File) -> Result<()> {
    let mut name = target.as_bytes().to_vec();
    name.push(0);
    let req = Request::new(netlink::RTM_NEWLINK, 0, &ifinfomsg(index, 0, 0))
        .attr(IFLA_IFNAME, &name)
        .attr(IFLA_NET_NS_FD, &(ns.as_raw_fd() as u32).to_ne_bytes());
    sock.request(&req).map(|_| ())
}

/// The flags (IFF_*) of link `index`, if there is one.
fn link_flags(sock: &mut Socket, index: i32) -> Option<u32> {
    let req = Request::new(netlink::RTM_GETLINK, 0, &ifinfomsg(index, 0, 0));
    let reply = sock.request(&req).ok()?.into_iter().next()?;
    Some(u32::from_ne_bytes(reply.get(8..12)?.try_into().ok()?))
}

/// The name of link `index`, if there is one.
fn link_name(sock: &mut Socket, index: i32) -> Option<String> {
    let req = Request::new(netlink::RTM_GETLINK, 0, &ifinfomsg(index, 0, 0));
    let reply = sock.request(&req).ok()?.into_iter().next()?;
    let (_, name) = netlink::attrs(&reply, 16)
        .into_iter()
        .find(|(k, _)| *k == IFLA_IFNAME)?;
    Some(
        String::from_utf8_lossy(name)
            .trim_end_matches('\0')
            .to_string(),
    )
}

fn link_index(sock: &mut Socket, name: &str) -> Result<i32> {
    let mut n = name.as_bytes().to_vec();
    n.push(0);
    let req = Request::new(netlink::RTM_GETLINK, 0, &ifinfomsg(0, 0, 0)).attr(IFLA_IFNAME, &n);
    let reply = sock.request(&req)?.into_iter().next().context("no reply")?;
    Ok(i32::from_ne_bytes(
        reply.get(4..8).context("short reply")?.try_into()?,
    ))
}

/// The moved device's index inside: the kernel keeps the index unless it is taken there; a
/// `%d` template name is completed by the kernel, so only its prefix is known.
fn moved_index(sock: &mut Socket, old: i32, target: &str) -> Result<i32> {
    let matches = |n: &str| match target.split_once("%d") {
        Some((pre, _)) => n.starts_with(pre),
        None => n == target,
    };
    if link_name(sock, old).is_some_and(|n| matches(&n)) {
        return Ok(old);
    }
    link_index(sock, target)
}

/// A netlink socket inside the network namespace `ns`: sockets stay bound to the namespace
/// they were created in, so enter it, open, and come back.
fn socket_in(ns: &File) -> Result<Socket> {
    let own = File::open("/proc/self/ns/net").context("opening our network namespace")?;
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error())
            .context("entering the container's network namespace");
    }
    let sock = Socket::open();
    if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        // Carrying on in the container's namespace would do host work in the wrong place.
        let e = std::io::Error::last_os_error();
        eprintln!("hull: returning to the host network namespace: {e}");
        unsafe { libc::_exit(1) };
    }
    sock
}

/// A device moved into a container's namespace, with what it takes to put it back on the
/// host as it was if the create fails.
struct Moved {
    host_name: String,
    target: String,
    /// Its index inside, as far as known (see moved_index).
    index: i32,
    was_up: bool,
    addrs: Vec<Address>,
}

/// The devices moved into a container so far, and its network namespace, held open so that
/// they can still be moved back after its init has exited.
#[derive(Default)]
pub struct Attached {
    ns: Option<File>,
    moved: Vec<Moved>,
}

/// Moves every requested device into the network namespace of process `pid`, recording in
/// `attached` each as soon as it has left the host (so a failure at any later point can
/// undo it, see restore_all).
pub fn attach_all(
    devices: &HashMap<String, LinuxNetDevice>,
    pid: i32,
    attached: &mut Attached,
) -> Result<()> {
    let ns: &File = attached.ns.insert(
        File::open(format!("/proc/{pid}/ns/net"))
            .context("opening the container's network namespace")?,
    );
    let mut host = Socket::open()?;
    let mut inside = socket_in(ns)?;
    let mut sorted: Vec<_> = devices.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    for (name, dev) in sorted {
        let target = target_name(name, dev);
        attach(
            &mut host,
            &mut inside,
            ns,
            name,
            target,
            &mut attached.moved,
        )
        .with_context(|| {
            format!(
                "linux.netDevices: moving network device {name:?} into the container as {target:?}"
            )
        })?;
    }
    Ok(())
}

fn attach(
    host: &mut Socket,
    inside: &mut Socket,
    ns: &File,
    name: &str,
    target: &str,
    moved: &mut Vec<Moved>,
) -> Result<()> {
    let index = host_index(name)?;
    // The spec: a name already taken inside is an error; found before the host device is
    // touched (a %d template is completed by the kernel, so it cannot clash).
    if !target.contains("%d") && link_index(inside, target).is_ok() {
        bail!("a network device named {target:?} already exists in the container");
    }
    let was_up = link_flags(host, index).is_some_and(|f| f & libc::IFF_UP as u32 != 0);
    set_up(host, index, false).context("setting it down")?;
    let addrs = addresses(host, index)
        .context("reading its addresses")
        .and_then(|addrs| move_link(host, index, target, ns).map(|()| addrs));
    let addrs = match addrs {
        Ok(addrs) => addrs,
        Err(e) => {
            // Still ours: leave it as it was found rather than down.
            if was_up {
                if let Err(up) = set_up(host, index, true) {
                    crate::logging::warn(&format!("setting {name:?} up again: {up:#}"));
                }
            }
            return Err(e);
        }
    };
    let mut m = Moved {
        host_name: name.to_string(),
        target: target.to_string(),
        index,
        was_up,
        addrs,
    };
    // Recorded whatever happens next: it has left the host.
    let r = set_up_inside(inside, &mut m);
    moved.push(m);
    r
}

/// The moved device's index in the container, up, with its addresses.
fn set_up_inside(inside: &mut Socket, m: &mut Moved) -> Result<()> {
    m.index = moved_index(inside, m.index, &m.target).context("finding it in the container")?;
    set_up(inside, m.index, true).context("setting it up")?;
    for a in &m.addrs {
        add_address(inside, m.index, a).context("restoring its addresses")?;
    }
    Ok(())
}

/// After a failed create: moves the devices back to our namespace under their host names,
/// up if they were, with their addresses. Otherwise the end of the container's namespace
/// would destroy a virtual device and return a physical one under its container name,
/// without addresses. Best effort: what fails is reported and the rest is still tried.
pub fn restore_all(attached: &Attached) {
    let Some(ns) = attached.ns.as_ref().filter(|_| !attached.moved.is_empty()) else {
        return;
    };
    let sockets = File::open("/proc/self/ns/net")
        .context("opening our network namespace")
        .and_then(|own| Ok((socket_in(ns)?, Socket::open()?, own)));
    let (mut inside, mut host, own) = match sockets {
        Ok(s) => s,
        Err(e) => {
            crate::logging::warn(&format!("linux.netDevices: moving devices back: {e:#}"));
            return;
        }
    };
    for m in attached.moved.iter().rev() {
        if let Err(e) = restore(&mut inside, &mut host, &own, m) {
            crate::logging::warn(&format!(
                "linux.netDevices: moving {:?} back to the host: {e:#}",
                m.host_name
            ));
        }
    }
}

fn restore(inside: &mut Socket, host: &mut Socket, own: &File, m: &Moved) -> Result<()> {
    let index = moved_index(inside, m.index, &m.target)?;
    set_up(inside, index, false)?;
    move_link(inside, index, &m.host_name, own)?;
    let index = host_index(&m.host_name)?;
    if m.was_up {
        set_up(host, index, true)?;
    }
    for a in &m.addrs {
        add_address(host, index, a)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        check_name("eth0", "x").unwrap();
        check_name("ctr%d", "x").unwrap();
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen_chars_xx"] {
            assert!(check_name(bad, "x").is_err(), "{bad}");
        }
    }
}
