#!/usr/bin/env bash
# Builds the release hull: fully static (glibc and libseccomp linked in) and non-PIE, and
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
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
triple=$(rustc -vV | sed -n 's/^host: //p')
libdir=$(pkg-config --variable=libdir libseccomp 2>/dev/null || echo /usr/lib/"$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)")
[[ -f $libdir/libseccomp.a ]] || { echo "build-release.sh: $libdir/libseccomp.a missing (apt-get install libseccomp-dev)" >&2; exit 1; }
cd "$repo"
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$libdir" \
    HULL_LINK_ORDER="$repo/scripts/order/hull.order" \
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --quiet --release --target "$triple" --bin hull >&2
echo "${CARGO_TARGET_DIR:-$repo/target}/$triple/release/hull"
