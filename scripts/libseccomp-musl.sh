#!/usr/bin/env bash
# Builds a static libseccomp for the musl release build of hull (scripts/build-release.sh) and
# prints the directory holding libseccomp.a. Debian ships libseccomp.a for glibc only; musl
# cannot link it (fortified __*_chk calls), so this compiles the library with musl-gcc
# against the kernel's uapi headers.
#
# The source is exactly Debian sid's libseccomp 2.6.0-2: the orig tarball and Debian's
# patches (among them a strict-aliasing fix in the hash that BPF generation uses), both
# checked against pinned sha256 sums. Built once and cached outside the checkout:
# /var/cache/hull when writable, else ${XDG_CACHE_HOME:-~/.cache}/hull; concurrent first
# builds take turns (flock). Needs musl-tools, gperf, curl, make, patch, xz-utils.
set -euo pipefail
version=2.6.0
debian_rev=2
orig_sha256=83b6085232d1588c379dc9b9cae47bb37407cf262e6e74993c61ba72d2a784dc
debian_sha256=ed705ec85719403e77d004c99c0b06b795f090c66fcae265c4bcf37ffea9cc27
pool=${LIBSECCOMP_POOL:-http://deb.debian.org/debian/pool/main/libs/libseccomp}

cache=/var/cache/hull
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=${XDG_CACHE_HOME:-${HOME:?}/.cache}/hull
mkdir -p "$cache"
out=$cache/libseccomp-$version-$debian_rev-musl
[ -f "$out/lib/libseccomp.a" ] && { echo "$out/lib"; exit 0; }
exec 9>"$cache/.libseccomp-musl.lock"
flock 9
[ -f "$out/lib/libseccomp.a" ] && { echo "$out/lib"; exit 0; }
for tool in musl-gcc gperf curl make patch xz; do
  command -v "$tool" >/dev/null || { echo "libseccomp-musl.sh: $tool missing (apt-get install musl-tools gperf curl make patch xz-utils)" >&2; exit 1; }
done

work=$(mktemp -d "$cache/.libseccomp-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
fetch() { # url sha256 file
  curl -fsSL --retry 3 -o "$3" "$1"
  echo "$2  $3" | sha256sum -c --quiet - >&2
}
fetch "$pool/libseccomp_$version.orig.tar.gz" "$orig_sha256" "$work/orig.tar.gz"
fetch "$pool/libseccomp_$version-$debian_rev.debian.tar.xz" "$debian_sha256" "$work/debian.tar.xz"
tar -xzf "$work/orig.tar.gz" -C "$work"
src=$work/libseccomp-$version
tar -xJf "$work/debian.tar.xz" -C "$src"
while read -r p; do
  case $p in '' | '#'*) continue ;; esac
  patch -s -p1 -d "$src" <"$src/debian/patches/$p" >&2
done <"$src/debian/patches/series"
# musl-gcc searches musl's headers only; libseccomp needs the kernel's uapi headers too.
mkdir "$work/uapi"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ln -s /usr/include/linux "$work/uapi/linux"
ln -s "/usr/include/$multiarch/asm" "$work/uapi/asm"
ln -s /usr/include/asm-generic "$work/uapi/asm-generic"
(
  cd "$src"
  ./configure -q CC=musl-gcc CFLAGS="-O2 -isystem $work/uapi" \
    --enable-static --disable-shared --prefix="$work/install" >&2
  make -s -j"$(nproc)" -C src >&2
  make -s -C src install >&2
  make -s -C include install >&2
)
# Published in one rename, so a reader sees the whole library or none.
mv -T "$work/install" "$out"
echo "$out/lib"
