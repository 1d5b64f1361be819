//! cgroup v2 device access control: a BPF_PROG_TYPE_CGROUP_DEVICE program assembled by hand
//! from the emulated rule set (default + exceptions, see [`super::devices::Emulator`]) and
//! attached to the cgroup directory with BPF_F_ALLOW_MULTI; programs attached before are
//! detached afterwards (so an update never leaves the cgroup unprotected).
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
//! where access_type = (access << 16) | type, type 1 = block, 2 = char, and access bits
//! 1 = mknod, 2 = read, 4 = write. It returns 1 to allow, 0 to deny.

use super::devices::{DeviceRule, Emulator, ACC_MKNOD, ACC_READ, ACC_WRITE};
use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const BPF_ACC_MKNOD: i32 = 1;
const BPF_ACC_READ: i32 = 2;
const BPF_ACC_WRITE: i32 = 4;

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

// Opcodes (BPF_CLASS | BPF_OP | BPF_SRC).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K: u8 = 0x54; // w_dst &= imm
const ALU32_RSH_K: u8 = 0x74; // w_dst >>= imm
const ALU32_MOV_X: u8 = 0xbc; // w_dst = w_src
const ALU64_MOV_K: u8 = 0xb7; // dst = imm
const JMP_JEQ_K: u8 = 0x15; // if dst == imm goto +off
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto +off
const JMP_EXIT: u8 = 0x95;

fn bpf_access(a: u8) -> i32 {
    let mut v = 0;
    if a & ACC_MKNOD != 0 {
        v |= BPF_ACC_MKNOD;
    }
    if a & ACC_READ != 0 {
        v |= BPF_ACC_READ;
    }
    if a & ACC_WRITE != 0 {
        v |= BPF_ACC_WRITE;
    }
    v
}

