#!/usr/bin/env bash
# Makes the shipped samples with pki itself: a sample CA, healthy stores, one broken store per
# common failure, a foreign folder and a fleet of 50 stores, all at fixed instants, and
# expected.tsv (store, exit code, first finding) for judging them at 2026-03-01T00:00:00Z.
#   bash samples/make.sh [OUT]      (PKI=path/to/pki; default: built, wherever cargo puts it)
set -euo pipefail
OUT=${1:-samples/out}
PKI=${PKI:-$(bash "$(dirname "$0")/pki-path.sh")}
AT=2026-03-01T00:00:00Z
CA=$OUT/ca
S=$OUT/stores
rm -rf "$OUT"
mkdir -p "$S" "$OUT/fleet"
q() { "$PKI" "$@" >/dev/null; }
expect() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$OUT/expected.tsv"; }
enroll() { q enroll "$1" --ca "$CA" --device-id "$2" --at "$3" "${@:4}"; }
new_key() { # a key another installer made, not the toolkit
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

q ca init "$CA" --name "Sample Fleet" --at 2025-06-01T00:00:00Z
sed 's/^lifetime_days: 365/lifetime_days: 30/' "$CA/policy.yaml" > "$OUT/short-lived.yaml"

enroll "$S/healthy" device-0001 2026-02-01T00:00:00Z;            expect healthy 0 -
enroll "$S/healthy-2" device-0002 2026-02-15T00:00:00Z;          expect healthy-2 0 -
# enrolled 8.5 months ago: past 2/3 of its year, inside the renewal window
enroll "$S/expiring" device-0003 2025-06-15T00:00:00Z;           expect expiring 1 CERT_EXPIRING_SOON
enroll "$S/expired" device-0004 2026-01-01T00:00:00Z --policy "$OUT/short-lived.yaml"
expect expired 2 CERT_EXPIRED
# a re-run installer made a new key and left the old one beside it
enroll "$S/key-swapped" device-0005 2026-02-01T00:00:00Z
mv "$S/key-swapped/device.key" "$S/key-swapped/device.key.old"
new_key "$S/key-swapped/device.key";                             expect key-swapped 2 KEY_MISMATCH
enroll "$S/chain-missing" device-0006 2026-02-01T00:00:00Z
: > "$S/chain-missing/chain.pem";                                expect chain-missing 2 CHAIN_INCOMPLETE
enroll "$S/revoked" device-0008 2026-02-01T00:00:00Z
serial=$("$PKI" inspect "$S/revoked/device.crt" --format json | sed -n 's/.*"serial": "\(.*\)".*/\1/p' | head -n 1)
q ca revoke --ca "$CA" "$serial" --reason keyCompromise --at 2026-02-20T00:00:00Z
q ca crl --ca "$CA" --at 2026-02-20T00:00:00Z
mkdir -p "$S/revoked/crl" && cp "$CA/crl/issuing-1.crl" "$S/revoked/crl/";   expect revoked 2 REVOKED
# issued two hours "later" than the endpoint's clock says it is
enroll "$S/clock-skew" device-0009 2026-03-01T02:00:00Z;         expect clock-skew 2 CERT_NOT_YET_VALID
# another agent's folder: the old, expired certificate first in the file, no store.yaml
enroll "$OUT/tmp-old" device-0010 2025-12-01T00:00:00Z --policy "$OUT/short-lived.yaml"
enroll "$OUT/tmp-new" device-0010 2026-02-01T00:00:00Z
mkdir -p "$S/stale-cert-first"
cat "$OUT/tmp-old/device.crt" "$OUT/tmp-new/device.crt" > "$S/stale-cert-first/device.crt"
cp -p "$OUT/tmp-new/device.key" "$OUT/tmp-new/chain.pem" "$OUT/tmp-new/trust.pem" "$S/stale-cert-first/"
rm -rf "$OUT/tmp-old" "$OUT/tmp-new";                            expect stale-cert-first 1 MULTIPLE_CANDIDATES
enroll "$S/world-readable-key" device-0011 2026-02-01T00:00:00Z
chmod 644 "$S/world-readable-key/device.key";                    expect world-readable-key 1 KEY_PERMISSIONS_TOO_OPEN
# a foreign folder named its own way: CRLF line ends, a BOM, a stray note
enroll "$OUT/tmp" device-0012 2026-02-01T00:00:00Z
mkdir -p "$S/foreign"
sed 's/$/\r/' "$OUT/tmp/device.crt" > "$S/foreign/client-cert.pem"
{ printf '\xef\xbb\xbf'; cat "$OUT/tmp/trust.pem" "$OUT/tmp/chain.pem"; } > "$S/foreign/ca-bundle.crt"
cp -p "$OUT/tmp/device.key" "$S/foreign/client.key"
echo "installed by the 2024 agent" > "$S/foreign/README.txt"
rm -rf "$OUT/tmp";                                               expect foreign 0 -

# the issuing CA is re-keyed (same name) with a one-day overlap; an endpoint enrolled before
# gets the new chain bundle only after the overlap: the CA it was issued by is gone
enroll "$S/ca-rotated" device-0007 2026-02-01T00:00:00Z
q ca rotate --ca "$CA" --overlap-days 1 --at 2026-02-25T00:00:00Z
q ca bundle --ca "$CA" --at "$AT"
cp "$CA/chain.pem" "$S/ca-rotated/chain.pem";                    expect ca-rotated 2 CA_ROTATED

# the fleet: 50 stores, 45 healthy; two expired, one chain missing, one key swapped, one expiring
for n in $(seq 1 50); do
  id=$(printf 'fleet-%04d' "$n"); dir="$OUT/fleet/$id"
  case $n in
    7|31) enroll "$dir" "$id" 2026-01-15T00:00:00Z --policy "$OUT/short-lived.yaml" ;;
    13) enroll "$dir" "$id" 2026-02-26T00:00:00Z; : > "$dir/chain.pem" ;;
    22) enroll "$dir" "$id" 2026-02-26T00:00:00Z; new_key "$dir/device.key" ;;
    40) enroll "$dir" "$id" 2025-06-20T00:00:00Z ;;
    *) enroll "$dir" "$id" 2026-02-26T00:00:00Z ;;
  esac
done
