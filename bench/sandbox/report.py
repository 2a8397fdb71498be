"""The sandbox's report: report.md (tables) and PNG plots of latency percentiles over time."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from PIL import Image  # matplotlib's own dependency

PGBENCH_PLOT = "pgbench-latency.png"
HTTP_PLOT = "http-latency.png"


def plot_over_time(series: Mapping[str, Mapping[str, Any]], title: str, path: Path) -> Path | None:
    """One small panel per script or label: p50, p95 and p99 (ms) per window of time."""
    names = [name for name, one in series.items() if one["points"]]
    if not names:
        return None
    columns = 2 if len(names) > 1 else 1
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(5 * columns, 1.8 * rows + 0.6), squeeze=False, sharex=True
    )
    for index, name in enumerate(names):
        axis = axes[index // columns][index % columns]
        points = series[name]["points"]
        seconds = [point["t"] for point in points]
        for key, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
            axis.plot(seconds, [point[key] for point in points], style, label=key, linewidth=1)
        axis.set_title(f"{name} (per {series[name]['window_s']} s)", fontsize=9)
        axis.set_ylabel("ms", fontsize=8)
        axis.set_ylim(bottom=0)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    axes[0][0].legend(fontsize=7, loc="upper right")
    for axis in axes[-1]:
        axis.set_xlabel("s", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    _save_small(figure, path)
    plt.close(figure)
    return path


def _save_small(figure: Any, path: Path) -> None:
    """A PNG of a few dozen kilobytes: 72 dpi, 64 colours (plenty for three line styles)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=64).save(path, optimize=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def pgbench_section(results: Mapping[str, Any]) -> list[str]:
    summary = results["pgbench"]
    spec = results["pgbench_spec"]
    rate = f", rate {spec['rate']} tx/s (-R)" if spec["rate"] else ", as fast as it goes"
    lines = [
        "## pgbench: the service's statements against the database",
        "",
        f"{spec['clients']} clients, {spec['threads']} threads, {spec['seconds']} s{rate},"
        f" `-M prepared`; total **{summary['tps']:.0f} TPS**, {summary['failed']} failed"
        f" transactions, exit code {summary['exit_code']}. Latencies in ms (per script run,"
        " from the per-transaction log).",
        "",
    ]
    lines += _script_table(summary["scripts"])
    lines += ["", "Per statement (pgbench `-r`: mean ms and failures per command):", ""]
    rows = [
        [f"`{name}`", f"`{command['command'][:70]}…`", _ms(command["ms"]), command["failures"]]
        for name, script in summary["scripts"].items()
        for command in script.get("commands", [])
    ]
    lines += _table(["script", "command", "mean", "failures"], rows)
    check = results["pgbench_writes"]
    lines += [
        "",
        f"Writes check: runs left by the scripts by status {check['found']}, counted scripts"
        f" {check['expected']}, {check['cut_short']} cut short when the time was up (at most"
        f" one per client) → **{'ok' if check['ok'] else 'MISMATCH'}**.",
        "",
        "Scripts (a `\\set`/`\\gset` pick of a random run or open experiment comes first"
        " where one is needed; its latency is its own line above):",
        "",
        *(f"- `{name}`: {text}" for name, text in results["pgbench_scripts"].items()),
        "",
    ]
    return lines


def _script_table(scripts: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, script in scripts.items():
        logged = script.get("logged", {})
        rows.append([
            f"`{name}`", script.get("weight", ""), script.get("transactions", 0),
            f"{script.get('tps', 0):.1f}", script.get("failed", 0),
            _ms(script.get("latency_avg_ms")), _ms(logged.get("p50")), _ms(logged.get("p95")),
            _ms(logged.get("p99")), _ms(logged.get("max")),
        ])  # fmt: skip
    head = ["script", "weight", "transactions", "TPS", "failed", "mean", "p50", "p95", "p99"]
    return _table([*head, "max"], rows)


def http_section(results: Mapping[str, Any]) -> list[str]:
    http = results["http"]
    report = http["openloop"]
    phase = results["http_spec"]
    every = report["labels"]["all"]
    lines = [
        "## HTTP: a mix at a fixed rate against `expsvc serve`, telemetry alongside",
        "",
        f"bench/openloop at {phase['rate']:g} req/s for {phase['seconds']:g} s after"
        f" {phase['warmup']:g} s of warm-up, `expsvc serve --workers {phase['workers']}`;"
        f" achieved {report['achieved_rps']:.1f} req/s, {every['ok']}/{report['scheduled']} ok."
        " Latency in ms from each request's scheduled send time.",
        "",
    ]
    rows = []
    for label, figures in report["labels"].items():
        latency = figures["latency_ms"]
        errors = sum(figures["errors"].values())
        statuses = ", ".join(f"{code}: {n}" for code, n in figures["status"].items())
        rows.append([
            f"`{label}`", figures["responses"], figures["ok"], statuses, errors,
            _ms(latency["p50"]), _ms(latency["p95"]), _ms(latency["p99"]), _ms(latency["max"]),
        ])  # fmt: skip
    head = ["label", "answered", "ok", "statuses", "client errors", "p50", "p95", "p99", "max"]
    lines += _table(head, rows)
    lines += ["", "List queries:", ""]
    lines += [f"- `{label}`: `GET /v1/runs?{query}`" for label, query in http["queries"].items()]
    cpu = report.get("cpu", {})
    if cpu:
        lines += [
            "",
            f"CPU over the phase: service {cpu['service_cpu_percent']}%, database"
            f" {cpu['database_cpu_percent']}%, machine busy {cpu['machine_busy_percent']}%.",
        ]
    lines += ["", *telemetry_section(http["telemetry"], results["telemetry_spec"]), ""]
    return lines


def telemetry_section(telemetry: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    lines = [
        "### Telemetry replay (signed `POST /v1/integrations/telemetry/events`)",
        "",
        f"{spec['rate']:g} requests/s of {spec['batch']} heartbeats each over"
        f" {spec['sessions']} running capture sessions created through the API.",
        "",
    ]
    if "error" in telemetry:
        return [*lines, f"The replay failed: `{telemetry['error']}`."]
    latency = telemetry["latency_ms"] or {}
    results = ", ".join(f"{k}: {v}" for k, v in sorted(telemetry["results"].items())) or "none"
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(telemetry["errors"].items())) or "none"
    row = [
        telemetry["requests"], telemetry["events"], telemetry["rate"], results, errors,
        _ms(latency.get("p50")), _ms(latency.get("p95")), _ms(latency.get("p99")),
    ]  # fmt: skip
    head = ["requests", "events", "req/s", "events accepted", "errors", "p50", "p95", "p99"]
    return lines + _table(head, [row])


def errors_section(results: Mapping[str, Any]) -> list[str]:
    problems = []
    if "pgbench" in results:
        summary = results["pgbench"]
        if summary["failed"] or summary["aborted"] or summary["exit_code"]:
            problems.append(
                f"pgbench: {summary['failed']} failed transactions, exit code"
                f" {summary['exit_code']}{', clients aborted' if summary['aborted'] else ''}"
            )
        if not results["pgbench_writes"]["ok"]:
            problems.append(f"pgbench writes check: {results['pgbench_writes']}")
    if "http" in results:
        for label, figures in results["http"]["openloop"]["labels"].items():
            failed = figures["responses"] - figures["ok"] + sum(figures["errors"].values())
            if failed and label != "all":
                problems.append(f"HTTP `{label}`: {failed} not ok ({figures['status']})")
        telemetry = results["http"]["telemetry"]
        if "error" in telemetry or telemetry.get("errors"):
            problems.append(f"telemetry: {telemetry.get('error') or telemetry['errors']}")
    return ["## Errors", "", *(f"- {p}" for p in problems or ["none"]), ""]


def write(out: Path, results: Mapping[str, Any]) -> Path:
    """report.md and the plots in ``out``; the report's path."""
    lines = [
        f"# Load sandbox report, {results['started_at']}",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {results['versions']['machine']}; PostgreSQL {results['versions']['postgresql']}"
        f" ({results['database']}); commit {results['versions']['commit']}.",
        f"Load average before {results['load_before']}, after {results['load_after']}.",
        f"Seeded {results['seed']['runs']:,} runs in {results['seed']['experiments']} experiments"
        f" in {results['seed']['seconds']} s. Phases (s): {results['phase_seconds']}.",
        "",
    ]
    if "pgbench" in results:
        lines += pgbench_section(results)
        title = "pgbench: latency per script run (ms)"
        if plot_over_time(results["pgbench"]["over_time"], title, out / PGBENCH_PLOT):
            lines += [f"![pgbench latency over time]({PGBENCH_PLOT})", ""]
    if "http" in results:
        lines += http_section(results)
        title = "HTTP: latency from the scheduled send (ms)"
        if plot_over_time(results["http"]["over_time"], title, out / HTTP_PLOT):
            lines += [f"![HTTP latency over time]({HTTP_PLOT})", ""]
    lines += errors_section(results)
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
