"""Release binaries, built, at the path cargo reports: wherever cargo puts them
(CARGO_TARGET_DIR or a target-dir in a cargo config file is followed, never assumed)."""
import json, subprocess


def release(root, *bins):
    """Builds `bins` ((package, binary) pairs) in release mode; their paths, by binary name."""
    args = ["cargo", "build", "--release", "-q", "--message-format=json-render-diagnostics"]
    for package, name in bins:
        args += ["-p", package, "--bin", name]
    out = subprocess.run(args, cwd=root, check=True, capture_output=True, text=True).stdout
    paths = {}
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            paths[msg["target"]["name"]] = msg["executable"]
    return paths
