#!/usr/bin/env python3
"""Builds the link order of hull's hot functions from instruction traces (profile.sh).

    make-order.py HULL_BIN TRACEDIR > scripts/order/hull.order    (HULL_BIN unstripped)
    make-order.py --report HULL_BIN TRACEDIR [ORDER]

Why: every hull command is a short process, and the kernel maps file-backed text in 64 KiB
blocks around each page fault (fault-around). With the functions of one command scattered
over the 3.5 MB .text, each command mapped ~1.5 MB of it. Placed together, the functions a
command runs fill few blocks. The linker (rust-lld, --symbol-ordering-file) places the
sections of the listed symbols first, in this order; everything else follows.

Layout: functions are grouped by which processes run them ("roles": the container init, the
runtime side of each command). The init's own functions come first, then the functions both
sides run, then those of the runtime side only, the most widely used first; so the init's
set and every command's set are each as contiguous as a line allows. --report prints, for
each role, the 64 KiB blocks of .text it touches in the traced binary and with an ORDER.
"""
import os
import subprocess
import sys

BLOCK = 64 * 1024

# Role = "<trace file>:<bit>": bit 1 is the command's own process, bit 2 a child (the init).


def symbols(binary):
    """Function symbols: [(addr, size, name)] sorted. Assembly ones without a size (crtbegin's
    frame_dummy, register_tm_clones, ...: run by every process) reach to the next symbol."""
    out = subprocess.run(
        ["nm", "-S", "-n", "--defined-only", binary], capture_output=True, text=True, check=True
    ).stdout
    syms, unsized = [], []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwWiI":
            syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
        elif len(parts) == 3 and parts[1] in "tTwWiI":
            unsized.append((int(parts[0], 16), parts[2]))
    starts = sorted({s[0] for s in syms} | {u[0] for u in unsized})
    import bisect

    for addr, name in unsized:
        i = bisect.bisect_right(starts, addr)
        if i < len(starts):
            syms.append((addr, starts[i] - addr, name))
    syms = [s for s in syms if s[1]]
    syms.sort()
    return syms


def roles_of_functions(syms, tracedir):
    """{function index: set of roles that ran it}."""
    import bisect

    starts = [s[0] for s in syms]
    used = {}
    for fname in sorted(os.listdir(tracedir)):
        if not fname.endswith(".txt"):
            continue
        cmd = fname[:-4]
        for line in open(os.path.join(tracedir, fname)):
            a, bits = line.split()
            a, bits = int(a, 16), int(bits)
            i = bisect.bisect_right(starts, a) - 1
            if i < 0 or a >= syms[i][0] + syms[i][1]:
                continue
            for bit in (1, 2):
                if bits & bit:
                    used.setdefault(i, set()).add(f"{cmd}:{bit}")
    return used


def order(syms, used):
    all_roles = {r for rs in used.values() for r in rs}
    child = {r for r in all_roles if r.endswith(":2")}
    parent_roles = sorted(all_roles - child)

    def key(i):
        rs = used[i]
        nc, np = len(rs & child), len(rs - child)
        if np == 0:  # the init's (and exec'd children's) own code: first, widest-used last
            return (0, nc, sorted(rs), syms[i][0])
        if nc:  # both sides: next to both groups, most parent roles last
            return (1, np, sorted(rs), syms[i][0])
        # runtime side only: most widely used first
        return (2, -np, [r for r in parent_roles if r not in rs], syms[i][0])

    return sorted(used, key=key)


def blocks(addrs_sizes):
    b = set()
    for a, s in addrs_sizes:
        for x in range(a // BLOCK, (a + s - 1) // BLOCK + 1):
            b.add(x)
    return len(b)


def report(syms, used, names):
    roles = sorted({r for rs in used.values() for r in rs})
    # Simulated layout: the ordered functions packed from 0 (16-byte aligned), as lld does.
    pos, off = {}, 0
    for n in names:
        pos.setdefault(n, off)
        idx = by_name.get(n)
        if idx is not None:
            off += (syms[idx][1] + 15) & ~15
    print(f"{'role':<22}{'KiB run':>9}{'blocks now':>12}{'ordered':>9}")
    for r in roles:
        fs = [i for i, rs in used.items() if r in rs]
        now = blocks([(syms[i][0], syms[i][1]) for i in fs])
        new = blocks([(pos.get(syms[i][2], 1 << 40), syms[i][1]) for i in fs])
        kib = sum(syms[i][1] for i in fs) // 1024
        print(f"{r:<22}{kib:>9}{now:>12}{new:>9}")


if __name__ == "__main__":
    args = sys.argv[1:]
    rep = args and args[0] == "--report"
    if rep:
        args = args[1:]
    syms = symbols(args[0])
    used = roles_of_functions(syms, args[1])
    by_name = {}
    for i, s in enumerate(syms):
        by_name.setdefault(s[2], i)
    if rep:
        names = [line.strip() for line in open(args[2])] if len(args) > 2 else [
            syms[i][2] for i in order(syms, used)
        ]
        report(syms, used, names)
    else:
        seen = set()
        for i in order(syms, used):
            if syms[i][2] not in seen:
                seen.add(syms[i][2])
                print(syms[i][2])
