#!/usr/bin/env bash
# An independent EST client: curl and openssl only (pki is used on the CA side alone: making
# the CA, tokens, a revocation and a rotation) drive a `pki serve` on 127.0.0.1 through every
# route and every refusal, and check each answer with openssl.
#
#   bash tests/est/curl.sh PKI_BINARY WORK_DIR
#
# Nothing reads the wall clock: the server's clock is fixed at T (pki serve --at), curl runs
# under faketime (Debian's `faketime`, libfaketime) with its clock starting at T, so it checks
# the server's certificate (issued at T for the default 30 days) at T, with verification on;
# openssl verify is given T with -attime.
# Exit 0 when every check passed; the first failure is printed with the server's last log
# lines. Prints SKIPPED for promtool when it is missing (FAIL under CI=true).
set -euo pipefail

PKI=${1:?usage: curl.sh PKI_BINARY WORK_DIR}
W=${2:?usage: curl.sh PKI_BINARY WORK_DIR}
T=2026-03-01T00:00:00Z
ATTIME=1772323200 # T in Unix seconds, for openssl verify -attime
mkdir -p "$W"
cd "$W"

LOG="$W/serve.log"
fail() {
  echo "FAIL: $*" >&2
  if [ -f "$LOG" ]; then
    echo "--- last lines of the server's log:" >&2
    tail -n 25 "$LOG" >&2
  fi
  exit 1
}
pass() { echo "ok: $*"; }
# expect NAME WANTED GOT
expect() { [ "$2" = "$3" ] || fail "$1: wanted '$2', got '$3'"; pass "$1 ($3)"; }

# --- the CA, two years before T, with a renewal grace of 7 days ---------------------------
cat >policy.yaml <<'EOF'
name: device-with-grace
key_algorithm: ecdsa-p256
accepted_keys: [ecdsa-p256, ecdsa-p384, ed25519]
min_rsa_bits: 2048
lifetime_days: 365
backdate_minutes: 60
renewal:
  fraction: 0.6667
  before_days: 14
  jitter_percent: 5
  grace_days: 7
subject:
  common_name: "{device_id}"
  organization: Fleet Devices
san:
  dns: ["{device_id}.devices.fleet.internal"]
  uri: ["https://fleet.internal/devices/{device_id}"]
signature_algorithms: [ecdsa-with-SHA256, ecdsa-with-SHA384, Ed25519]
extended_key_usage: [clientAuth]
key_usage: [digitalSignature]
crl_validity_days: 7
leaf_not_after: truncate
clock_skew_hours: 24
EOF
"$PKI" ca init ca --name Fleet --policy policy.yaml --at 2024-03-01T00:00:00Z >/dev/null
TRUST="$W/ca/trust.pem"

# a key and a PKCS#10 request (DER) for CN=$2 into $1.key, $1.csr
request() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "/CN=$2" -outform DER -out "$1.csr" 2>/dev/null
}

# certificates that expired before T: signed 366 days before T (expired 1 day ago, in grace)
# and 395 days before T (30 days ago, past grace); their chain is the CA's bundle
for pair in "grace 2025-02-28T00:00:00Z" "old 2025-01-30T00:00:00Z"; do
  set -- $pair
  request "$1" "dev-$1"
  "$PKI" ca sign --ca ca "$1.csr" --at "$2" >"$1.crt"
  cat "$1.crt" ca/chain.pem >"$1.full"
done

# --- the server --------------------------------------------------------------------------
cat >serve.yaml <<'EOF'
reload_interval_seconds: 1
body_limit_bytes: 16384
EOF
"$PKI" serve --ca ca --listen 127.0.0.1:0 --name localhost --at "$T" --config serve.yaml \
  >serve.out 2>"$LOG" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q 'listening on' serve.out 2>/dev/null && break
  sleep 0.1
done
PORT=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' serve.out)
[ -n "$PORT" ] || fail "the server did not start"
URL="https://localhost:$PORT"
EST="$URL/.well-known/est"
pass "pki serve listening on $PORT"

# curl's clock starts at T (and runs on from there); its timeouts keep the real monotonic clock
at_t() {
  TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "@$(date -u -d "$T" '+%F %T')" "$@"
}
command -v faketime >/dev/null || fail "faketime is missing (Debian's faketime package)"
now=$(at_t date -u +%s 2>&1) || fail "faketime cannot run: $now"
[ "$now" -ge "$ATTIME" ] 2>/dev/null && [ "$((now - ATTIME))" -lt 600 ] ||
  fail "faketime does not put the clock at $T (date says '$now')"
