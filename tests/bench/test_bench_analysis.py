"""Pure parts of the harness: linearity, averages comparison, targets and the JSON result shape."""
from __future__ import annotations

import json

import pytest

from bench import analysis, run


def test_scaling_linear_stage():
    steps = analysis.scaling({10_000: 1.0, 100_000: 10.0, 1_000_000: 100.0})
    assert [s["linearity"] for s in steps] == [1.0, 1.0]
    assert [s["marginal_us_per_event"] for s in steps] == [100.0, 100.0]
    assert not analysis.superlinear(steps)


def test_scaling_fixed_cost_is_sublinear_and_quadratic_is_flagged():
    fixed = analysis.scaling({10_000: 8.0, 100_000: 9.0, 1_000_000: 18.0})
    assert all(s["linearity"] < 1 for s in fixed) and not analysis.superlinear(fixed)
    quad = analysis.scaling({1_000: 1.0, 10_000: 100.0})
    assert quad[0]["linearity"] == 10.0 and analysis.superlinear(quad)


def test_scaling_orders_sizes_and_needs_two():
    assert analysis.scaling({100: 1.0}) == []
    steps = analysis.scaling({1000: 2.0, 100: 1.0})
    assert (steps[0]["from"], steps[0]["to"], steps[0]["size_ratio"], steps[0]["time_ratio"]) == (100, 1000, 10.0, 2.0)


def test_compare_averages():
    sf = {"Biologie": 23.0, "Chimie": 25.0}
    same = analysis.compare_averages(sf, dict(sf))
    assert not same["differ"] and same["max_abs_diff"] == 0 and same["original_only"] == {}
    diff = analysis.compare_averages(sf, {"Biologie": 23.5, "Chimie": 25.0, "  biologie  ": 22.0, "Art": 30.0})
    assert diff["differ"] and diff["max_abs_diff"] == 0.5
    assert set(diff["original_only"]) == {"  biologie  ", "Art"}
    missing = analysis.compare_averages(sf, {"Chimie": 25.0})
    assert missing["differ"] and missing["majors"]["Biologie"]["original"] is None


def _fake_size(n, e2e, ratio, lps, dropped=0):
    return {"events": n, "end_to_end_s": e2e, "common_part": {"ratio": ratio},
            "normalize": {"steady_lines_per_s": lps}, "studentflow_dropped": dropped,
            "original_errors": {"totals": {"original_dropped": 123}}}


def test_targets_met_and_missed():
    res = {"sizes": [_fake_size(10_000, 20.0, 2.0, 50_000), _fake_size(1_000_000, 29.0, 1.6, 250_000)],
           "scaling": {"sink": analysis.scaling({10_000: 1, 1_000_000: 100})}, "stack_up": {"median_s": 4.0}}
    got = {t["name"].split(" (")[0]: t["met"] for t in analysis.targets(res)}
    assert got["1M events end to end"] is True
    assert got["speed-up over the original method, common part"] is True
    assert got["rows silently dropped"] is True
    assert got["steady-state normalize"] is True
    assert got["every stage linear in events"] is True
    assert got["`studentflow stack up` to ready"] is True
    res["sizes"][1] = _fake_size(1_000_000, 31.0, 1.4, 190_000, dropped=2)
    res["scaling"] = {"sink": analysis.scaling({10_000: 1, 1_000_000: 1000})}
    res["stack_up"] = {"median_s": 12.0}
    assert all(t["met"] is False for t in analysis.targets(res))


def test_a_warm_run_is_held_to_the_warm_targets():
    size = {**_fake_size(1_000_000, 20.0, 2.5, 250_000), "warm_up_run_s": 30.0}
    got = {t["name"].split(" (")[0]: t for t in analysis.targets({"sizes": [size]})}
    assert got["1M events end to end"]["target"] == "<= 15 s" and got["1M events end to end"]["met"] is False
    assert got["speed-up over the original method, common part"]["met"] is False   # 2.5x < 3x warm
    cold = {t["name"].split(" (")[0]: t for t in analysis.targets({"sizes": [_fake_size(1_000_000, 20.0, 2.5, 1)]})}
    assert cold["1M events end to end"]["met"] is True and cold["speed-up over the original method, common part"]["met"]


