#!/usr/bin/env bash
# Builds the release hull: fully static (musl and libseccomp linked in) and non-PIE, and
# prints the binary's path on stdout.
#
# Why: every hull invocation (create, start, state, delete, ...) is a short-lived process, so
# its startup is on the hot path. A static non-PIE binary needs no dynamic loader, no shared
# library mapping and no relocation processing: measured here, the peak RSS of `hull create`
# drops from ~3.6 MiB (dynamic PIE) to ~2.6 MiB, below crun's ~3.3 MiB.
# --target keeps these RUSTFLAGS off build scripts and proc macros, which cannot be static.
#
# The link places the functions that create/start/delete/run/exec and the container init run
# next to each other (scripts/order/hull.order, made by scripts/order/regen.sh from traces of
# those commands): the kernel maps file-backed text in 64 KiB blocks around each fault, so
# scattered hot code cost every process ~1.5 MiB of RSS; grouped it costs a few blocks. A
# symbol the file names that the build no longer has is skipped; new code lands after the
# ordered part until the file is regenerated. build.rs passes it to the linker (rust-lld, the
# default linker of Rust >= 1.90 on x86_64 Linux) and has cargo relink when it changes.
#
# Why musl, not glibc: glibc's startup probes the CPU (init_cpu_features, cache sizes for
# memcpy) with dozens of CPUID instructions, and in a virtual machine, where most containers
# run, each CPUID traps to the hypervisor. Measured here: a static glibc `int main(){}` costs
# 0.30 ms of CPU per run, the same with musl 0.05 ms; `hull exec` got 0.12 ms faster (median)
# and 0.3 ms cheaper in CPU. Every hull command is a short-lived process, so that is on every
# command's path. libseccomp for musl is built once by scripts/libseccomp-musl.sh.
# HULL_LIBC=glibc builds against glibc instead (Debian's libseccomp.a). By default (auto), when
# the musl target, musl-tools or the libseccomp source cannot be had, the build falls back to
# glibc and says so; HULL_LIBC=musl fails instead (exit 3 when only the Rust musl target could
# not be fetched; make test-release then says so and tests the glibc build).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
sysroot=$(rustc --print sysroot)
cd "$repo"

# The musl target and its libseccomp, or why not: prints the lib dir, or fails quietly.
libc=${HULL_LIBC:-auto}
case $libc in auto | musl | glibc) ;; *) echo "build-release.sh: HULL_LIBC=$libc: use auto, musl or glibc" >&2; exit 1 ;; esac
musl_libseccomp() {
  [ "$libc" != glibc ] || return 1
  if ! rustup target list --installed 2>/dev/null | grep -qx "$1"; then
    echo "build-release.sh: adding the Rust target $1 (rustup)" >&2
    rustup target add "$1" >&2 || return 3
  fi
  "$repo/scripts/libseccomp-musl.sh"
}

musl=${host%%-*}-unknown-linux-musl
musl_status=0
libdir=$(musl_libseccomp "$musl") || musl_status=$?
if [ "$musl_status" = 0 ]; then
  triple=$musl
  # musl targets link with cc and GNU ld by default; the link order file (build.rs) is for
  # lld, so use the toolchain's rust-lld through its gcc-ld wrapper as the glibc target does.
  linker="-C link-arg=-fuse-ld=lld -C link-arg=-B$sysroot/lib/rustlib/$host/bin/gcc-ld"
elif [ "$libc" = musl ]; then
  echo "build-release.sh: HULL_LIBC=musl, but the musl build is not possible here (see above)" >&2
  # 3: only the Rust musl target is missing (rustup could not fetch it)
  [ "$musl_status" = 3 ] && exit 3
  exit 1
else
  [ "$libc" = glibc ] || echo "build-release.sh: musl build not possible here, building against glibc" >&2
  triple=$host
  linker=
  libdir=$(pkg-config --variable=libdir libseccomp 2>/dev/null || echo /usr/lib/"$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)")
  [[ -f $libdir/libseccomp.a ]] || { echo "build-release.sh: $libdir/libseccomp.a missing (apt-get install libseccomp-dev)" >&2; exit 1; }
fi
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$libdir" \
    HULL_LINK_ORDER="$repo/scripts/order/hull.order" \
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static $linker" \
    cargo build --quiet --release --target "$triple" --bin hull >&2
echo "${CARGO_TARGET_DIR:-$repo/target}/$triple/release/hull"
