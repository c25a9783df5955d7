"""The report's charts (PNG, matplotlib's Agg backend: no display, no pyplot state).

All drawn from ReportData, i.e. from the marts: boxplot of age by major (major_age_distribution),
students per major (major_age_stats), and for the page: quarantined lines by reason and the run
history trend (pipeline_runs).
"""
from __future__ import annotations

from pathlib import Path

from studentflow.report.data import ReportData
from studentflow.report.sections import fmt_int
from studentflow.report.texts import REASONS


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # headless, no pyplot state
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    """Write the PNG beside its final name, then rename it: a page served while the continuous
    mode redraws it never reads half a file."""
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)


def _fit_labels(ax, n: int) -> None:
    """Horizontal tick labels while they fit (the 8 canonical majors do); slanted beyond."""
    if n > 8:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


def box_stats(histogram: list[tuple[int, int]], whis: float = 1.5) -> dict:
    """The statistics of one box (matplotlib's ``bxp`` keys) from an (age, count) histogram.

    The same figures as ``matplotlib.cbook.boxplot_stats`` on the expanded list of ages (numpy's
    linear-interpolated percentiles, whiskers at the most extreme ages within ``whis`` IQR of the
    box), without building that list: it has one entry per student, so drawing the chart cost
    memory and time that grew with the warehouse (the continuous mode redraws it every increment).
    Fliers are the distinct ages outside the whiskers (repeats would be drawn on the same spot)."""
    import numpy as np

    pairs = sorted((a, n) for a, n in histogram if n > 0)
    ages = np.array([a for a, _ in pairs], dtype=float)
    counts = np.array([n for _, n in pairs], dtype=np.int64)
    total = int(counts.sum())
    ends = np.cumsum(counts)            # the sorted expanded list's index k holds ages[searchsorted(ends, k, "right")]

    def at(k: int) -> float:
        return float(ages[np.searchsorted(ends, k, side="right")])

    def percentile(p: float) -> float:
        h = (total - 1) * p / 100
        lo = int(np.floor(h))
        below = at(lo)
        return below if lo + 1 >= total else below + (h - lo) * (at(lo + 1) - below)

    q1, med, q3 = percentile(25), percentile(50), percentile(75)
    iqr = q3 - q1
    inside_hi = ages[ages <= q3 + whis * iqr]
    inside_lo = ages[ages >= q1 - whis * iqr]
    whishi = q3 if len(inside_hi) == 0 or inside_hi.max() < q3 else float(inside_hi.max())
    whislo = q1 if len(inside_lo) == 0 or inside_lo.min() > q1 else float(inside_lo.min())
    notch = 1.57 * iqr / np.sqrt(total)
    return {"mean": float((ages * counts).sum() / total), "med": med, "q1": q1, "q3": q3, "iqr": iqr,
            "cilo": med - notch, "cihi": med + notch, "whislo": whislo, "whishi": whishi,
            "fliers": np.concatenate([ages[ages < whislo], ages[ages > whishi]]), "n": total}


def draw_boxplot(data: ReportData, path: Path, t: dict[str, str], lang: str) -> None:
    majors = [r["major"] for r in data.stats if any(n > 0 for _, n in data.ages.get(r["major"], ()))]
    fig = _new_figure(10, 6)
    ax = fig.add_subplot()
    if majors:
        boxes = [box_stats(data.ages[m]) for m in majors]
        for m, box in zip(majors, boxes):
            box["label"] = f"{m}\n(n={fmt_int(box.pop('n'), lang)})"
        ax.bxp(boxes, showmeans=True, patch_artist=True,
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
    _save(fig, path)


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
    _save(fig, path)


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
    _save(fig, path)


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
    _save(fig, path)
