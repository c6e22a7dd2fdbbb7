"""Turning results into the printed tables, the target evaluation and the chart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import (
    SCENARIOS,
    WEBSOCKET_FRAMEWORKS,
    WEBSOCKET_SCENARIOS,
    WS_WINDOW,
    Result,
    WebSocketResult,
    baseline_for,
)

CLOCKS = {"cpu": "process CPU time", "wall": "wall-clock time"}
SHORT = {
    "hello": "hello",
    "path_param": "param",
    "json": "json",
    "query": "query",
    "json_body": "jbody",
    "form": "form",
    "session": "session",
    "template": "tmpl",
    "not_found": "404",
    "routes_10": "r10",
    "routes_1000": "r1000",
}

# (title, protocol, views): the rows of the table, grouped by door and kind of view.
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("WSGI door, def views", "wsgi", "sync"),
    ("ASGI door, async def views", "asgi", "async"),
    ("crossed: def views through ASGI", "asgi", "sync"),
    ("crossed: async def views through WSGI", "wsgi", "async"),
)


class Table:
    """Results indexed by variant and scenario."""

    def __init__(self, results: Iterable[Result]) -> None:
        self.results = list(results)
        self.cells = {(r.variant, r.scenario): r for r in self.results}
        self.variants: list[str] = []
        for r in self.results:
            if r.variant not in self.variants:
                self.variants.append(r.variant)
        names = {r.scenario for r in self.results}
        self.scenarios = [s.name for s in SCENARIOS if s.name in names]

    def us(self, variant: str, scenario: str) -> float | None:
        """The median µs of a measured cell, or None."""
        cell = self.cells.get((variant, scenario))
        return cell.us if cell is not None and cell.status == "ok" else None

    def ratio(self, variant: str, other: str, scenario: str) -> float | None:
        """``variant``'s time divided by ``other``'s, when both were measured."""
        a, b = self.us(variant, scenario), self.us(other, scenario)
        return a / b if a is not None and b else None

    def group(self, protocol: str, views: str) -> list[str]:
        rows = []
        for name in self.variants:
            cell = next(r for r in self.results if r.variant == name)
            known = cell.protocol, cell.views
            if known == (protocol, views) or (known == ("?", "?") and _guess(name) == known):
                rows.append(name)
        # Erlen first, then the floor last, peers in between in registration order.
        return sorted(rows, key=lambda n: (not n.startswith("erlen"), n.startswith("raw")))


def _guess(variant: str) -> tuple[str, str]:
    """The door and kind of view of a variant whose module failed to import."""
    known = {
        "erlen-wsgi": ("wsgi", "sync"),
        "erlen-asgi": ("asgi", "async"),
        "erlen-asgi-sync": ("asgi", "sync"),
        "erlen-wsgi-async": ("wsgi", "async"),
        "flask": ("wsgi", "sync"),
        "flask-async": ("wsgi", "async"),
        "starlette-sync": ("asgi", "sync"),
        "falcon": ("wsgi", "sync"),
        "bottle": ("wsgi", "sync"),
        "raw-wsgi": ("wsgi", "sync"),
    }
    return known.get(variant, ("asgi", "async"))


def _cell(result: Result | None, value: str) -> str:
    if result is None:
        return "-"
    if result.status == "ok":
        return value
    return {"n/a": "n/a", "broken": "BROKEN", "error": "ERROR"}[result.status]


def format_tables(table: Table, clock: str = "cpu") -> str:
    """The µs table and the ratio table, grouped by door."""
    width = 8
    name_width = max([18, *(len(v) + 2 for v in table.variants)])
    head = " " * name_width + "".join(f"{SHORT[s]:>{width}}" for s in table.scenarios)
    out = [
        f"In-process: median µs per request, {CLOCKS[clock]} (lower is better)",
        head,
    ]
    for title, protocol, views in GROUPS:
        rows = table.group(protocol, views)
        if not rows:
            continue
        out.append(title)
        for name in rows:
            cells = []
            for s in table.scenarios:
                r = table.cells.get((name, s))
                cells.append(f"{_cell(r, f'{r.us:.1f}' if r and r.us else ''):>{width}}")
            out.append(f"  {name:<{name_width - 2}}" + "".join(cells))
    peers = [
        (title, base, [n for n in table.group(protocol, views) if n != base])
        for title, protocol, views in GROUPS
        for base in [baseline_for(protocol, views)]
    ]
    if any(rows for _, _, rows in peers):
        out += ["", "Ratio: the peer's time ÷ Erlen's on the same door and kind of view "
                "(>1: Erlen faster)", head]  # fmt: skip
    for title, base, rows in peers:
        if not rows:
            continue
        out.append(f"{title} (÷ {base})")
        for name in rows:
            cells = []
            for s in table.scenarios:
                r = table.cells.get((name, s))
                ratio = table.ratio(name, base, s)
                text = _cell(r, f"{ratio:.2f}" if ratio is not None else "-")
                cells.append(f"{text:>{width}}")
            out.append(f"  {name:<{name_width - 2}}" + "".join(cells))
    legend = ", ".join(
        f"{SHORT[s.name]} = {s.title}" for s in SCENARIOS if s.name in table.scenarios
    )
    out += ["", "Columns: " + legend]
    problems = [r for r in table.results if r.status in ("broken", "error")]
    if problems:
        out += ["", "Broken or failing (not timed):"]
        seen = set()
        for r in problems:
            key = (r.variant, r.reason)
            if r.reason.startswith("import failed") and key in seen:
                continue
            seen.add(key)
            where = (
                r.variant if r.reason.startswith("import failed") else f"{r.variant}/{r.scenario}"
            )
            out.append(f"  {where}: {r.reason}")
    skipped: dict[str, set[str]] = {}
    for r in table.results:
        if r.status == "n/a":
            skipped.setdefault(r.reason, set()).add(r.variant)
    if skipped:
        out += ["", "n/a (not native to the framework, not installed, or failed to import):"]
        for reason, names in skipped.items():
            out.append(f"  {', '.join(sorted(names))}: {reason}")
    return "\n".join(out)


# --- WebSockets ---------------------------------------------------------------------------------


def _ws_cell(result: WebSocketResult | None) -> str:
    if result is None:
        return "-"
    if result.status == "ok" and result.us and result.per_second:
        return f"{result.per_second:,.0f}/s {result.us:6.2f} µs"
    return _cell_status(result.status)


def _cell_status(status: str) -> str:
    return {"ok": "-", "n/a": "n/a", "broken": "BROKEN", "error": "ERROR"}[status]


def format_websocket(results: Sequence[WebSocketResult], clock: str = "cpu") -> str:
    """Messages per second and µs per message for each framework, and Erlen's ratio."""
    if not results:
        return ""
    names = [n for n in WEBSOCKET_FRAMEWORKS if any(r.framework == n for r in results)]
    cells = {(r.framework, r.scenario): r for r in results}
    scenarios = [s for s in WEBSOCKET_SCENARIOS if any(r.scenario == s.name for r in results)]
    base, peer = WEBSOCKET_FRAMEWORKS[0], WEBSOCKET_FRAMEWORKS[-1]
    ratio = f"{base} ÷ {peer}" if base in names and peer in names else ""
    width = 24
    out = [
        f"WebSocket, in-process ASGI: median messages/s and µs per message, {CLOCKS[clock]} "
        "(higher messages/s is better)",
        f"{'':<14}" + "".join(f"{n:>{width}}" for n in names) + (f"{ratio:>20}" if ratio else ""),
    ]
    for s in scenarios:
        line = f"  {s.title:<12}" + "".join(
            f"{_ws_cell(cells.get((n, s.name))):>{width}}" for n in names
        )
        if ratio:
            r = cells.get((base, s.name))
            value = r.ratio_to_peer if r is not None else None
            line += f"{f'{value:.2f}x' if value is not None else '-':>20}"
        out.append(line)
    members = next((s.members for s in scenarios if s.members), 0)
    out.append("")
    if any(not s.members for s in scenarios):
        out.append(
            f"echo = a client sends N text messages over one connection (at most {WS_WINDOW} "
            "ahead of the echoes); the handler echoes each; counted: the echoes."
        )
    if members:
        out.append(
            f"room of {members} = {members} connections in a room, one of them sends N messages "
            f"(window {WS_WINDOW}) and each reaches all {members} members, the sender too: Erlen "
            "through erlen.hub.Hub, Starlette through an awaited send loop over a set; counted: "
            f"the deliveries (N x {members}; messages sent per second = deliveries/s ÷ {members})."
        )
    if ratio:
        out.append(f"{ratio}: {base}'s messages/s ÷ {peer}'s (>1: {base} faster).")
    problems = [r for r in results if r.status != "ok"]
    if problems:
        out += ["", "Broken, failing or unavailable (not timed):"]
        out += [f"  {r.framework}/{r.scenario}: {r.status}: {r.reason}" for r in problems]
    return "\n".join(out)


