#!/usr/bin/env python3
"""Write a staging directory as a newc cpio archive (an initramfs), everything owned by root.

usage: mkcpio.py STAGING_DIR OUT.cpio

Adds /dev/console (char 5:1) so the kernel can open the initial console before devtmpfs is
mounted. No cpio binary needed.
"""
import os
import stat
import sys


def main(root: str, out: str) -> None:
    ino = [1]
    with open(out, "wb") as f:

        def pad4() -> None:
            f.write(b"\0" * ((4 - f.tell() % 4) % 4))

        def entry(name: str, mode: int, data: bytes = b"", rdev=(0, 0), nlink: int = 1) -> None:
            fields = [ino[0], mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                      len(name) + 1, 0]
            ino[0] += 1
            f.write(("070701" + "".join("%08X" % v for v in fields)).encode())
            f.write(name.encode() + b"\0")
            pad4()
            f.write(data)
            pad4()

        have_console = False
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir != ".":
                st = os.lstat(dirpath)
                entry(rel_dir, stat.S_IFDIR | stat.S_IMODE(st.st_mode), nlink=2)
            names = sorted(filenames) + [d for d in dirnames
                                         if os.path.islink(os.path.join(dirpath, d))]
            for n in names:
                p = os.path.join(dirpath, n)
                rel = os.path.normpath(os.path.join(rel_dir, n))
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    entry(rel, stat.S_IFLNK | 0o777, os.readlink(p).encode())
                elif stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as src:
                        entry(rel, stat.S_IFREG | stat.S_IMODE(st.st_mode), src.read())
                if rel == "dev/console":
                    have_console = True
            # os.walk would descend into symlinked dirs only with followlinks; keep them links.
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        if not have_console:
            if not os.path.isdir(os.path.join(root, "dev")):
                entry("dev", stat.S_IFDIR | 0o755, nlink=2)
            entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
        entry("TRAILER!!!", 0)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