def test_targets_not_measured_without_1m():
    res = {"sizes": [_fake_size(10_000, 20.0, 2.0, 50_000)]}
    e2e = analysis.targets(res)[0]
    assert e2e["met"] is None and e2e["value"] is None


def _size_result(n: int, k: float) -> dict:
    stages = [{"name": s, "seconds": k * w, "count": n, "detail": "", "peak_rss_mb": {"python": 100.0}}
              for s, w in (("stack", 1), ("produce", 2), ("sink", 1), ("normalize", 8), ("transform", 5),
                           ("validate", 4), ("report", 1))]
    r = {"events": n, "seed": 7, "malformed_rate": 0.05, "stack_up_s": 3.0, "stages": stages,
         "counts": {"produced": n, "staged_this_run": n, "lines_read": n, "clean": n - 10, "quarantined": 10,
                    "duplicates_removed": 0},
         "normalize": {"spark_startup_s": 7.0, "steady_s": k, "steady_lines_per_s": n / k,
                       "phases": {"scan": k / 2, "transform": k / 2}},
         "original": {"seconds": 10 * k, "timings": {"consume_parse": 9 * k, "spark_startup": k},
                      "peak_rss_mb": {"original_python": 80.0}}}
    for st in stages:
        st["events_per_s"] = n / st["seconds"]
    r["end_to_end_s"] = sum(st["seconds"] for st in stages if st["name"] in analysis.E2E_STAGES)
    r["common_part"] = {"studentflow_s": 14 * k, "original_s": 10 * k, "ratio": 10 / 14}
    return r


def test_result_shape_scaling_and_render():
    sizes = [_size_result(10_000, 1.0), _size_result(100_000, 5.0)]
    result = {"schema": 1, "sizes": sizes, "stack_up": {"runs_s": [3.0, 4.0, 5.0], "median_s": 4.0}}
    result["scaling"] = run.scaling_of(sizes)
    result["targets"] = analysis.targets(result)
    assert {"produce", "normalize", "normalize (steady)", "end to end", "original method"} <= set(result["scaling"])
    assert result["scaling"]["produce"][0]["linearity"] == 0.5
    json.loads(json.dumps(result))             # machine-readable as is
    text = run.render(result)
    assert "10,000 events" in text and "100,000 events" in text and "stack up" in text
    assert "linearity" in text and "targets" in text and "steady state" in text


@pytest.mark.parametrize("text, sizes", [("10000,100000", [10_000, 100_000]), ("1_000_000,10000,10000", [10_000, 1_000_000])])
def test_parse_sizes(text, sizes):
    assert run.parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["", "ten", "0", "-5"])
def test_parse_sizes_rejects(text):
    from studentflow.core.errors import ConfigError
    with pytest.raises(ConfigError):
        run.parse_sizes(text)


def test_count_differences():
    exp = {"by_rule": {"csv": 10, "json_strict": 90}, "by_reason": {"empty": 3}}
    assert analysis.count_differences(exp, exp) == {}
    got = {"by_rule": {"csv": 8, "json_strict": 90}, "by_reason": {"empty": 3, "invalid_json": 1}}
    assert analysis.count_differences(exp, got) == {"by_rule.csv": (10, 8), "by_reason.invalid_json": (0, 1)}


def test_a_result_written_outside_the_project_names_no_machine_path(tmp_path):
    from bench import portable_json
    from studentflow.core import config

    out, work = tmp_path / "out", tmp_path / "out" / "work-1"
    result = {"command": f"python -m bench.run --out {out}", "detail": f"3 files in {work}/size-1/data/report",
              "log": str(config.PROJECT_ROOT / "bench" / "results" / "x.log")}
    text = portable_json(result, out_dir=out, work_root=work)
    assert str(tmp_path) not in text and str(config.PROJECT_ROOT) not in text
    assert "--out <out>" in text and "3 files in <work>/size-1/data/report" in text and '"bench/results/x.log"' in text

