//! The `-ENOSYS` stub prepended to libseccomp's generated BPF program.
//!
//! A profile whose default action is `SCMP_ACT_ERRNO` (EPERM) would also answer syscalls that are
//! newer than the profile (and than libseccomp's syscall table) with EPERM. Programs (glibc's
//! `clone3`, `faccessat2`, `fchmodat2` ... wrappers) probe new syscalls and only fall back to the
//! old ones on ENOSYS, so EPERM breaks them. Like runc, we prepend a small program that, per
//! architecture, returns `ENOSYS` for every syscall number larger than the largest syscall the
//! profile names on that architecture; everything else falls through to libseccomp's filter.
//!
//! Jumps are emitted so that every conditional jump is short (offset 0..=3); the only long jumps
//! are unconditional `ja` (32-bit offset), so the stub works whatever the number of architectures.

use libseccomp::ScmpArch;

/// One classic BPF instruction, laid out like the kernel's `struct sock_filter`.
pub(super) type Insn = libc::sock_filter;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const BPF_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

/// `SECCOMP_RET_ERRNO | ENOSYS`.
pub(super) const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// x32 syscalls are x86_64 syscalls with this bit set in the syscall number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The kernel's `AUDIT_ARCH_*` value seen in `seccomp_data.arch` for a libseccomp arch
/// (x32 shares x86_64's and is told apart by [`X32_SYSCALL_BIT`]). `None` for arches we do
/// not know how to patch; those just get no stub.
pub(super) fn audit_arch(arch: ScmpArch) -> Option<u32> {
    Some(match arch {
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_ARCH_X86_64,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Aarch64 => 0xc000_00b7,
        ScmpArch::Mips => 0x0000_0008,
        ScmpArch::Mips64 => 0x8000_0008,
        ScmpArch::Mips64N32 => 0xa000_0008,
        ScmpArch::Mipsel => 0x4000_0008,
        ScmpArch::Mipsel64 => 0xc000_0008,
        ScmpArch::Mipsel64N32 => 0xe000_0008,
        ScmpArch::Ppc => 0x0000_0014,
        ScmpArch::Ppc64 => 0x8000_0015,
        ScmpArch::Ppc64Le => 0xc000_0015,
        ScmpArch::S390 => 0x0000_0016,
        ScmpArch::S390X => 0x8000_0016,
        ScmpArch::Riscv64 => 0xc000_00f3,
        ScmpArch::Loongarch64 => 0xc000_0102,
        ScmpArch::Parisc => 0x0000_000f,
        ScmpArch::Parisc64 => 0x8000_000f,
        ScmpArch::M68k => 0x0000_0004,
        ScmpArch::Sh => 0x4000_002a,
        ScmpArch::Sheb => 0x0000_002a,
        _ => return None,
    })
}

/// Instruction placeholder while laying out the stub.
enum Slot {
    Raw(Insn),
    /// `ja` to the first instruction of libseccomp's program (the end of the stub).
    JaFilter,
    /// `ja` to the start of the n-th per-arch section.
    JaSection(usize),
}

/// "if nr > max: return ENOSYS; else go to the filter" (expects nr in A).
fn check_max(out: &mut Vec<Slot>, max: u32) {
    out.push(Slot::Raw(insn(BPF_JGT_K, 0, 1, max)));
    out.push(Slot::Raw(insn(BPF_RET_K, 0, 0, RET_ERRNO_ENOSYS)));
    out.push(Slot::JaFilter);
}

