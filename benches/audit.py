#!/usr/bin/env python3
"""Speed of `pki audit` over a fleet, against pyca/cryptography's own verifier and `openssl
verify`, in the same run, and whether they agree on which stores are accepted.

  .venv/bin/python benches/audit.py [--stores 10000] [--scale 100000]

The fleet is made with pyca/cryptography: a root, an issuing CA, N stores (store.yaml,
device.crt, device.key, chain.pem, trust.pem), 3% broken: 1% expired, 1% key mismatch, 1%
chain missing. Then:
  * `pki audit FLEET --format json` (release build): wall time and peak memory;
  * pyca: `PolicyBuilder().store(...).time(at).build_client_verifier()` once, then per store
    read the files, verify the chain, compare the key's public key with the certificate's;
  * `openssl verify -purpose sslclient` on all leaves in one process (one -untrusted bundle
    for the fleet, so it cannot see a missing chain; its agreement is on the other stores).
Then the floor: `cargo bench -p pki-core --bench floor`, the per-store cryptography no audit
can skip (load the key, which derives its public half; check the certificate's signature), on
all cores. With --scale N, peak memory of `pki audit` on fleets of 10,000 and N stores made by
`make-samples` (pki's own generator, much faster than pyca's), to show how memory grows.
Prints wall times, ratios and the agreement. Numbers only: nothing here asserts a time.
"""
import argparse, datetime, json, os, resource, subprocess, sys, tempfile, time
import built  # benches/built.py: where cargo put the binaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AT = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)


def make_fleet(fleet, n):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca_cert(subject_key, cn, issuer_key, issuer_name, path_len):
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer_name)
             .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(AT - datetime.timedelta(days=365)).not_valid_after(AT + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False))
        if issuer_key is not subject_key:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_cert(root_key, "Bench Root", root_key, name("Bench Root"), None)
    ica_key = ec.generate_private_key(ec.SECP256R1())
    ica = ca_cert(ica_key, "Bench Issuing", root_key, root.subject, 0)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    expected = {}
    for i in range(n):
        dev = f"dev-{i:05}"
        d = os.path.join(fleet, dev)
        os.makedirs(d)
        key = ec.generate_private_key(ec.SECP256R1())
        broken = i % 100
        not_after = AT - datetime.timedelta(days=2) if broken == 1 else AT + datetime.timedelta(days=300)
        leaf = (x509.CertificateBuilder().subject_name(name(dev)).issuer_name(ica.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(AT - datetime.timedelta(days=60)).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"{dev}.devices.fleet.internal")]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ica_key.public_key()), critical=False)
                .sign(ica_key, hashes.SHA256()))
        if broken == 2:
            key = ec.generate_private_key(ec.SECP256R1())
        files = {
            "store.yaml": f"schema: 1\ndevice_id: {dev}\npolicy: device\n".encode(),
            "device.crt": pem(leaf),
            "device.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            "chain.pem": b"" if broken == 3 else pem(ica),
            "trust.pem": pem(root),
        }
        for f, b in files.items():
            with open(os.path.join(d, f), "wb") as fh:
                fh.write(b)
        os.chmod(os.path.join(d, "device.key"), 0o600)
        expected[dev] = broken not in (1, 2, 3)
    return expected, pem(root), pem(ica)


