"""The report's charts (PNG, matplotlib's Agg backend: no display, no pyplot state).

All drawn from ReportData, i.e. from the marts: boxplot of age by major (major_age_distribution),
students per major (major_age_stats), and for the page: quarantined lines by reason and the run
history trend (pipeline_runs).
"""
from __future__ import annotations

from pathlib import Path

from studentflow.report.data import ReportData
from studentflow.report.texts import REASONS, fmt_int


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # headless, no pyplot state
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fit_labels(ax, n: int) -> None:
    """Horizontal tick labels while they fit (the 8 canonical majors do); slanted beyond."""
    if n > 8:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


def draw_boxplot(data: ReportData, path: Path, t: dict[str, str], lang: str) -> None:
    import numpy as np

    majors = [r["major"] for r in data.stats if data.ages.get(r["major"])]
    fig = _new_figure(10, 6)
    ax = fig.add_subplot()
    if majors:
        series = [np.repeat([a for a, _ in data.ages[m]], [n for _, n in data.ages[m]]) for m in majors]
        labels = [f"{m}\n(n={fmt_int(len(s), lang)})" for m, s in zip(majors, series)]
        ax.boxplot(series, tick_labels=labels, showmeans=True, patch_artist=True,
                   boxprops={"facecolor": "#cfe2f3", "edgecolor": "#1f4e79"},
                   medianprops={"color": "#c0392b", "linewidth": 2},
                   meanprops={"marker": "D", "markerfacecolor": "#f39c12", "markeredgecolor": "#7e5109",
                              "markersize": 6},
                   flierprops={"marker": "o", "markersize": 3, "alpha": 0.4})
        _fit_labels(ax, len(majors))
    else:
        ax.text(0.5, 0.5, t["no_data"], ha="center", va="center", transform=ax.transAxes, fontsize=14)
    fig.suptitle(t["box_title"], fontsize=14)
    ax.set_title(t["box_legend"], fontsize=9, color="#555555")
    ax.set_ylabel(t["box_ylabel"])
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, format="png")


def draw_bar_chart(data: ReportData, path: Path, t: dict[str, str], lang: str) -> None:
    rows = sorted(data.stats, key=lambda r: (-(r["student_count"] or 0), r["major"]))
    fig = _new_figure(10, 6)
    ax = fig.add_subplot()
    if rows:
        majors = [r["major"] for r in rows]
        counts = [r["student_count"] or 0 for r in rows]
        bars = ax.bar(majors, counts, color="#2e86c1", edgecolor="#1b4f72")
        ax.bar_label(bars, labels=[fmt_int(c, lang) for c in counts], padding=3, fontsize=10)
        ax.set_ylim(0, max(counts) * 1.12 or 1)
        _fit_labels(ax, len(majors))
    else:
        ax.text(0.5, 0.5, t["no_data"], ha="center", va="center", transform=ax.transAxes, fontsize=14)
    ax.set_title(t["bar_title"], fontsize=14)
    ax.set_ylabel(t["bar_ylabel"])
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.savefig(path, format="png")


def draw_reasons_chart(data: ReportData, path: Path, t: dict[str, str], lang: str) -> None:
    """Horizontal bars: quarantined lines per reason, most frequent on top."""
    rows = list(reversed(data.reasons))
    fig = _new_figure(10, max(3.0, 0.5 * len(rows) + 1.5))
    ax = fig.add_subplot()
    if rows:
        labels = [f"{r['reason']} ({REASONS[lang].get(r['reason'], '')})".replace(" ()", "") for r in rows]
        counts = [r["n"] for r in rows]
        bars = ax.barh(labels, counts, color="#c0392b", edgecolor="#78281f")
        ax.bar_label(bars, labels=[fmt_int(c, lang) for c in counts], padding=3, fontsize=10)
        ax.set_xlim(0, max(counts) * 1.15 or 1)
    else:
        ax.text(0.5, 0.5, t["no_quarantine"], ha="center", va="center", transform=ax.transAxes, fontsize=14)
    ax.set_title(t["reasons_title"], fontsize=14)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    fig.savefig(path, format="png")


def draw_trend_chart(data: ReportData, path: Path, t: dict[str, str], lang: str, seconds) -> None:
    """Run history: line counts, quarantine rate and Spark duration per run (oldest to newest)."""
    fig = _new_figure(10, 7)
    top, bottom = fig.subplots(2, 1, sharex=True)
    runs = data.runs
    if runs:
        x = list(range(1, len(runs) + 1))
        for key, label, color in (("lines_read", t["lines_read"], "#1f4e79"), ("clean_count", t["clean_count"], "#27ae60"),
                                  ("quarantined_count", t["quarantined_count"], "#c0392b")):
            top.plot(x, [r.get(key) or 0 for r in runs], marker="o", label=label, color=color)
        top.set_ylabel(t["trend_counts"])
        top.legend(fontsize=8, loc="upper left")
        rate = top.twinx()
        rates = [100 * (r.get("quarantined_count") or 0) / max((r.get("quarantined_count") or 0) + (r.get("clean_count") or 0), 1)
                 for r in runs]
        rate.plot(x, rates, linestyle="--", marker="s", color="#f39c12")
        rate.set_ylabel(t["trend_rate"], color="#b9770e")
        bottom.bar(x, [seconds(r) or 0 for r in runs], color="#7d3c98")
        bottom.set_ylabel(t["trend_seconds"])
        bottom.set_xticks(x, [str(r.get("run_id") or i)[-12:] for i, r in zip(x, runs)])
        _fit_labels(bottom, 9 if len(runs) > 4 else 1)
    else:
        top.text(0.5, 0.5, t["no_runs"], ha="center", va="center", transform=top.transAxes, fontsize=14)
    fig.suptitle(t["trend_title"], fontsize=14)
    for ax in (top, bottom):
        ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, format="png")
