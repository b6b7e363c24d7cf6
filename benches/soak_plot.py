#!/usr/bin/env python3
"""Draws a soak's samples (benches/soak writes them): memory, descriptors and threads,
CLOSE_WAIT sockets, the inventory's files, and the request rate, against time, with the
phases marked. Needs matplotlib (.venv: .venv/bin/pip install matplotlib).

    .venv/bin/python benches/soak_plot.py benches/results/soak.csv benches/results/soak.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    rows = list(csv.DictReader(open(src)))
    if not rows:
        sys.exit(f"{src}: no samples")
    t = [float(r["t_s"]) for r in rows]
    f = lambda k, scale=1.0: [float(r[k]) * scale for r in rows]  # noqa: E731
    req = f("requests")
    rate = [0.0] + [(req[i] - req[i - 1]) / max(t[i] - t[i - 1], 1e-9) for i in range(1, len(rows))]

    fig, ax = plt.subplots(4, 1, figsize=(14, 11), sharex=True)
    ax[0].plot(t, f("rss_anon_kib", 1 / 1024), label="RssAnon")
    ax[0].plot(t, f("vm_hwm_kib", 1 / 1024), label="VmHWM", linestyle="--")
    ax[0].set_ylabel("MiB")
    ax[1].plot(t, f("fds"), label="open fds")
    ax[1].plot(t, f("threads"), label="threads")
    ax[1].plot(t, f("close_wait"), label="CLOSE_WAIT sockets")
    ax[1].set_ylabel("count")
    ax[2].plot(t, f("db_bytes", 1 / 1048576), label="inventory.sqlite")
    ax[2].plot(t, f("wal_bytes", 1 / 1048576), label="WAL")
    ax[2].set_ylabel("MiB")
    ax[3].plot(t, rate, label="requests/s (honest + hostile)", linewidth=0.6)
    ax[3].set_ylabel("per second")
    ax[3].set_xlabel("seconds")

    # the phases: shaded spans, named once at the top
    spans = []
    for i, r in enumerate(rows):
        if not spans or spans[-1][0] != r["phase"]:
            spans.append([r["phase"], t[i], t[i]])
        spans[-1][2] = t[i]
    colours = {"idle": "#dddddd", "hostile": "#f6d5d5", "nofile": "#f3c27a", "warm": "#d5e5f6"}
    for name, a, b in spans:
        c = next((v for k, v in colours.items() if name.startswith(k)), None)
        for x in ax:
            if c:
                x.axvspan(a, b, color=c, alpha=0.5, linewidth=0)
        ax[0].text((a + b) / 2, 1.01, name.replace("hostile-", "h"), rotation=90, fontsize=6,
                   ha="center", va="bottom", transform=ax[0].get_xaxis_transform())
    for x in ax:
        x.legend(loc="upper left", fontsize=8)
        x.grid(alpha=0.3)
    fig.suptitle("pki serve under the soak (phases: blue warm-up, red hostile, orange open-file limit 256, grey idle)",
                 y=0.995, fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=90)
    print(f"drawn: {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
