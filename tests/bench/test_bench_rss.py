"""RSS sampling from /proc: a real child process, attributed to stages and roles."""
from __future__ import annotations

import subprocess
import sys
import time

from bench import rss

ALLOC = "import sys, time; b = bytearray(80 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); " \
        "sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(30)"


def test_read_status_of_self_and_gone_pid():
    import os
    st = rss.read_status_kb(os.getpid())
    assert st["VmRSS"] > 0 and st["VmHWM"] >= st["VmRSS"]
    assert rss.read_status_kb(2 ** 22 + 12345) == {}


def test_classify_roles():
    assert rss.classify("/x/tansu broker --listener-url tcp://127.0.0.1:1", []) == "broker"
    assert rss.classify("java -cp x org.apache.kafka.connect.cli.ConnectStandalone w.properties", []) == "connect"
    spark = "java -cp y org.apache.spark.deploy.SparkSubmit pyspark-shell"
    assert rss.classify(spark, []) == "spark_driver"
    assert rss.classify(spark, ["python -m bench.baseline_original --topic t"]) == "original_spark"
    assert rss.classify("python -m bench.baseline_original --topic t", []) == "original_python"
    assert rss.classify("/venv/bin/python /venv/bin/dbt build", []) == "dbt"
    assert rss.classify("sleep 5", []) == "other"


def test_sampler_sees_a_child_in_its_stage():
    # the child is "python -c ..." and would be "other": name it through `extra`, as for a pid we know
    proc = subprocess.Popen([sys.executable, "-c", ALLOC], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        sampler = rss.RssSampler(interval=0.05, extra=lambda: {proc.pid: "worker"})
        with sampler:
            with sampler.stage("busy"):
                # wait for the background loop's own samples (entry gave one): counted, not timed
                deadline = time.monotonic() + 60
                while sampler.samples < 4:
                    assert time.monotonic() < deadline, f"the sampling loop took {sampler.samples} samples"
                    time.sleep(0.01)
                in_stage = sampler.samples
        peaks = sampler.peaks_kb["busy"]
        assert peaks["worker"] >= 80 * 1024          # the 80 MB it touched
        assert peaks["python"] > 0                   # this process
        assert sampler.hwm_kb["worker"] >= peaks["worker"]
        assert sampler.samples >= in_stage + 2       # the stage's exit and the sampler's last look
        assert sampler.peaks_mb()["busy"]["worker"] >= 80.0
    finally:
        proc.kill()
        proc.wait()


def test_stage_and_stop_sample_without_the_loop():
    # a loop that never wakes up: the stage's entry and exit and stop() are the samples, exactly
    sampler = rss.RssSampler(interval=3600)
    with sampler:
        with sampler.stage("short"):
            pass
    assert sampler.samples == 3
    assert sampler.peaks_kb["short"]["python"] > 0


def test_descendants_walks_the_tree():
    parents = {2: 1, 3: 2, 4: 2, 5: 9}
    assert sorted(rss.descendants(1, parents)) == [2, 3, 4]
    assert rss.descendants(5, parents) == []


def test_cpu_seconds_of_a_busy_child():
    # the child spins for 0.6 s of its own CPU time, then says so (no wall-clock assumption)
    busy = ("import sys, time; t = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"
            "sys.stdout.write('done\\n'); sys.stdout.flush(); time.sleep(30)")
    sampler = rss.RssSampler(interval=0.05)
    with sampler:
        with sampler.stage("spin"):
            proc = subprocess.Popen([sys.executable, "-c", busy], stdout=subprocess.PIPE, text=True)
            try:
                assert proc.stdout.readline().strip() == "done"
                sampler.sample()           # the last look inside the stage, before the kill
            finally:
                with sampler.stage("after"):
                    proc.kill()
                    proc.wait()
    cpu = sampler.cpu_seconds()["spin"]
    assert cpu.get("other", 0) >= 0.5      # the child's spin (unknown command line: role "other")