/// Build the program for a rule list (applied from "deny everything", like runc).
pub fn build_program(rules: &[DeviceRule]) -> Vec<Insn> {
    let emu = Emulator::from_rules(rules);
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),        // r2 = ctx->access_type
        insn(ALU32_AND_K, 2, 0, 0, 0xffff), // r2 = type
        insn(LDX_MEM_W, 3, 1, 0, 0),        // r3 = ctx->access_type
        insn(ALU32_RSH_K, 3, 0, 0, 16),     // r3 = access
        insn(LDX_MEM_W, 4, 1, 4, 0),        // r4 = major
        insn(LDX_MEM_W, 5, 1, 8, 0),        // r5 = minor
    ];
    let verdict_exc = i32::from(!emu.default_allow);
    for (typ, major, minor, access) in &emu.exceptions {
        let mut block = Vec::new();
        let typ = match typ {
            'b' => Some(DEV_BLOCK),
            'c' => Some(DEV_CHAR),
            _ => None,
        };
        // Jumps to the end of the block get their offset patched below (off = -1 marker).
        if let Some(t) = typ {
            block.push(insn(JMP_JNE_K, 2, 0, -1, t));
        }
        let acc = bpf_access(*access);
        block.push(insn(ALU32_MOV_X, 6, 3, 0, 0)); // w6 = access
        if emu.default_allow {
            // Deny list: the exception applies when the request touches any denied access.
            block.push(insn(ALU32_AND_K, 6, 0, 0, acc));
            block.push(insn(JMP_JEQ_K, 6, 0, -1, 0));
        } else {
            // Allow list: every requested access must be allowed by the exception.
            block.push(insn(ALU32_AND_K, 6, 0, 0, !acc & 0x7));
            block.push(insn(JMP_JNE_K, 6, 0, -1, 0));
        }
        if let Some(m) = major {
            block.push(insn(JMP_JNE_K, 4, 0, -1, *m as i32));
        }
        if let Some(m) = minor {
            block.push(insn(JMP_JNE_K, 5, 0, -1, *m as i32));
        }
        block.push(insn(ALU64_MOV_K, 0, 0, 0, verdict_exc));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.off == -1 {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(emu.default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Run the program in user space (an interpreter for the few opcodes we emit), for tests.
pub fn simulate(prog: &[Insn], typ: char, major: u32, minor: u32, access: u8) -> bool {
    let t = match typ {
        'b' => DEV_BLOCK as u64,
        _ => DEV_CHAR as u64,
    };
    let ctx = [
        ((bpf_access(access) as u64) << 16) | t,
        major as u64,
        minor as u64,
    ];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let imm = i.imm as i64 as u64;
        pc += 1;
        match i.code {
            LDX_MEM_W => r[dst] = ctx[(i.off / 4) as usize] & 0xffff_ffff,
            ALU32_AND_K => r[dst] = (r[dst] & imm) & 0xffff_ffff,
            ALU32_RSH_K => r[dst] = ((r[dst] & 0xffff_ffff) >> imm) & 0xffff_ffff,
            ALU32_MOV_X => r[dst] = r[src] & 0xffff_ffff,
            ALU64_MOV_K => r[dst] = imm,
            JMP_JEQ_K => {
                if r[dst] == imm {
                    pc += i.off as usize
                }
            }
            JMP_JNE_K => {
                if r[dst] != imm {
                    pc += i.off as usize
                }
            }
            JMP_EXIT => return r[0] == 1,
            c => panic!("unknown opcode {c:#x}"),
        }
    }
}

fn sys_bpf(cmd: libc::c_long, attr: &mut [u64]) -> std::io::Result<i64> {
    // SAFETY: attr is a zero-padded, correctly laid out union bpf_attr of the given size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc as i64)
    }
}

fn set_u32(attr: &mut [u64], byte_off: usize, v: u32) {
    // SAFETY: in bounds of the attr buffer (checked by the slice index below).
    let bytes: &mut [u8] =
        unsafe { std::slice::from_raw_parts_mut(attr.as_mut_ptr() as *mut u8, attr.len() * 8) };
    bytes[byte_off..byte_off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get_u32(attr: &[u64], byte_off: usize) -> u32 {
    // SAFETY: as in set_u32.
    let bytes: &[u8] =
        unsafe { std::slice::from_raw_parts(attr.as_ptr() as *const u8, attr.len() * 8) };
    u32::from_ne_bytes(bytes[byte_off..byte_off + 4].try_into().unwrap())
}

fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = b"Apache\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = [0u64; 16];
    set_u32(&mut attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE);
    set_u32(&mut attr, 4, prog.len() as u32);
    attr[1] = prog.as_ptr() as u64; // insns
    attr[2] = license.as_ptr() as u64; // license
    set_u32(&mut attr, 24, 1); // log_level
    set_u32(&mut attr, 28, log.len() as u32); // log_size
    attr[4] = log.as_mut_ptr() as u64; // log_buf
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: the kernel returned a new fd that we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            bail!(
                "failed to load the device cgroup eBPF program: {e}; verifier log: {}",
                String::from_utf8_lossy(&log[..end]).trim()
            )
        }
    }
}

/// Ids of the device programs attached to the cgroup `dirfd`.
fn query(dirfd: i32) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = [0u64; 8];
    set_u32(&mut attr, 0, dirfd as u32);
    set_u32(&mut attr, 4, BPF_CGROUP_DEVICE);
    attr[2] = ids.as_mut_ptr() as u64; // prog_ids
    set_u32(&mut attr, 24, ids.len() as u32); // prog_cnt
    sys_bpf(BPF_PROG_QUERY, &mut attr).context("BPF_PROG_QUERY on the cgroup")?;
    let n = get_u32(&attr, 24) as usize;
    ids.truncate(n.min(64));
    Ok(ids)
}

fn attach_or_detach(cmd: libc::c_long, dirfd: i32, progfd: i32, flags: u32) -> std::io::Result<()> {
    let mut attr = [0u64; 4];
    set_u32(&mut attr, 0, dirfd as u32);
    set_u32(&mut attr, 4, progfd as u32);
    set_u32(&mut attr, 8, BPF_CGROUP_DEVICE);
    set_u32(&mut attr, 12, flags);
    sys_bpf(cmd, &mut attr).map(|_| ())
}

