#!/usr/bin/env bash
# The README's main command: make the samples with pki itself (samples/make.sh), then diagnose
# every sample store at the samples' fixed instant, checking each verdict against
# samples/out/expected.tsv, and show the full diagnosis of one broken store.
set -euo pipefail
cd "$(dirname "$0")/.."
AT=2026-03-01T00:00:00Z
PKI=$(bash samples/pki-path.sh)   # wherever cargo puts it (CARGO_TARGET_DIR included)
PKI=$PKI bash samples/make.sh samples/out

status=0
while IFS=$'\t' read -r name exit code; do
  out=$(NO_COLOR=1 "$PKI" diagnose "samples/out/stores/$name" --at "$AT") && rc=0 || rc=$?
  line=${out%%$'\n'*}
  printf '%-20s exit %s  %s\n' "$name" "$rc" "$line"
  if [ "$rc" != "$exit" ]; then
    echo "  !! expected exit $exit ($code)" >&2
    status=1
  fi
done < samples/out/expected.tsv

echo
echo "== pki diagnose samples/out/stores/ca-rotated --at $AT"
"$PKI" diagnose samples/out/stores/ca-rotated --at "$AT" || true
exit $status
