#!/usr/bin/env bash
# Runs the conformance suite against a peer runtime and compares its failures with that peer's
# list of known differences (conformance/peers/<peer>.txt), so a test that a correct peer fails
# shows up as either a listed peer difference or a wrong test, never as noise.
#
#   conformance/peers/check.sh PEER [TEST_BINARY...]
#
# PEER is one of: runc-1.3.6, crun-1.28 (in the Debian sid root, conformance/sid/), runc-1.1.5,
# crun-1.8.1 (the host's Debian 12 packages). Without TEST_BINARY, every conformance test
# binary runs except the client scenarios (clients, clients_sid: `make test-sid
# SID_RUNTIME=...`) and checkpoint (needs criu 4.2.1, sid only).
#
# List format, one test per line: `<binary>::<test>  <reason>`; `#` starts a comment.
# Exit status 1 when a test fails that the list does not name. Listed tests that pass are
# reported as stale (fixed by the peer, or the test got better) without failing the run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
peer=${1:?usage: check.sh PEER [TEST_BINARY...]}
shift
list=$here/$peer.txt
[ -f "$list" ] || { echo "check.sh: no list $list" >&2; exit 2; }

case $peer in
  runc-1.3.6) bin=/usr/bin/runc; sid=1 ;;
  crun-1.28) bin=/usr/bin/crun; sid=1 ;;
  runc-1.1.5) bin=/usr/sbin/runc; sid=0 ;;
  crun-1.8.1) bin=/usr/bin/crun; sid=0 ;;
  *) echo "check.sh: unknown peer $peer" >&2; exit 2 ;;
esac
[ "$sid" = 1 ] || [ -x "$bin" ] || { echo "check.sh: $bin missing (apt-get install it)" >&2; exit 2; }

cd "$top"
declare -A exe
while read -r name path; do exe[$name]=$path; done < <(
  cargo test -p hull-conformance --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.profile.test == true and .executable != null) | "\(.target.name) \(.executable)"')
if [ $# -eq 0 ]; then
  for name in "${!exe[@]}"; do
    case $name in clients | clients_sid | checkpoint | hull_conformance) ;; *) set -- "$@" "$name" ;; esac
  done
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run_one() {
  local name=$1
  if [ "$sid" = 1 ]; then
    HULL_SID_BIND=$top timeout 1200 "$top/conformance/sid/enter.sh" \
      env HULL_BIN="$bin" "${exe[$name]}" --test-threads=2
  else
    HULL_BIN=$bin timeout 1200 "${exe[$name]}" --test-threads=2
  fi
}
for name in $(printf '%s\n' "$@" | sort); do
  [ -n "${exe[$name]:-}" ] || { echo "check.sh: no test binary $name" >&2; exit 2; }
  run_one "$name" >"$out/$name.log" 2>&1
  rc=$?
  # A binary that dies without its summary (timeout, crash, harness panic) names no FAILED
  # test: count it as a failure of its own so the run cannot pass silently.
  if [ "$rc" != 0 ] && ! grep -q '^test result: FAILED' "$out/$name.log"; then
    echo "$name::<exited $rc without a test result>" >>"$out/failed"
    echo "$name: exited $rc without a test result; last lines:"
    tail -5 "$out/$name.log"
  fi
  # A test that breaks the host (a mount stacked over /, say) makes every later userns test
  # fail for reasons that are not the peer's: stop there rather than list them.
  if ! unshare -U true 2>/dev/null; then
    echo "check.sh: after $name this host can no longer create user namespaces; stopping" >&2
    exit 2
  fi
  sed -n "s/^test \(.*\) \.\.\. FAILED$/$name::\1/p" "$out/$name.log" >>"$out/failed"
  sed -n "s/^test \(.*\) \.\.\. ok$/$name::\1/p" "$out/$name.log" >>"$out/passed"
  grep -h '^test result' "$out/$name.log" | sed "s/^/$name: /"
done
touch "$out/failed" "$out/passed"
sed -e 's/#.*//' -e 's/[[:space:]].*//' -e '/^$/d' "$list" | sort -u >"$out/known"
sort -u "$out/failed" -o "$out/failed"
sort -u "$out/passed" -o "$out/passed"

unexpected=$(comm -23 "$out/failed" "$out/known")
stale=$(comm -12 "$out/passed" "$out/known")
echo "$peer: $(wc -l <"$out/passed") passed, $(wc -l <"$out/failed") failed, $(comm -12 "$out/failed" "$out/known" | wc -l) of them listed"
[ -z "$stale" ] || printf 'listed but passed (stale entry or flaky):\n%s\n' "$stale"
if [ -n "$unexpected" ]; then
  printf 'FAILED and not listed in %s:\n%s\n' "$list" "$unexpected"
  exit 1
fi
