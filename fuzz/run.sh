#!/usr/bin/env bash
# Fuzz every target for SECONDS each (default 300): seeds the corpora from the PKI the tests
# build, then runs `cargo +nightly fuzz run TARGET` on each in turn. Crashes land in
# fuzz/artifacts/TARGET/; each becomes a regression test in the normal suite.
#   bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(decode der_objects policy_yaml manifest_yaml journal_lines csr_sign diagnose)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo run -q -p pki-tests --bin fuzz-seeds -- fuzz/corpus
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s"
  (cd fuzz && cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1)
done