def websocket_summary(results: Sequence[WebSocketResult] | None) -> str:
    """One informational line for the targets section (issue 6; issue 4 sets no target)."""
    base, peer = WEBSOCKET_FRAMEWORKS[0], WEBSOCKET_FRAMEWORKS[-1]
    text = (
        f"[ INFO ] WebSocket (issue 6, no target here): {base}'s messages/s ÷ {peer}'s "
        "(echo: echoes, room: deliveries)"
    )
    parts = []
    cells = {(r.framework, r.scenario): r for r in results or ()}
    for s in WEBSOCKET_SCENARIOS:
        a, b = cells.get((base, s.name)), cells.get((peer, s.name))
        if a is None or b is None:
            continue
        if a.ratio_to_peer is not None and a.per_second and b.per_second:
            parts.append(
                f"{s.title} {a.ratio_to_peer:.3g}x "
                f"({base} {a.per_second:,.0f}/s, {peer} {b.per_second:,.0f}/s)"
            )
        else:
            parts.append(f"{s.title}: {base} {a.status}, {peer} {b.status}")
    if not parts:
        return text + f"\n         not measured: select {base} and {peer} (--only)"
    return text + "\n         " + "; ".join(parts)


# --- targets ------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One row of the target table (issue 19's, with issue 4's rows it does not restate), evaluated."""

    what: str
    target: str
    limit: float
    at_least: bool = False  # True: the ratio must be >= limit; False: <= limit
    ratios: dict[str, float] = field(default_factory=dict)
    missing: str = ""

    @property
    def worst(self) -> tuple[str, float] | None:
        if not self.ratios:
            return None
        pick = min if self.at_least else max
        key = pick(self.ratios, key=lambda k: self.ratios[k])
        return key, self.ratios[key]

    @property
    def status(self) -> str:
        worst = self.worst
        if worst is None:
            return "unmeasured"
        ok = worst[1] >= self.limit if self.at_least else worst[1] <= self.limit
        return "met" if ok else "missed"

    def line(self) -> str:
        mark = {"met": "MET   ", "missed": "MISSED", "unmeasured": "  --  "}[self.status]
        text = f"[{mark}] {self.what}: {self.target}"
        worst = self.worst
        if worst is None:
            return text + f"\n         not measured: {self.missing or 'no data'}"
        key, value = worst
        sign = ">=" if self.at_least else "<="
        text += f"\n         worst {value:.3g}x ({key}), needs {sign} {self.limit:g}x"
        if self.status == "missed":
            if self.at_least:
                text += f": missed by {(self.limit - value) / self.limit:.0%} of the target"
            else:
                text += f": Erlen must get {1 - self.limit / value:.0%} faster there"
        if len(self.ratios) > 1:
            text += "\n         " + ", ".join(f"{k} {v:.3g}x" for k, v in self.ratios.items())
        return text

    def as_dict(self) -> dict[str, Any]:
        worst = self.worst
        return {
            "what": self.what,
            "target": self.target,
            "limit": self.limit,
            "at_least": self.at_least,
            "status": self.status,
            "worst": {"case": worst[0], "ratio": worst[1]} if worst else None,
            "ratios": self.ratios,
            # Why the row has no ratio; empty once it has one (the reason was written before
            # the measurements were looked at, and no longer holds).
            "missing": self.missing if worst is None else "",
        }


