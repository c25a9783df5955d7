"""The benchmark harness's result as text: the per-size tables and the scaling series.

``render(result)`` turns the JSON ``python -m bench.run`` writes into the terminal table;
``scaling_of(sizes)`` fits how each stage's time grows with the event count.
"""
from __future__ import annotations

import os
from typing import Any

from bench import analysis

ROLES = ("python", "broker", "connect", "spark_driver", "dbt", "original_python", "original_spark")
ROLE_LABELS = {"python": "py", "broker": "broker", "connect": "connect", "spark_driver": "spark",
               "dbt": "dbt", "original_python": "orig.py", "original_spark": "orig.spark"}


def _stage_seconds(result: dict[str, Any]) -> dict[str, float]:
    return {st["name"]: st["seconds"] for st in result.get("stages", [])}


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _fmt_rate(x: float | None) -> str:
    return "-" if not x else f"{x:,.0f}"


def render(result: dict[str, Any]) -> str:
    lines: list[str] = []
    w = lines.append
    for r in result["sizes"]:
        n = r["events"]
        w("")
        w(f"== {n:,} events (seed {r['seed']}, {r['malformed_rate']:.0%} malformed; load average "
          f"{r.get('loadavg_start', ['?'])[0]} at start, {r.get('loadavg_end', ['?'])[0]} at end, "
          f"{os.cpu_count()} cores) ==")
        roles = [ro for ro in ROLES if any(ro in st.get("peak_rss_mb", {}) for st in r.get("stages", []))
                 or ro in r.get("original", {}).get("peak_rss_mb", {})]
        head = (f"{'stage':<20}{'seconds':>9}{'events/s':>12}{'CPU s':>8} "
                + "".join(f"{ROLE_LABELS[ro]:>11}" for ro in roles))
        w(head + "   (peak RSS per process, MB)")
        w("-" * len(head))

        def row(name, secs, rate, peaks, cpu=None):
            total_cpu = sum(cpu.values()) if cpu else None
            w(f"{name:<20}{_fmt_s(secs):>9}{_fmt_rate(rate):>12}{'-' if total_cpu is None else f'{total_cpu:.1f}':>8} "
              + "".join(f"{(peaks.get(ro) and f'{peaks[ro]:.0f}') or '-':>11}" for ro in roles))

        row("stack up", r.get("stack_up_s"), None, r.get("stack_up_peak_rss_mb", {}), r.get("stack_up_cpu_s"))
        for st in r.get("stages", []):
            row(st["name"], st["seconds"], st.get("events_per_s"), st.get("peak_rss_mb", {}), st.get("cpu_s"))
            if st["name"] == "normalize" and r.get("normalize"):
                nz = r["normalize"]
                w(f"{'  spark start-up':<20}{_fmt_s(nz['spark_startup_s']):>9}")
                w(f"{'  steady state':<20}{_fmt_s(nz['steady_s']):>9}{_fmt_rate(nz['steady_lines_per_s']):>12}"
                  f"  lines/s ({', '.join(f'{k} {v:.2f}' for k, v in nz['phases'].items())})")
        if r.get("normalize_profile"):
            p = r["normalize_profile"]
            w(f"  normalize profile (Spark JVM pid {p['pid']}): CPU by thread group: "
              + ", ".join(f"{g} {t:.1f} s" for g, t in p["cpu_by_thread_group_s"].items()))
            w(f"    busy Java threads by category ({p['jstack_dumps']} jstack dumps): "
              + ", ".join(f"{c} {v:.0%}" for c, v in p["busy_thread_samples_by_category"].items()))
            w("    top frames: " + "; ".join(f"{f} {v:.0%}" for f, v in p["top_frames"][:6]))
        if "end_to_end_s" in r:
            row("end to end", r["end_to_end_s"], n / r["end_to_end_s"], {})
        if "original" in r:
            o = r["original"]
            row("original method", o["seconds"], n / o["seconds"], o.get("peak_rss_mb", {}), o.get("cpu_s"))
            w(f"{'':<20}  ({', '.join(f'{k} {v:.2f}' for k, v in o['timings'].items())})")
        if "common_part" in r:
            cp = r["common_part"]
            w(f"common part (topic -> per-major averages in SQLite): studentflow {cp['studentflow_s']:.2f} s "
              f"(sink + normalize + transform) vs original {cp['original_s']:.2f} s -> "
              f"original / studentflow = {cp['ratio']:.2f}x"
              + (f" (CPU: {cp['studentflow_cpu_s']:.1f} vs {cp['original_cpu_s']:.1f} CPU-s -> {cp['cpu_ratio']:.2f}x)"
                 if "cpu_ratio" in cp else ""))
        if "original_errors" in r:
            e = r["original_errors"]
            t = e["totals"]
            w(f"what the original got wrong ({t['messages']:,} messages): dropped silently {t['original_dropped']:,} "
              f"(salvageable {t['dropped_salvageable']:,}, quarantined by studentflow {t['dropped_quarantinable']:,}); "
              f"accepted invalid {t['accepted_invalid']:,}; duplicates counted {t['accepted_duplicates']:,}; "
              f"uncanonical majors kept {t['kept_uncanonical']:,}")
            w(f"  {'kind':<20}{'count':>9}{'orig kept':>11}{'orig drop':>11}  studentflow")
            for kind, k in e["by_kind"].items():
                w(f"  {kind:<20}{k['count']:>9,}{k['original_kept']:>11,}{k['original_dropped']:>11,}  {k['studentflow']}")
            w(f"  (re-count matches the baseline's own drop count: {e['consistent_with_run']}; "
              f"studentflow rules/reasons match the contract: {e['studentflow_matches_contract']}"
              + "".join(f" [{key} expected {a:,}, got {b:,}]" for key, (a, b) in e.get("contract_differences", {}).items())
              + "; "
              f"studentflow rows dropped silently: {r.get('studentflow_dropped')})")
        if "averages" in r:
            a = r["averages"]
            w(f"averages age > 20 differ: {a['differ']} (max |diff| on canonical majors {a['max_abs_diff']}; "
              f"groups only the original has: {len(a['original_only'])})")
            for m, v in a["majors"].items():
                w(f"  {m:<16} studentflow {v['studentflow']:>8}  original {v['original'] if v['original'] is not None else '-':>8}")
            for m, v in list(a["original_only"].items())[:8]:
                w(f"  {m!r:<16} original only {v:>8}")
            if len(a["original_only"]) > 8:
                w(f"  ... {len(a['original_only']) - 8} more groups only in the original")
    if result.get("scaling"):
        w("")
        w("== scaling: linearity = (time ratio) / (size ratio) between consecutive sizes; marginal = us per extra event ==")
        for stage, steps in result["scaling"].items():
            parts = [f"{s['from']:,}->{s['to']:,}: {s['linearity']:.2f} ({s['marginal_us_per_event']:.2f} us)"
                     for s in steps]
            flag = "  SUPERLINEAR" if analysis.superlinear(steps) else ""
            w(f"  {stage:<20} " + "; ".join(parts) + flag)
    su = result.get("stack_up")
    if su:
        w("")
        w(f"`studentflow stack up` to ready: median {_fmt_s(su['median_s'])} s over {len(su['runs_s'])} runs "
          f"({', '.join(f'{x:.2f}' for x in su['runs_s'])})")
    w("")
    w("== targets (reported, not asserted) ==")
    for t in result["targets"]:
        met = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        w(f"  {t['name']:<58} {t['target']:<22} {t['value'] or '-':<28} {met}")
    return "\n".join(lines)


def scaling_of(sizes: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    series: dict[str, dict[int, float]] = {}
    for r in sizes:
        for name, secs in _stage_seconds(r).items():
            series.setdefault(name, {})[r["events"]] = secs
        if r.get("normalize"):
            series.setdefault("normalize (steady)", {})[r["events"]] = r["normalize"]["steady_s"]
        if "end_to_end_s" in r:
            series.setdefault("end to end", {})[r["events"]] = r["end_to_end_s"]
        if "original" in r:
            series.setdefault("original method", {})[r["events"]] = r["original"]["seconds"]
    return {name: analysis.scaling(pts) for name, pts in series.items() if len(pts) > 1}
