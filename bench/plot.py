"""PNG: CPU µs per forwarded packet and delivery ratio against fan-out, one line per server."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STYLE = {
    "relayroom": ("tab:blue", "o"),
    "relayroom-nogso": ("tab:cyan", "v"),
    "relayroom-py": ("tab:olive", "s"),
    "janus-el1": ("tab:red", "s"),
    "janus": ("tab:orange", "^"),
}


XLABEL = {
    "fanout": "subscribers of 1 publisher (1 Mbit/s VP8 + Opus, ~170 pps each)",
    "meeting": "participants (each publishes and sees all others)",
    "audio": "participants (audio only, each hears all others)",
    "live": "audience (3 anchors)",
}


def plot(data: dict[str, Any], path: str, scenario: str = "fanout") -> str:
    rows = [r for r in data["results"] if r["scenario"] == scenario and "error" not in r]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.6))
    for server in sorted({r["server"] for r in rows}):
        rs = sorted((r for r in rows if r["server"] == server), key=lambda r: r["load"])
        color, marker = STYLE.get(server, ("gray", "x"))
        x = [r["load"] for r in rs]
        ok = [r for r in rs if r.get("us_per_pkt")]
        ax1.plot(
            [r["load"] for r in ok], [r["us_per_pkt"] for r in ok], marker=marker, color=color, label=server
        )
        ax2.plot(x, [r["cpu_pct"] for r in rs], marker=marker, color=color, label=server)
        ax3.plot(x, [100 * r["delivery"] for r in rs], marker=marker, color=color, label=server)
    ax1.set_title("server CPU µs per forwarded packet")
    ax1.set_ylim(bottom=0)
    ax2.set_title("server CPU % of one core")
    ax2.axhline(100, color="gray", lw=0.5)
    ax3.set_title("delivery %")
    ax3.axhline(99, color="gray", lw=0.5, ls="--")
    low = min((100 * r["delivery"] for r in rows), default=99.0)
    ax3.set_ylim(max(0.0, min(97.0, low - 2)), 100.5)
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel(XLABEL.get(scenario, "load"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    meta = data.get("meta", {})
    fig.suptitle(
        f"{scenario}: RelayRoom vs Janus VideoRoom, server pinned to one core — {meta.get('date', '')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
