#!/usr/bin/env bash
# Builds `pki` (debug) and prints the path of the binary, wherever cargo put it: cargo reports
# it itself, so CARGO_TARGET_DIR or a target-dir in a cargo config file are followed.
#   PKI=$(bash samples/pki-path.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
path=$(cargo build -q -p pki-cli --bin pki --message-format=json-render-diagnostics \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [ -z "$path" ] || [ ! -x "$path" ]; then
  echo "pki-path.sh: cargo built pki but did not say where" >&2
  exit 1
fi
printf '%s\n' "$path"