def _ratio_verdict(
    table: Table, what: str, target: str, erlen: str, peer: str, limit: float,
    scenarios: Sequence[str] | None = None,
) -> Verdict:  # fmt: skip
    verdict = Verdict(what, target, limit)
    names = scenarios if scenarios is not None else table.scenarios
    for s in names:
        ratio = table.ratio(erlen, peer, s)
        if ratio is not None:
            verdict.ratios[s] = ratio
    if not verdict.ratios:
        verdict.missing = f"{erlen} and {peer} have no scenario measured in common"
    return verdict


def evaluate_targets(
    table: Table,
    imports: dict[str, dict[str, Any]],
    rss: dict[str, dict[str, Any]],
    servers: list[dict[str, Any]] | None,
) -> list[Verdict]:
    """Evaluate every row of the target table on this run's figures.

    Issue 19's rows, then the rows of issue 4's table that it does not restate (Quart,
    async views through WSGI, routing scale, import time, memory).
    """
    core = ["hello", "path_param", "json"]
    flask_all = [s for s in table.scenarios if s not in ("template", "session")]
    starlette_all = [s for s in table.scenarios if s != "template"]
    out = [
        _ratio_verdict(table, "WSGI, hello / path parameter / JSON", "Erlen <= 0.8x Falcon's time",
                       "erlen-wsgi", "falcon", 0.8, core),
        _ratio_verdict(table, "ASGI, hello / path parameter / JSON",
                       "Erlen <= 0.8x Falcon-ASGI's time", "erlen-asgi", "falcon-asgi", 0.8, core),
        _ratio_verdict(table, "ASGI, hello / path parameter / JSON",
                       "Erlen <= 1.0x BlackSheep's time", "erlen-asgi", "blacksheep", 1.0, core),
        _ratio_verdict(table, "ASGI, every shared scenario but the template",
                       "Erlen <= 0.5x Starlette's time", "erlen-asgi", "starlette", 0.5,
                       starlette_all),
        _ratio_verdict(table, "ASGI, template (the render is Jinja's own)",
                       "Erlen <= 0.8x Starlette's time", "erlen-asgi", "starlette", 0.8,
                       ["template"]),
        _ratio_verdict(table, "WSGI, every Flask scenario but template and session",
                       "Erlen <= 0.08x Flask's time", "erlen-wsgi", "flask", 0.08, flask_all),
        _ratio_verdict(table, "WSGI, session", "Erlen <= 0.15x Flask's time",
                       "erlen-wsgi", "flask", 0.15, ["session"]),
        _ratio_verdict(table, "WSGI, template", "Erlen <= 0.3x Flask's time",
                       "erlen-wsgi", "flask", 0.3, ["template"]),
        _ratio_verdict(table, "def views via the ASGI door (the thread hop)",
                       "<= 0.5x Starlette's def endpoints", "erlen-asgi-sync", "starlette-sync",
                       0.5),
        _ratio_verdict(table, "ASGI, every shared scenario (issue 4)",
                       "Erlen <= 0.05x Quart's time", "erlen-asgi", "quart", 0.05),
        _ratio_verdict(table, "crossed: async def view via WSGI (issue 4)",
                       "<= 0.1x Flask's async view", "erlen-wsgi-async", "flask-async", 0.1),
    ]  # fmt: skip
    scale = Verdict(
        "routing scale", "last of 1,000 dynamic rules <= 1.3x a rule in a 10-rule app", 1.3
    )
    for variant in ("erlen-wsgi", "erlen-asgi"):
        big, small = table.us(variant, "routes_1000"), table.us(variant, "routes_10")
        if big is not None and small:
            scale.ratios[variant] = big / small
    scale.missing = "erlen's routes_10/routes_1000 not measured"
    out.append(scale)

    imp = Verdict("import", "import erlen <= 0.5x import flask", 0.5)
    e, f = imports.get("erlen", {}), imports.get("flask", {})
    if e.get("status") == "ok" and f.get("status") == "ok":
        imp.ratios["import"] = e["ms"] / f["ms"]
    imp.missing = f"erlen: {e.get('reason', 'not run')}; flask: {f.get('reason', 'not run')}"
    out.append(imp)

    mem = Verdict("memory", "RSS with a small app: Erlen's <= Flask's", 1.0)
    e, f = rss.get("erlen", {}), rss.get("flask", {})
    if e.get("status") == "ok" and f.get("status") == "ok":
        mem.ratios["rss"] = e["mib"] / f["mib"]
    mem.missing = f"erlen: {e.get('reason', 'not run')}; flask: {f.get('reason', 'not run')}"
    out.append(mem)

    real = Verdict(
        "under a real server", "Erlen's requests/s on hello >= 0.85x the raw callable's", 0.85,
        at_least=True,
    )  # fmt: skip
    tail = Verdict(
        "p99 latency of hello under each server, same load",
        "<= 1.2x Starlette's (ASGI servers) and Falcon's (WSGI servers)",
        1.2,
    )
    real.missing = tail.missing = "run with --servers"
    rows = servers or []
    for row in rows:
        variant = row.get("variant", "")
        if variant.startswith("erlen") and row.get("ratio_to_raw") is not None:
            real.ratios[f"{variant}@{row['server']}"] = row["ratio_to_raw"]
        if variant in ("erlen-wsgi", "erlen-asgi") and row.get("p99_ms"):
            peer = "falcon" if variant == "erlen-wsgi" else "starlette"
            other = next(
                (r for r in rows if r.get("server") == row["server"] and r.get("variant") == peer),
                None,
            )
            if other is not None and other.get("p99_ms"):
                tail.ratios[f"{variant}@{row['server']} vs {peer}"] = (
                    row["p99_ms"] / other["p99_ms"]
                )
    if servers:
        real.missing = "no Erlen server run succeeded"
        tail.missing = "no Erlen and peer p99 measured under the same server"
    out += [real, tail]
    return out