/// Builds the stub for the given `(arch, largest syscall number named by the profile)` pairs.
/// Arches whose largest number is unknown (no syscall of the profile resolves there) are left
/// out, as are arches without a known audit value. Returns an empty program when nothing is left.
pub(super) fn stub(max_per_arch: &[(ScmpArch, u32)]) -> Vec<Insn> {
    // Group by audit arch: (audit, max for the 64-bit/plain ABI, max for x32).
    let mut groups: Vec<(u32, Option<u32>, Option<u32>, ScmpArch)> = Vec::new();
    for &(arch, max) in max_per_arch {
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        let idx = match groups.iter().position(|g| g.0 == audit) {
            Some(i) => i,
            None => {
                groups.push((audit, None, None, arch));
                groups.len() - 1
            }
        };
        let g = &mut groups[idx];
        let slot = if arch == ScmpArch::X32 {
            &mut g.2
        } else {
            &mut g.1
        };
        *slot = Some(slot.map_or(max, |m: u32| m.max(max)));
        if arch != ScmpArch::X32 {
            g.3 = arch;
        }
    }
    if groups.is_empty() {
        return Vec::new();
    }

    // Per-arch sections.
    let mut sections: Vec<Vec<Slot>> = Vec::new();
    for &(audit, plain, x32, arch) in &groups {
        let mut s = vec![Slot::Raw(insn(BPF_LD_W_ABS, 0, 0, OFF_NR))];
        if audit == AUDIT_ARCH_X86_64 {
            match (plain, x32) {
                (Some(a), Some(b)) => {
                    // x32 bit set: check against the x32 maximum, else the x86_64 one.
                    s.push(Slot::Raw(insn(BPF_JSET_K, 0, 3, X32_SYSCALL_BIT)));
                    check_max(&mut s, b);
                    check_max(&mut s, a);
                }
                (Some(a), None) => {
                    // Leave x32 syscalls to the filter (they get its bad-arch handling).
                    s.push(Slot::Raw(insn(BPF_JSET_K, 0, 1, X32_SYSCALL_BIT)));
                    s.push(Slot::JaFilter);
                    check_max(&mut s, a);
                }
                (None, Some(b)) => {
                    s.push(Slot::Raw(insn(BPF_JSET_K, 1, 0, X32_SYSCALL_BIT)));
                    s.push(Slot::JaFilter);
                    check_max(&mut s, b);
                }
                (None, None) => continue,
            }
        } else {
            let Some(a) = plain else { continue };
            if matches!(arch, ScmpArch::S390 | ScmpArch::S390X) {
                // On s390(x) syscall 0 multiplexes syscall numbers the kernel does not know.
                s.push(Slot::Raw(insn(BPF_JEQ_K, 0, 1, 0)));
                s.push(Slot::Raw(insn(BPF_RET_K, 0, 0, RET_ERRNO_ENOSYS)));
            }
            check_max(&mut s, a);
        }
        sections.push(s);
    }
    if sections.is_empty() {
        return Vec::new();
    }

    // Dispatch on the architecture: "if arch == X: goto section X", else go to the filter.
    let mut prog: Vec<Slot> = vec![Slot::Raw(insn(BPF_LD_W_ABS, 0, 0, OFF_ARCH))];
    let mut n = 0;
    for &(audit, plain, x32, _) in &groups {
        if plain.is_none() && x32.is_none() {
            continue;
        }
        prog.push(Slot::Raw(insn(BPF_JEQ_K, 0, 1, audit)));
        prog.push(Slot::JaSection(n));
        n += 1;
    }
    prog.push(Slot::JaFilter);
    let mut starts = Vec::with_capacity(sections.len());
    for s in sections {
        starts.push(prog.len());
        prog.extend(s);
    }

    let end = prog.len();
    prog.into_iter()
        .enumerate()
        .map(|(pc, slot)| match slot {
            Slot::Raw(i) => i,
            Slot::JaFilter => insn(BPF_JA, 0, 0, (end - pc - 1) as u32),
            Slot::JaSection(i) => insn(BPF_JA, 0, 0, (starts[i] - pc - 1) as u32),
        })
        .collect()
}

/// A tiny classic-BPF interpreter covering the instructions libseccomp and [`stub`] emit, used by
/// the unit tests to check the patched program without loading it.
#[cfg(test)]
pub(super) fn run(prog: &[Insn], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        pc += 1;
        let src = if i.code & 0x08 != 0 { x } else { i.k };
        match i.code & 0x07 {
            0x00 => match i.code {
                0x20 => {
                    let o = i.k as usize;
                    a = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                0x00 => a = i.k,
                0x60 => a = mem[i.k as usize],
                _ => panic!("unsupported ld {:#x}", i.code),
            },
            0x01 => match i.code {
                0x01 => x = i.k,
                0x61 => x = mem[i.k as usize],
                _ => panic!("unsupported ldx {:#x}", i.code),
            },
            0x02 => mem[i.k as usize] = a,
            0x03 => mem[i.k as usize] = x,
            0x04 => {
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x50 => a & src,
                    0x40 => a | src,
                    0xa0 => a ^ src,
                    0x60 => a << src,
                    0x70 => a >> src,
                    _ => panic!("unsupported alu {:#x}", i.code),
                }
            }
            0x05 => {
                let op = i.code & 0xf0;
                if op == 0x00 {
                    pc += i.k as usize;
                    continue;
                }
                let cond = match op {
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => panic!("unsupported jmp {:#x}", i.code),
                };
                pc += if cond { i.jt } else { i.jf } as usize;
            }
            0x06 => return if i.code & 0x18 == 0x10 { a } else { i.k },
            0x07 => {
                if i.code == 0x07 {
                    x = a
                } else {
                    a = x
                }
            }
            _ => unreachable!(),
        }
    }
}
