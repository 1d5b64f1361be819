#!/usr/bin/env bash
# Runs a container with hull: from the bundle given as $1, or from a busybox bundle made here
# from Debian's busybox-static. Must run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
hull="${HULL_BIN:-$("$here/scripts/build-release.sh")}"
bundle="${1:-}"
if [ -z "$bundle" ]; then
    bundle=$(mktemp -d /tmp/hull-demo.XXXXXX)
    trap 'rm -rf "$bundle"' EXIT
    mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
    cp /bin/busybox "$bundle/rootfs/bin/busybox"
    for applet in $("$bundle/rootfs/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
    echo 'root:x:0:' > "$bundle/rootfs/etc/group"
    (cd "$bundle" && "$hull" spec)
    # A non-interactive demo: print what the container sees, then exit.
    sed -i 's/"terminal": true/"terminal": false/' "$bundle/config.json"
    python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["args"] = ["sh", "-c", "echo \"hello from $(hostname): $(id)\"; echo; cat /proc/self/status | grep -E '^(Cap|NoNewPrivs|Seccomp)'; echo; mount | head -8"]
json.dump(c, open(path, "w"), indent=2)
PY
fi
id="hull-demo-$$"
echo "running container $id from bundle $bundle"
# Not exec: the EXIT trap must still remove a generated bundle afterwards.
status=0
"$hull" run --bundle "$bundle" "$id" || status=$?
exit "$status"
