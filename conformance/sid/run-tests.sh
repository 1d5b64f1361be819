#!/usr/bin/env bash
# Builds one conformance test file and runs its sid-only (#[ignore]d) tests inside the Debian sid
# root (make-root.sh builds it once; enter.sh runs in it), against the runtime SID_RUNTIME.
#
#   conformance/sid/run-tests.sh <test-file> [test-binary args...]
#
# HULL_BIN      host path of the hull under test (default: target/debug/hull), bound in at
#               /usr/local/bin/hull
# SID_RUNTIME   the runtime the tests drive, as seen inside the root: /usr/local/bin/hull
#               (default), /usr/bin/runc (runc 1.3.6: checks the tests themselves), /usr/bin/crun
# SID_THREADS   parallel tests (default 4)
set -euo pipefail
cd "$(dirname "$0")/../.."
test=${1:?usage: $0 <test-file> [args...]}; shift
conformance/sid/make-root.sh >/dev/null
bin=$(cargo test -p hull-conformance --test "$test" --no-run --message-format=json \
  | jq -r --arg t "$test" 'select(.profile.test == true and .target.name == $t) | .executable')
[ -x "$bin" ] || { echo "no test binary for $test" >&2; exit 1; }
export HULL_BIN=${HULL_BIN:-$PWD/target/debug/hull}
[ -x "$HULL_BIN" ] || { echo "HULL_BIN=$HULL_BIN is not built" >&2; exit 1; }
export HULL_SID_BIND="$PWD:$(dirname "$bin")${HULL_SID_BIND:+:$HULL_SID_BIND}"
exec conformance/sid/enter.sh env HULL_BIN="${SID_RUNTIME:-/usr/local/bin/hull}" \
  "$bin" --ignored --test-threads="${SID_THREADS:-4}" "$@"
