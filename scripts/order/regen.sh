#!/usr/bin/env bash
# Regenerates scripts/order/hull.order, the link order of hull's hot functions (see
# scripts/build-release.sh): builds the release binary as build-release.sh does but keeping
# its symbols (RUSTFLAGS do not change cargo's -C metadata, so the symbol names are the ones
# the real build links), traces create/start/state/kill/delete/run/exec with it
# (profile.sh) and orders the functions they ran (make-order.py). Root; ~10 minutes.
# Rerun after large changes to the hot path: new functions land after the ordered ones.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR=${ORDER_TARGET_DIR:-$repo/target/order}
bin=$(RUSTFLAGS="${RUSTFLAGS:-} -C strip=none" "$repo/scripts/build-release.sh")
traces=$(mktemp -d /tmp/hull-order-traces.XXXXXX)
trap 'rm -rf "$traces"' EXIT
"$here/profile.sh" "$bin" "$traces" >&2
python3 "$here/make-order.py" --report "$bin" "$traces" >&2
python3 "$here/make-order.py" "$bin" "$traces" >"$here/hull.order"
echo "regen.sh: wrote $here/hull.order ($(wc -l <"$here/hull.order") symbols)" >&2
