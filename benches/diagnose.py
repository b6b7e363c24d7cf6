#!/usr/bin/env python3
"""Speed of `pki diagnose` against `openssl verify` on the same files, in the same run.

  python3 benches/diagnose.py [--stores 1000] [--repeat 200]

Builds the release binary, makes a fleet of N stores, then measures
  1. one store, diagnosed `repeat` times: wall and process (user+sys) time per call,
  2. the whole fleet, one process per store,
for `pki diagnose STORE` and for `openssl verify -purpose sslclient -CAfile trust.pem
-untrusted chain.pem device.crt` on the same store files, and prints the ratios.
pki does more per call than openssl verify (key possession proof, lints, explanation);
the ratio says what that costs. Numbers only: nothing here asserts a time.
"""
import argparse, os, resource, subprocess, sys, tempfile, time
import built  # benches/built.py: where cargo put the binaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AT = "2026-03-01T00:00:00Z"
AT_EPOCH = "1772323200"


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(cmds):
    """Runs each command once; returns (wall seconds, child CPU seconds)."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, children_cpu() - cpu0


def pki_cmd(pki, store):
    return [pki, "diagnose", store, "--at", AT, "--format", "json"]


def openssl_cmd(store):
    return ["openssl", "verify", "-purpose", "sslclient", "-attime", AT_EPOCH,
            "-CAfile", os.path.join(store, "trust.pem"),
            "-untrusted", os.path.join(store, "chain.pem"), os.path.join(store, "device.crt")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=200)
    a = ap.parse_args()
    bins = built.release(ROOT, ("pki-cli", "pki"), ("pki-tests", "make-samples"))
    pki = bins["pki"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([bins["make-samples"], tmp,
                        "--fleet", str(a.stores)], check=True)
        fleet = os.path.join(tmp, "fleet")
        stores = sorted(os.path.join(fleet, s) for s in os.listdir(fleet))
        one = stores[0]
        print(f"one store, {a.repeat} calls each (per call):")
        pw, pc = measure([pki_cmd(pki, one)] * a.repeat)
        ow, oc = measure([openssl_cmd(one)] * a.repeat)
        print(f"  pki diagnose     wall {1e3*pw/a.repeat:7.2f} ms   process {1e3*pc/a.repeat:7.2f} ms")
        print(f"  openssl verify   wall {1e3*ow/a.repeat:7.2f} ms   process {1e3*oc/a.repeat:7.2f} ms")
        print(f"  ratio openssl/pki: wall {ow/pw:.2f}x, process {oc/pc:.2f}x")
        print(f"{len(stores)} stores, one process each:")
        pw, pc = measure([pki_cmd(pki, s) for s in stores])
        ow, oc = measure([openssl_cmd(s) for s in stores])
        print(f"  pki diagnose     wall {pw:7.2f} s   process {pc:7.2f} s")
        print(f"  openssl verify   wall {ow:7.2f} s   process {oc:7.2f} s")
        print(f"  ratio openssl/pki: wall {ow/pw:.2f}x, process {oc/pc:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
