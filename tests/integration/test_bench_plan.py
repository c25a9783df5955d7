"""bench.plan on the test run's Spark server: the figures it prints are the plan the transform
sends and the round trips it times."""
from __future__ import annotations

import json

import pytest
from pyspark.sql import Row

from bench import plan
from spark_jobs import normalize as nz
from studentflow.core import config, reference

pytestmark = pytest.mark.slow


def test_it_measures_the_normalize_plan_on_a_given_server(spark_server, spark, tmp_path, capsys):
    out_file = tmp_path / "plan.json"
    assert plan.main(["--lines", "50", "--queries", "4", "--url", spark_server, "--json", str(out_file)]) == 0
    out = json.loads(out_file.read_text())
    frame = spark.createDataFrame([Row(value="x", source_file="f", line_number=1)])
    s = config.load(env={})
    ref = reference.load_reference(s.majors_file, s.major_aliases_file)
    # the size it reports is the transform's plan (give or take the input's own description)
    same = nz.normalize(frame, ref, age_min=s.age_min, age_max=s.age_max)._plan.to_proto(spark.client).ByteSize()
    assert abs(out["plan_bytes"] - same) < 5_000
    m = out["medians"]
    assert 0 < m["schema_s"] and 0 < m["explain_s"] and 0 < m["query_s"]
    assert "server_cpu_s" not in m          # not its server: no /proc figure for it
    assert f"plan {out['plan_bytes']:,} bytes; queries 3-4 of 50 lines" in capsys.readouterr().out