fn prog_fd_by_id(id: u32) -> Result<OwnedFd> {
    let mut attr = [0u64; 2];
    set_u32(&mut attr, 0, id);
    let fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)
        .with_context(|| format!("BPF_PROG_GET_FD_BY_ID {id}"))?;
    // SAFETY: new fd owned by us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Number of device programs attached to the cgroup directory `dir`.
pub fn attached_programs(dir: &Path) -> Result<usize> {
    let f = std::fs::File::open(dir)
        .with_context(|| format!("failed to open cgroup {}", dir.display()))?;
    Ok(query(f.as_raw_fd())?.len())
}

/// Install the device filter for `rules` on the cgroup2 directory `dir`, replacing the device
/// programs attached before. A rule set that allows everything detaches the old programs.
pub fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let emu = Emulator::from_rules(rules);
    let allow_all = emu.default_allow && emu.exceptions.is_empty();
    let dirf = std::fs::File::open(dir)
        .with_context(|| format!("failed to open cgroup {}", dir.display()))?;
    let dirfd = dirf.as_raw_fd();
    let old = query(dirfd).unwrap_or_default();
    if !allow_all {
        let prog = load(&build_program(rules))?;
        attach_or_detach(BPF_PROG_ATTACH, dirfd, prog.as_raw_fd(), BPF_F_ALLOW_MULTI)
            .with_context(|| {
                format!(
                    "failed to attach the device eBPF program to {}",
                    dir.display()
                )
            })?;
    }
    for id in old {
        let fd = prog_fd_by_id(id)?;
        if let Err(e) = attach_or_detach(BPF_PROG_DETACH, dirfd, fd.as_raw_fd(), 0) {
            if e.raw_os_error() != Some(libc::ENOENT) {
                return Err(e).with_context(|| {
                    format!(
                        "failed to detach old device program {id} from {}",
                        dir.display()
                    )
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::devices::{default_allowed_devices, ACC_ALL};
    use super::*;

    fn deny_all() -> DeviceRule {
        DeviceRule {
            allow: false,
            typ: 'a',
            major: None,
            minor: None,
            access: ACC_ALL,
        }
    }

    #[test]
    fn allow_list_program() {
        let mut rules = vec![deny_all()];
        rules.extend(default_allowed_devices());
        let p = build_program(&rules);
        assert!(simulate(&p, 'c', 1, 3, ACC_READ | ACC_WRITE)); // /dev/null
        assert!(simulate(&p, 'c', 136, 7, ACC_READ)); // a pty
        assert!(simulate(&p, 'b', 8, 0, ACC_MKNOD)); // mknod any block
        assert!(!simulate(&p, 'b', 8, 0, ACC_READ)); // but not read it
        assert!(!simulate(&p, 'c', 10, 200, ACC_READ)); // /dev/net/tun
        assert!(simulate(&p, 'c', 1, 3, ACC_READ | ACC_MKNOD));
        assert!(!simulate(&p, 'c', 1, 4, ACC_READ));
    }

    #[test]
    fn deny_list_program() {
        let rules = vec![
            DeviceRule::allow('a', None, None, "rwm"),
            DeviceRule {
                allow: false,
                typ: 'c',
                major: Some(1),
                minor: Some(3),
                access: ACC_WRITE,
            },
        ];
        let p = build_program(&rules);
        assert!(simulate(&p, 'c', 1, 3, ACC_READ));
        assert!(!simulate(&p, 'c', 1, 3, ACC_WRITE));
        assert!(!simulate(&p, 'c', 1, 3, ACC_READ | ACC_WRITE));
        assert!(simulate(&p, 'c', 1, 5, ACC_WRITE));
    }

    #[test]
    fn deny_all_program() {
        let p = build_program(&[deny_all()]);
        assert_eq!(p.len(), 8);
        assert!(!simulate(&p, 'c', 1, 3, ACC_READ));
    }
}