# every request verifies the server against the CA's trust bundle, at T
c() { at_t curl --silent --show-error --cacert "$TRUST" "$@"; }
# status of a request whose body goes to $OUT
OUT="$W/body"
status() { c -o "$OUT" -w '%{http_code}' "$@" || true; }

# --- cacerts, csrattrs -------------------------------------------------------------------
ct=$(c -o cacerts.b64 -w '%{content_type}' "$EST/cacerts")
expect "cacerts content type" "application/pkcs7-mime; smime-type=certs-only" "$ct"
openssl base64 -d -in cacerts.b64 | openssl pkcs7 -inform DER -print_certs -out cacerts.pem
grep -q 'CN = Fleet Root CA' cacerts.pem || fail "cacerts lacks the root"
grep -q 'CN = Fleet Issuing CA' cacerts.pem || fail "cacerts lacks the issuing CA"
pass "cacerts decodes with openssl pkcs7 -print_certs: root and issuing CA"
expect "csrattrs" 200 "$(status "$EST/csrattrs")"
openssl base64 -d -in "$OUT" | openssl asn1parse -inform DER | grep -q prime256v1 ||
  fail "csrattrs does not ask for a P-256 key"
pass "csrattrs asks for a P-256 key"

# --- simpleenroll: three encodings of the body, Content-Transfer-Encoding present ----------
# DEVICE_ID:SECRET: the HTTP Basic credentials simpleenroll takes, as they are (curl -u)
token() { "$PKI" ca token --ca ca --device-id "$1" --at "${2:-$T}" ${3:+--ttl $3} 2>/dev/null; }
# the issued certificate of a certs-only answer in $OUT into $1.crt, checked by openssl verify
issued() {
  openssl base64 -d -in "$OUT" | openssl pkcs7 -inform DER -print_certs -out "$1.crt" ||
    fail "$1: the answer is not a PKCS#7 certs-only message"
  openssl verify -attime "$ATTIME" -purpose sslclient -CAfile "$TRUST" -untrusted ca/chain.pem \
    "$1.crt" >/dev/null || fail "$1: openssl verify -purpose sslclient refuses the certificate"
  cat "$1.crt" ca/chain.pem >"$1.full"
}
enroll() { # NAME USER:SECRET BODYFILE
  status -u "$2" -H 'Content-Type: application/pkcs10' \
    -H 'Content-Transfer-Encoding: base64' --data-binary @"$3" "$EST/simpleenroll"
}
for enc in wrapped single crlf; do
  request "$enc" "dev-$enc"
  case $enc in
    wrapped) openssl base64 -in "$enc.csr" >"$enc.b64" ;;
    single) openssl base64 -A -in "$enc.csr" >"$enc.b64" ;;
    crlf) openssl base64 -in "$enc.csr" | sed 's/$/\r/' >"$enc.b64" ;;
  esac
  tok=$(token "dev-$enc")
  [ "${tok%%:*}" = "dev-$enc" ] || fail "the token does not name its device: $tok"
  expect "simpleenroll, $enc base64" 200 "$(enroll "$enc" "$tok" "$enc.b64")"
  issued "$enc"
  pass "dev-$enc's certificate passes openssl verify -purpose sslclient"
  [ "$enc" = wrapped ] && WRAPPED_TOKEN=$tok
  [ "$enc" = crlf ] && CRLF_TOKEN=$tok
done
grep -q 'CN = dev-wrapped' <(openssl x509 -in wrapped.crt -noout -subject -nameopt oneline) ||
  fail "the certificate does not name dev-wrapped"

# --- simpleenroll refusals -----------------------------------------------------------------
# a used token and the same request (its answer lost): the same certificate, sent again
expect "a used token, the same request" 200 "$(enroll wrapped "$WRAPPED_TOKEN" wrapped.b64)"
issued wrapped-again
expect "the certificate sent again" "$(openssl x509 -in wrapped.crt -noout -serial)" \
  "$(openssl x509 -in wrapped-again.crt -noout -serial)"
# ... but to nobody without its key: another key, or the request's signature broken
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout reused.key \
  -subj "/CN=dev-wrapped" -outform DER -out reused.csr 2>/dev/null