def pyca_audit(fleet):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.verification import PolicyBuilder, Store
    verdicts = {}
    verifier = None
    for dev in sorted(os.listdir(fleet)):
        d = os.path.join(fleet, dev)
        rd = lambda f: open(os.path.join(d, f), "rb").read()
        if verifier is None:
            verifier = PolicyBuilder().store(Store(x509.load_pem_x509_certificates(rd("trust.pem")))).time(AT).build_client_verifier()
        leaf = x509.load_pem_x509_certificate(rd("device.crt"))
        chain = rd("chain.pem")
        inter = x509.load_pem_x509_certificates(chain) if chain.strip() else []
        key = serialization.load_pem_private_key(rd("device.key"), None)
        try:
            verifier.verify(leaf, inter)
            ok = True
        except Exception:
            ok = False
        same = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
            leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        verdicts[dev] = ok and same
    return verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", type=int, default=10000)
    ap.add_argument("--scale", type=int, default=0, help="also measure peak memory at this many stores")
    a = ap.parse_args()
    pki = built.release(ROOT, ("pki-cli", "pki"))["pki"]
    with tempfile.TemporaryDirectory() as tmp:
        fleet = os.path.join(tmp, "fleet")
        t0 = time.perf_counter()
        expected, root_pem, ica_pem = make_fleet(fleet, a.stores)
        print(f"fleet of {a.stores} stores made with pyca/cryptography in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        rss_file = os.path.join(tmp, "rss")
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, pki, "audit", fleet, "--at", "2026-03-01T00:00:00Z", "--format", "json"], capture_output=True)
        pki_wall = time.perf_counter() - t0
        peak_mib = int(open(rss_file).read().split()[-1]) / 1024
        report = json.loads(out.stdout)
        pki_ok = {os.path.basename(s["path"]): s["verdict"] == "accepted" for s in report["stores"]}

        t0 = time.perf_counter()
        pyca_ok = pyca_audit(fleet)
        pyca_wall = time.perf_counter() - t0

        with open(os.path.join(tmp, "trust.pem"), "wb") as f:
            f.write(root_pem)
        with open(os.path.join(tmp, "chain.pem"), "wb") as f:
            f.write(ica_pem)
        leaves = [os.path.join(fleet, d, "device.crt") for d in sorted(os.listdir(fleet))]
        t0 = time.perf_counter()
        out = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-attime", str(int(AT.timestamp())),
                              "-CAfile", os.path.join(tmp, "trust.pem"), "-untrusted", os.path.join(tmp, "chain.pem")] + leaves,
                             capture_output=True, text=True)
        openssl_wall = time.perf_counter() - t0
        openssl_ok = {}
        for l in (out.stdout + out.stderr).splitlines():
            path = l.split(": ")[0].removeprefix("error ")
            if path.endswith("device.crt"):
                dev = os.path.basename(os.path.dirname(path))
                openssl_ok[dev] = openssl_ok.get(dev, True) and l.endswith(": OK")

        agree_pyca = sum(pki_ok[d] == pyca_ok[d] for d in expected)
        chain_present = [d for d in expected if int(d[4:]) % 100 not in (2, 3)]
        agree_openssl = sum(pki_ok[d] == openssl_ok.get(d) for d in chain_present)
        print(f"pki audit:            {pki_wall:6.2f} s wall, peak RSS {peak_mib:.0f} MiB")
        print(f"pyca verifier loop:   {pyca_wall:6.2f} s wall  -> pki is {pyca_wall / pki_wall:.1f}x faster")
        print(f"openssl verify (one process, chain only): {openssl_wall:6.2f} s wall  -> pki is {openssl_wall / pki_wall:.1f}x faster")
        print(f"accepted: pki {sum(pki_ok.values())}, pyca {sum(pyca_ok.values())}, expected {sum(expected.values())}")
        print(f"agreement pki/pyca: {agree_pyca}/{len(expected)}; pki/openssl on stores with their chain and key: {agree_openssl}/{len(chain_present)}")

    floor = subprocess.run(["cargo", "bench", "-q", "-p", "pki-core", "--bench", "floor", "--", str(a.stores)],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    floor_s = float(floor[1])
    print(f"floor (key load + one P-256 verify per store, all cores): {floor_s:6.2f} s  -> pki is {pki_wall / floor_s:.1f}x the floor;"
          f" 10x the pyca loop would be {pyca_wall / 10:.2f} s")

    if a.scale:
        make = built.release(ROOT, ("pki-tests", "make-samples"))["make-samples"]
        for n in (a.stores, a.scale):
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run([make, tmp, "--fleet", str(n)], check=True)
                rss_file = os.path.join(tmp, "rss")
                t0 = time.perf_counter()
                subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, pki, "audit", os.path.join(tmp, "fleet"),
                                "--at", "2026-03-01T00:00:00Z", "--format", "json"], stdout=subprocess.DEVNULL)
                wall = time.perf_counter() - t0
                peak = int(open(rss_file).read().split()[-1]) / 1024
                print(f"pki audit on {n:>7} make-samples stores: {wall:6.2f} s wall, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