def format_targets(
    verdicts: Sequence[Verdict], websocket: Sequence[WebSocketResult] | None = None
) -> str:
    """The targets section: each row met or missed, and by how much; then, for information,
    the WebSocket ratio (``websocket``: None when the WebSocket scenarios did not run)."""
    lines = ["Targets (issue 19, and issue 4's rows it does not restate; ratios are Erlen's figure"
             " ÷ the peer's, from this run)"]  # fmt: skip
    lines += [v.line() for v in verdicts]
    if websocket is not None:
        lines.append(websocket_summary(websocket))
    met = sum(v.status == "met" for v in verdicts)
    missed = sum(v.status == "missed" for v in verdicts)
    lines.append(f"{met} met, {missed} missed, {len(verdicts) - met - missed} not measured")
    return "\n".join(lines)


def format_probes(
    imports: dict[str, dict[str, Any]], rss: dict[str, dict[str, Any]], clock: str = "cpu"
) -> str:
    """Import time and resident memory."""
    lines = [
        f"Import time ({CLOCKS[clock]}, fresh interpreter, median) and RSS (a process that "
        "imported the framework and built a hello app, median)"
    ]
    names = list(dict.fromkeys([*rss, *imports]))
    for name in names:
        i, m = imports.get(name, {}), rss.get(name, {})
        imp = f"{i['ms']:7.1f} ms" if i.get("status") == "ok" else f"{'-':>10}"
        mem = f"{m['mib']:6.1f} MiB" if m.get("status") == "ok" else f"{'-':>10}"
        extra = i.get("reason") or m.get("reason") or ""
        label = "python (bare)" if name == "python" else name
        lines.append(f"  {label:<14} import {imp}   RSS {mem}  {extra}".rstrip())
    return "\n".join(lines)


