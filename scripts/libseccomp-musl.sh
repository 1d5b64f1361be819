#!/usr/bin/env bash
# Builds a static libseccomp for the musl release build of hull (scripts/build-release.sh) and
# prints the directory holding libseccomp.a. Debian ships libseccomp.a for glibc only; musl
# cannot link it (fortified __*_chk calls), so this compiles the upstream release with
# musl-gcc against the kernel's uapi headers.
#
# The source is Debian's orig tarball (the same upstream release sid packages), checked
# against a pinned sha256. Built once and cached outside the checkout: /var/cache/hull when
# writable, else ${XDG_CACHE_HOME:-~/.cache}/hull. Needs musl-tools, gperf and curl.
set -euo pipefail
version=2.6.0
sha256=83b6085232d1588c379dc9b9cae47bb37407cf262e6e74993c61ba72d2a784dc
url=${LIBSECCOMP_URL:-http://deb.debian.org/debian/pool/main/libs/libseccomp/libseccomp_$version.orig.tar.gz}

cache=/var/cache/hull
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=${XDG_CACHE_HOME:-$HOME/.cache}/hull
out=$cache/libseccomp-$version-musl
if [ -f "$out/lib/libseccomp.a" ]; then
  echo "$out/lib"
  exit 0
fi
for tool in musl-gcc gperf curl make; do
  command -v "$tool" >/dev/null || { echo "libseccomp-musl.sh: $tool missing (apt-get install musl-tools gperf curl make)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/src.tar.gz" "$url"
echo "$sha256  $work/src.tar.gz" | sha256sum -c --quiet - >&2
tar -xzf "$work/src.tar.gz" -C "$work"
# musl-gcc searches musl's headers only; libseccomp needs the kernel's uapi headers too.
mkdir "$work/uapi"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ln -s /usr/include/linux "$work/uapi/linux"
ln -s "/usr/include/$multiarch/asm" "$work/uapi/asm"
ln -s /usr/include/asm-generic "$work/uapi/asm-generic"
(
  cd "$work/libseccomp-$version"
  ./configure -q CC=musl-gcc CFLAGS="-O2 -isystem $work/uapi" \
    --enable-static --disable-shared --prefix="$out.tmp" >&2
  make -s -j"$(nproc)" -C src >&2
  make -s -C src install >&2
  make -s -C include install >&2
)
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out/lib"
