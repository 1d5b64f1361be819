//! `linux.memoryPolicy`: the NUMA memory policy of the container's processes, set with
//! set_mempolicy(2) on the process itself before exec (the policy survives execve and is
//! inherited by children).

use super::cpulist;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{
    LinuxMemoryPolicy, MemoryPolicyFlagType as Flag, MemoryPolicyModeType as Mode,
};

/// Node numbers accepted in a list (the kernel's MAX_NUMNODES is at most 1024).
const MAX_NODES: usize = 1024;

fn mode_number(m: Mode) -> libc::c_int {
    match m {
        Mode::MpolDefault => 0,
        Mode::MpolPreferred => 1,
        Mode::MpolBind => 2,
        Mode::MpolInterleave => 3,
        Mode::MpolLocal => 4,
        Mode::MpolPreferredMany => 5,
        Mode::MpolWeightedInterleave => 6,
    }
}

fn flag_bit(f: Flag) -> libc::c_int {
    match f {
        Flag::MpolFNumaBalancing => 1 << 13,
        Flag::MpolFRelativeNodes => 1 << 14,
        Flag::MpolFStaticNodes => 1 << 15,
    }
}

fn nodes(p: &LinuxMemoryPolicy) -> Option<&str> {
    p.nodes()
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// Checks the policy against the spec's rules and this host, so a bad one fails before
/// anything is created: the modes that place memory on given nodes need nodes, the others
/// take none, and (unless the nodes are relative or static, which name nodes that may come
/// later) every node must be online: the kernel silently drops offline ones.
pub fn check(p: &LinuxMemoryPolicy) -> Result<()> {
    let mode = p.mode();
    let needs_nodes = matches!(
        mode,
        Mode::MpolBind
            | Mode::MpolInterleave
            | Mode::MpolPreferredMany
            | Mode::MpolWeightedInterleave
    );
    let Some(list) = nodes(p) else {
        if needs_nodes {
            bail!("linux.memoryPolicy: mode {mode} needs nodes");
        }
        return Ok(());
    };
    if matches!(mode, Mode::MpolDefault | Mode::MpolLocal) {
        bail!("linux.memoryPolicy: mode {mode} takes no nodes (got {list:?})");
    }
    let words = cpulist::parse(list, MAX_NODES).context("linux.memoryPolicy.nodes")?;
    let flags = p.flags().as_deref().unwrap_or(&[]);
    if flags
        .iter()
        .any(|f| matches!(f, Flag::MpolFRelativeNodes | Flag::MpolFStaticNodes))
    {
        return Ok(());
    }
    let online =
        std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_else(|_| "0".into());
    let online = cpulist::parse(online.trim(), MAX_NODES)?;
    for n in cpulist::members(&words) {
        if online.get(n / 64).is_none_or(|w| w & (1 << (n % 64)) == 0) {
            bail!(
                "linux.memoryPolicy.nodes {list:?}: NUMA node {n} is not online (online nodes: {})",
                std::fs::read_to_string("/sys/devices/system/node/online")
                    .unwrap_or_default()
                    .trim()
            );
        }
    }
    Ok(())
}

pub fn apply(p: &LinuxMemoryPolicy) -> Result<()> {
    let mode = mode_number(p.mode())
        | p.flags()
            .iter()
            .flatten()
            .map(|f| flag_bit(*f))
            .fold(0, |a, b| a | b);
    let mask = match nodes(p) {
        Some(list) => cpulist::parse(list, MAX_NODES)?,
        None => Vec::new(),
    };
    // The kernel reads maxnode - 1 bits: one more than the mask holds.
    let maxnode = if mask.is_empty() {
        0
    } else {
        mask.len() * 64 + 1
    };
    let ptr = if mask.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        bail!(
            "set_mempolicy {} nodes {:?}: {}",
            p.mode(),
            nodes(p).unwrap_or(""),
            crate::util::errno_text(&e)
        );
    }
    Ok(())
}