def format_servers(rows: Sequence[dict[str, Any]]) -> str:
    """Requests per second and p99 per server, with the ratio to the raw callable."""
    lines = [
        "Under real servers (wrk on loopback): requests/s, p99 latency, ratio to the raw callable"
    ]
    for server in dict.fromkeys(r["server"] for r in rows):
        lines.append(f"{server}")
        for r in (r for r in rows if r["server"] == server):
            if r["status"] != "ok":
                lines.append(f"  {r['variant']:<18} {r['status'].upper()}: {r.get('reason', '')}")
                continue
            ratio = f"{r['ratio_to_raw']:.2f}x raw" if r.get("ratio_to_raw") else ""
            errors = f"  ({r['errors']} errors)" if r.get("errors") else ""
            lines.append(
                f"  {r['variant']:<18} {r['rps']:>9.0f} req/s  p99 {r['p99_ms']:>7.2f} ms  "
                f"{ratio}{errors}"
            )
    return "\n".join(lines)


# --- chart --------------------------------------------------------------------------------------


def plot(table: Table, path: Path, title: str) -> None:
    """Write a PNG: one panel per door, grouped bars of µs per request, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(t, p, v) for t, p, v in GROUPS if table.group(p, v)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(15, 4.2 * len(panels)), squeeze=False)
    palette = plt.get_cmap("tab10")
    colours: dict[str, Any] = {}
    for ax, (panel_title, protocol, views) in zip(axes[:, 0], panels, strict=True):
        rows = table.group(protocol, views)
        count = len(rows)
        width = 0.8 / max(count, 1)
        for i, name in enumerate(rows):
            framework = name.split("-")[0]
            if framework not in colours:
                colours[framework] = palette(len(colours) % 10)
            xs, ys = [], []
            for j, s in enumerate(table.scenarios):
                value = table.us(name, s)
                x = j - 0.4 + width * (i + 0.5)
                if value is not None:
                    xs.append(x)
                    ys.append(value)
                elif (name, s) in table.cells:
                    label = _cell(table.cells[name, s], "").lower()
                    ax.text(x, 0.02, label, rotation=90, fontsize=6, ha="center", va="bottom",
                            color="grey", transform=ax.get_xaxis_transform())  # fmt: skip
            edge = "black" if framework == "erlen" else "none"
            ax.bar(xs, ys, width, label=name, color=colours[framework], edgecolor=edge)
        ax.set_yscale("log")
        ax.set_ylabel("µs per request (log)")
        ax.set_title(panel_title, loc="left", fontsize=11)
        ax.set_xticks(range(len(table.scenarios)))
        ax.set_xticklabels([SHORT[s] for s in table.scenarios])
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=min(count, 7), loc="upper left")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