openssl base64 -in reused.csr >reused.b64
expect "a reused token, another key" 401 "$(enroll reused "$WRAPPED_TOKEN" reused.b64)"
# one bit flipped inside the signature's last INTEGER (the DER stays well formed)
size=$(wc -c <wrapped.csr)
byte=$(od -An -tu1 -j $((size - 3)) -N1 wrapped.csr | tr -d ' ')
{ head -c $((size - 3)) wrapped.csr; printf "\\$(printf '%03o' $((byte ^ 1)))"; tail -c 2 wrapped.csr; } >forged.csr
openssl base64 -in forged.csr >forged.b64
expect "a reused token, the request's signature broken" 400 "$(enroll forged "$WRAPPED_TOKEN" forged.b64)"
grep -q 'signature does not verify' "$OUT" || fail "the broken signature is not named: $(cat "$OUT")"
hdr=$(c -D - -o /dev/null -u "$WRAPPED_TOKEN" --data-binary @reused.b64 "$EST/simpleenroll" | tr -d '\r' | grep -i '^www-authenticate:' || true)
[ -n "$hdr" ] || fail "401 without WWW-Authenticate"
pass "401 carries $hdr"
request late dev-late
openssl base64 -in late.csr >late.b64
tok=$(token dev-late 2026-02-27T00:00:00Z 1h)
expect "an expired token" 401 "$(enroll late "$tok" late.b64)"
expect "no credentials" 401 "$(status --data-binary @late.b64 "$EST/simpleenroll")"
tok=$(token dev-other)
expect "a request naming another device than its token" 403 "$(enroll late "$tok" late.b64)"
expect "a token's secret under another device id" 401 "$(enroll late "dev-late:${tok#*:}" late.b64)"
printf 'not base64 at all!\n' >garbage.txt
tok=$(token dev-garbage)
expect "a body that is not base64" 400 "$(enroll garbage "$tok" garbage.txt)"
head -c 300 /dev/urandom | openssl base64 >garbage.b64
expect "garbage DER" 400 "$(enroll garbage "$tok" garbage.b64)"

# --- simplereenroll --------------------------------------------------------------------------
reenroll() { # CERT(full) KEY BODY
  status --cert "$1" --key "$2" -H 'Content-Type: application/pkcs10' --data-binary @"$3" \
    "$EST/simplereenroll"
}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout renew1.key \
  -subj "/O=Fleet Devices/CN=dev-wrapped" -outform DER -out renew1.csr 2>/dev/null
openssl base64 -in renew1.csr >renew1.b64
expect "simplereenroll with the current certificate" 200 "$(reenroll wrapped.full wrapped.key renew1.b64)"
issued renew1
[ "$(openssl x509 -in renew1.crt -noout -serial)" != "$(openssl x509 -in wrapped.crt -noout -serial)" ] ||
  fail "the renewal has the old serial"
pass "the renewed certificate passes openssl verify and has a new serial"
expect "simplereenroll without a client certificate" 403 "$(status --data-binary @renew1.b64 "$EST/simplereenroll")"
openssl req -new -key renew1.key -subj "/CN=someone-else" -outform DER 2>/dev/null | openssl base64 >changed.b64
expect "simplereenroll with a changed subject" 403 "$(reenroll single.full single.key changed.b64)"
openssl req -new -key single.key -subj "/CN=dev-single" -outform DER 2>/dev/null | openssl base64 >samekey.b64
expect "simplereenroll with the current key (the policy wants a new one)" 403 "$(reenroll single.full single.key samekey.b64)"
head -c 20000 /dev/zero | openssl base64 >big.b64
expect "an oversize body" 413 "$(reenroll single.full single.key big.b64)"
expect "garbage DER to simplereenroll" 400 "$(reenroll single.full single.key garbage.b64)"

# --- grace: expired a day ago renews, expired 30 days ago is refused in the handshake ------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout grace2.key \
  -subj "/CN=dev-grace" -outform DER 2>/dev/null | openssl base64 >grace2.b64
expect "renewal one day after expiry (grace 7 days)" 200 "$(reenroll grace.full grace.key grace2.b64)"
issued grace2
grep -q 'in its grace period' "$LOG" || fail "the log does not say the renewal was in grace"
pass "the log names the renewal in grace"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout old2.key \
  -subj "/CN=dev-old" -outform DER 2>/dev/null | openssl base64 >old2.b64
code=$(reenroll old.full old.key old2.b64)
[ "$code" = 000 ] || fail "a certificate expired 30 days ago got HTTP $code, not a refused handshake"
old_serial=$(openssl x509 -in old.crt -noout -serial | cut -d= -f2 | sed 's/../&:/g; s/:$//')
grep 'client certificate rejected' "$LOG" | grep "$old_serial" | grep -q 'code=CERT_EXPIRED' ||
  fail "the log does not explain the expired certificate $old_serial"
pass "30 days past expiry: handshake refused, the log says CERT_EXPIRED for $old_serial"

# --- a foreign CA's certificate --------------------------------------------------------------
"$PKI" ca init foreign-ca --name Foreign --at 2024-03-01T00:00:00Z >/dev/null
request foreign dev-foreign
"$PKI" ca sign --ca foreign-ca foreign.csr --at "$T" >foreign.crt
cat foreign.crt foreign-ca/chain.pem >foreign.full
code=$(reenroll foreign.full foreign.key renew1.b64)
[ "$code" = 000 ] || fail "a foreign CA's certificate got HTTP $code, not a refused handshake"
grep 'client certificate rejected' "$LOG" | grep 'dev-foreign' | grep -q 'code=UNKNOWN_ISSUER' ||
  fail "the log does not explain the foreign certificate"
pass "a foreign CA's certificate: handshake refused, the log says UNKNOWN_ISSUER"

# --- a revocation while the server runs ----------------------------------------------------------
serial=$(openssl x509 -in crlf.crt -noout -serial | cut -d= -f2)
"$PKI" ca revoke --ca ca "$serial" --reason keyCompromise --at "$T" >/dev/null
sleep 2.5
openssl req -new -key crlf.key -subj "/CN=dev-crlf" -outform DER 2>/dev/null | openssl base64 >crlf2.b64
code=$(reenroll crlf.full crlf.key crlf2.b64)
[ "$code" = 000 ] || fail "a revoked certificate got HTTP $code, not a refused handshake"
colon=$(echo "$serial" | sed 's/../&:/g; s/:$//')
grep 'client certificate rejected' "$LOG" | grep "$colon" | grep -q 'code=REVOKED' ||
  fail "the log does not explain the revoked certificate"
pass "revoked while running: the next handshake is refused, the log says REVOKED"
expect "a used token whose certificate was revoked, the same request" 401 \
  "$(enroll crlf "$CRLF_TOKEN" crlf.b64)"
expect "/crl" 200 "$(status "$URL/crl")"
openssl crl -inform DER -in "$OUT" -noout -text | grep -q "$serial" || fail "/crl does not list $serial"
pass "/crl (DER) lists the revoked serial"

# --- a rotation while the server runs ----------------------------------------------------------
"$PKI" ca rotate --ca ca --at "$T" >/dev/null
sleep 2.5
c -o cacerts2.b64 "$EST/cacerts"
n=$(openssl base64 -d -in cacerts2.b64 | openssl pkcs7 -inform DER -print_certs | grep -c '^subject=')
expect "cacerts after the rotation holds the root and both issuing CAs" 3 "$n"
request rotated dev-rotated
openssl base64 -in rotated.csr >rotated.b64
tok=$(token dev-rotated)
expect "simpleenroll after the rotation" 200 "$(enroll rotated "$tok" rotated.b64)"
openssl base64 -d -in "$OUT" | openssl pkcs7 -inform DER -print_certs -out rotated.crt
openssl verify -attime "$ATTIME" -purpose sslclient -CAfile "$TRUST" -untrusted ca/issuing-2.crt rotated.crt >/dev/null ||
  fail "the certificate issued after the rotation is not from the new issuing CA"
if openssl verify -attime "$ATTIME" -CAfile "$TRUST" -untrusted ca/issuing-1.crt rotated.crt >/dev/null 2>&1; then
  fail "the certificate issued after the rotation verifies under the old issuing CA"
fi
pass "after the rotation, new certificates come from issuing-2"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout single2.key \
  -subj "/CN=dev-single" -outform DER 2>/dev/null | openssl base64 >single2.b64
expect "a device of the old issuing CA still renews (overlap)" 200 "$(reenroll single.full single.key single2.b64)"

# --- the rest: health, metrics, unknown paths, methods --------------------------------------------
expect "/healthz" 200 "$(status "$URL/healthz")"
grep -q '"status":"ok"' "$OUT" || fail "/healthz does not say ok"
expect "an unknown path" 404 "$(status "$URL/nothing")"
expect "GET simpleenroll" 405 "$(status "$EST/simpleenroll")"
expect "/metrics" 200 "$(status "$URL/metrics")"
cp "$OUT" metrics.txt
for code in UNKNOWN_ISSUER REVOKED CERT_EXPIRED; do
  grep -q "pki_serve_rejected_total{code=\"$code\"} [1-9]" metrics.txt ||
    fail "/metrics does not count $code"
done
pass "/metrics counts every rejection by its code"
if command -v promtool >/dev/null; then
  promtool check metrics <metrics.txt || fail "promtool check metrics refuses /metrics"
  pass "promtool check metrics"
elif [ "${CI:-}" = true ]; then
  fail "promtool is missing (CI installs Debian's prometheus)"
else
  echo "SKIPPED: promtool check metrics (promtool is not installed)"
fi

# --- a graceful stop -------------------------------------------------------------------------------
kill -TERM "$SERVER"
rc=0
wait "$SERVER" || rc=$?
trap - EXIT
expect "exit status after SIGTERM" 0 "$rc"
grep -q 'stopped' "$LOG" || fail "the log does not say the server stopped"
echo "all EST checks passed"
