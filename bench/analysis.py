"""Pure parts of the benchmark: scaling figures, what the original method got wrong, targets.

Nothing here starts a process or touches Kafka/Spark, so it is unit-tested directly
(tests/bench/test_bench_*.py).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

# Targets of the end-to-end benchmark (reported, never asserted), as bench/README.md states them:
# nothing running but the stack / the stack warm (--warm: the same work once before).
TARGET_E2E_1M_S = {"cold": 30.0, "warm": 15.0}
TARGET_SPEEDUP = {"cold": 1.5, "warm": 3.0}   # the headline ratio is bench.compare's; this is the common part
TARGET_NORMALIZE_LPS = 200_000      # 1M lines in 5 s, the warm normalize target
TARGET_STACK_UP_S = 10.0            # `stack up` to ready
LINEARITY_TOLERANCE = 1.25          # time ratio / size ratio above this between consecutive sizes = superlinear

# Stages of studentflow that make up the part both methods do (topic -> per-major averages in SQLite).
COMMON_STAGES = ("sink", "normalize", "transform")
# Stages of the end-to-end run (produce -> staging -> clean -> marts -> gate -> report).
E2E_STAGES = ("produce", "sink", "normalize", "transform", "validate", "report")


def scaling(points: Mapping[int, float]) -> list[dict[str, float]]:
    """Between consecutive sizes: time ratio, size ratio, linearity and marginal cost.

    ``points`` maps event count -> seconds. ``linearity`` = (t2/t1) / (n2/n1): 1.0 is linear,
    below 1 means fixed costs still dominate, above 1 means time grows faster than the input.
    ``marginal_us_per_event`` = (t2 - t1) / (n2 - n1), in microseconds: the cost of one more
    event, which stays flat for a linear stage whatever its fixed cost.
    """
    sizes = sorted(n for n in points if n > 0)
    out = []
    for a, b in zip(sizes, sizes[1:]):
        ta, tb = points[a], points[b]
        size_ratio = b / a
        time_ratio = tb / ta if ta > 0 else float("inf")
        out.append({"from": a, "to": b, "size_ratio": round(size_ratio, 3), "time_ratio": round(time_ratio, 3),
                    "linearity": round(time_ratio / size_ratio, 3),
                    "marginal_us_per_event": round((tb - ta) / (b - a) * 1e6, 3)})
    return out


def superlinear(steps: list[dict[str, float]], tolerance: float = LINEARITY_TOLERANCE) -> bool:
    """True if time grew faster than the input between some pair of consecutive sizes."""
    return any(s["linearity"] > tolerance for s in steps)


def original_outcomes(messages: Iterable[tuple[str, Any, str]], parse, expected: Mapping[str, tuple[str, Any]]
                      ) -> dict[str, Any]:
    """Run the original parsing function over the labelled messages and compare with studentflow.

    ``expected`` is the producer/Spark contract (kind -> ("clean", rule) | ("quarantine", reason) |
    ("duplicate", None)). Returns per-kind counts and the totals of what the original got wrong:

    - ``dropped_salvageable``: dropped silently, but studentflow salvages them into clean data;
    - ``dropped_quarantinable``: dropped silently, studentflow keeps them in quarantine with a reason;
    - ``accepted_invalid``: kept by the original although studentflow quarantines them
      (e.g. age 140, unknown major, a truncated JSON whose digits became an "age");
    - ``accepted_duplicates``: exact duplicates the original counted twice;
    - ``kept_uncanonical``: kept, but with a major that is not byte-equal to a canonical one
      (e.g. ``  biologie  ``): it lands in its own group in the original's averages.
    """
    kinds: dict[str, Counter] = {}
    for kind, _key, value in messages:
        rec = parse(value)
        c = kinds.setdefault(kind, Counter())
        c["count"] += 1
        c["original_kept" if rec else "original_dropped"] += 1
        if rec and isinstance(rec.get("major"), str) and rec["major"] != rec["major"].strip():
            c["kept_with_spaces"] += 1
    totals = Counter()
    by_kind = {}
    for kind, c in sorted(kinds.items()):
        verdict = expected.get(kind, ("unknown", None))[0]
        by_kind[kind] = {"count": c["count"], "studentflow": _verdict_text(expected.get(kind)),
                         "original_kept": c["original_kept"], "original_dropped": c["original_dropped"]}
        totals["messages"] += c["count"]
        totals["original_dropped"] += c["original_dropped"]
        totals["original_kept"] += c["original_kept"]
        if verdict == "clean":
            totals["dropped_salvageable"] += c["original_dropped"]
            if kind == "major_spacing_case":
                totals["kept_uncanonical"] += c["original_kept"]
        elif verdict == "quarantine":
            totals["dropped_quarantinable"] += c["original_dropped"]
            totals["accepted_invalid"] += c["original_kept"]
        elif verdict == "duplicate":
            totals["accepted_duplicates"] += c["original_kept"]
    for key in ("dropped_salvageable", "dropped_quarantinable", "accepted_invalid", "accepted_duplicates",
                "kept_uncanonical"):
        totals.setdefault(key, 0)
    return {"by_kind": by_kind, "totals": dict(totals)}


def _verdict_text(v: tuple[str, Any] | None) -> str:
    if v is None:
        return "?"
    verdict, detail = v
    return f"{verdict} ({detail})" if detail else ("removed duplicate" if verdict == "duplicate" else verdict)


def expected_studentflow_counts(by_kind: Mapping[str, Mapping[str, int]],
                                expected: Mapping[str, tuple[str, Any]]) -> dict[str, dict[str, int]]:
    """What the contract says studentflow must produce from these kinds: verdict, rule and reason counts."""
    verdicts, rules, reasons = Counter(), Counter(), Counter()
    for kind, c in by_kind.items():
        verdict, detail = expected[kind]
        verdicts[verdict] += c["count"]
        if verdict == "clean":
            rules[detail] += c["count"]
        elif verdict == "quarantine":
            reasons[detail] += c["count"]
    return {"verdicts": dict(verdicts), "by_rule": dict(rules), "by_reason": dict(reasons)}


def count_differences(expected: Mapping[str, Mapping[str, int]], got: Mapping[str, Mapping[str, int]]
                      ) -> dict[str, tuple[int, int]]:
    """``"by_rule.csv": (expected, got)`` for every rule/reason count that differs (empty: all equal)."""
    out = {}
    for group in ("by_rule", "by_reason"):
        e, g = expected.get(group, {}), got.get(group, {})
        for key in sorted(set(e) | set(g)):
            if e.get(key, 0) != g.get(key, 0):
                out[f"{group}.{key}"] = (e.get(key, 0), g.get(key, 0))
    return out


def compare_averages(studentflow: Mapping[str, float], original: Mapping[str, float],
                     tolerance: float = 1e-9) -> dict[str, Any]:
    """Per-major averages (age > 20) of both methods, side by side.

    Majors are matched byte for byte, as a SQL join on the original's table would: a group the
    original has under ``  biologie  `` or ``Art`` appears in ``original_only``.
    """
    majors = {}
    diffs = []
    for m in sorted(studentflow):
        o = original.get(m)
        d = None if o is None else o - studentflow[m]
        if d is not None:
            diffs.append(abs(d))
        majors[m] = {"studentflow": round(studentflow[m], 4), "original": None if o is None else round(o, 4),
                     "diff": None if d is None else round(d, 4)}
    original_only = {m: round(v, 4) for m, v in sorted(original.items(), key=lambda kv: str(kv[0]))
                     if m not in studentflow}
    return {"majors": majors, "original_only": original_only,
            "max_abs_diff": round(max(diffs), 4) if diffs else None,
            "differ": bool(original_only) or any(d > tolerance for d in diffs)
            or any(v["original"] is None for v in majors.values())}


def _scenario(size: Mapping[str, Any]) -> str:
    """"warm" for a size run after a warm-up run (bench.run --warm), else "cold"."""
    return "warm" if size.get("warm_up_run_s") is not None else "cold"


def targets(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """bench/README.md's targets, evaluated on a benchmark result (``met`` None when not measured)."""
    sizes = {r["events"]: r for r in result.get("sizes", [])}
    big = sizes.get(max(sizes)) if sizes else None
    out = []
    one_m = sizes.get(1_000_000, {})
    e2e = one_m.get("end_to_end_s")
    scenario = _scenario(one_m)
    out.append({"name": f"1M events end to end (produce -> report), {scenario}",
                "target": f"<= {TARGET_E2E_1M_S[scenario]:.0f} s", "value": None if e2e is None else f"{e2e:.1f} s",
                "met": None if e2e is None else e2e <= TARGET_E2E_1M_S[scenario]})
    ratio = (big or {}).get("common_part", {}).get("ratio")
    label = f"{big['events']:,} events" if big else "largest size"
    scenario = _scenario(big or {})
    out.append({"name": f"speed-up over the original method, common part ({label}, {scenario})",
                "target": f">= {TARGET_SPEEDUP[scenario]:g}x", "value": None if ratio is None else f"{ratio:.1f}x",
                "met": None if ratio is None else ratio >= TARGET_SPEEDUP[scenario]})
    errs = (big or {}).get("original_errors", {}).get("totals")
    if errs is not None:
        dropped = errs.get("original_dropped", 0)
        out.append({"name": "rows silently dropped (original -> studentflow)", "target": "0 in studentflow",
                    "value": f"{dropped:,} -> {big.get('studentflow_dropped')}",
                    "met": big.get("studentflow_dropped") == 0})
    lps = (big or {}).get("normalize", {}).get("steady_lines_per_s")
    out.append({"name": f"steady-state normalize ({label})", "target": f">= {TARGET_NORMALIZE_LPS:,} lines/s",
                "value": None if lps is None else f"{lps:,.0f} lines/s",
                "met": None if lps is None else lps >= TARGET_NORMALIZE_LPS})
    lin = result.get("scaling", {})
    if lin:
        bad = sorted(st for st, steps in lin.items() if superlinear(steps))
        out.append({"name": "every stage linear in events", "target": f"linearity <= {LINEARITY_TOLERANCE}",
                    "value": "superlinear: " + ", ".join(bad) if bad else "all stages",
                    "met": not bad if len(sizes) > 1 else None})
    su = result.get("stack_up", {}).get("median_s")
    out.append({"name": "`studentflow stack up` to ready (median)", "target": f"< {TARGET_STACK_UP_S:.0f} s",
                "value": None if su is None else f"{su:.1f} s",
                "met": None if su is None else su < TARGET_STACK_UP_S})
    return out
