#!/usr/bin/env python3
"""Speed of enrollment and of CA signing, against OpenSSL and pyca/cryptography in the same run.

  .venv/bin/python benches/enroll_sign.py [--devices 200] [--csrs 10000] [--openssl-csrs 1000]

1. `pki enroll` wall time per device (key, CSR, signing, store written with fsync), one
   process per device as installers run it.
2. `pki ca sign` on N CSRs in one call, against `openssl x509 -req` (one process per CSR, on a
   sample of them) and a pyca/cryptography loop in one Python process, as certificates/second.
The CSRs are made with pyca/cryptography (P-256). Numbers only: nothing here asserts a time.
"""
import argparse, datetime, os, subprocess, sys, tempfile, time
import built  # benches/built.py: where cargo put the binaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AT = "2026-03-01T00:00:00Z"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--csrs", type=int, default=10000)
    ap.add_argument("--openssl-csrs", type=int, default=1000)
    a = ap.parse_args()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID

    pki = built.release(ROOT, ("pki-cli", "pki"))["pki"]
    with tempfile.TemporaryDirectory() as tmp:
        ca = os.path.join(tmp, "ca")
        subprocess.run([pki, "ca", "init", ca, "--at", AT], check=True, stdout=subprocess.DEVNULL)

        t0 = time.perf_counter()
        for n in range(a.devices):
            subprocess.run([pki, "enroll", os.path.join(tmp, "stores", f"d{n}"), "--ca", ca,
                            "--device-id", f"device-{n:05}", "--at", AT], check=True, stdout=subprocess.DEVNULL)
        per = (time.perf_counter() - t0) / a.devices
        print(f"pki enroll: {1e3 * per:.1f} ms per device (wall, fsync included, {a.devices} devices)")

        csr_dir = os.path.join(tmp, "csrs")
        os.makedirs(csr_dir)
        paths = []
        for n in range(a.csrs):
            key = ec.generate_private_key(ec.SECP256R1())
            csr = x509.CertificateSigningRequestBuilder().subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"device-{n:05}")])).sign(key, hashes.SHA256())
            p = os.path.join(csr_dir, f"device-{n:05}.csr")
            with open(p, "wb") as f:
                f.write(csr.public_bytes(serialization.Encoding.PEM))
            paths.append(p)

        t0 = time.perf_counter()
        subprocess.run([pki, "ca", "sign", "--ca", ca, "--out-dir", os.path.join(tmp, "issued"), "--at", AT] + paths,
                       check=True, stdout=subprocess.DEVNULL)
        pki_rate = a.csrs / (time.perf_counter() - t0)

        sample = paths[: a.openssl_csrs]
        ext = os.path.join(tmp, "ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
        t0 = time.perf_counter()
        for n, p in enumerate(sample):
            subprocess.run(["openssl", "x509", "-req", "-in", p, "-CA", os.path.join(ca, "issuing-1.crt"),
                            "-CAkey", os.path.join(ca, "issuing-1.key"), "-set_serial", str(1000 + n), "-days", "365",
                            "-extfile", ext, "-out", os.path.join(tmp, "o.pem")], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        openssl_rate = len(sample) / (time.perf_counter() - t0)

        with open(os.path.join(ca, "issuing-1.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(ca, "issuing-1.crt"), "rb") as f:
            ca_cert = x509.load_pem_x509_certificate(f.read())
        start = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
        t0 = time.perf_counter()
        for p in paths:
            with open(p, "rb") as f:
                csr = x509.load_pem_x509_csr(f.read())
            assert csr.is_signature_valid
            cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
                    .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                    .sign(ca_key, hashes.SHA256()))
            cert.public_bytes(serialization.Encoding.PEM)
        pyca_rate = a.csrs / (time.perf_counter() - t0)

        print(f"pki ca sign ({a.csrs} CSRs, one call): {pki_rate:8.0f} certificates/s")
        print(f"openssl x509 -req ({len(sample)}, one process each): {openssl_rate:8.0f} certificates/s  -> pki is {pki_rate / openssl_rate:.1f}x")
        print(f"pyca/cryptography loop ({a.csrs}, one process): {pyca_rate:8.0f} certificates/s  -> pki is {pki_rate / pyca_rate:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
