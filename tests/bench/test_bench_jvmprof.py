"""The JVM profile's pure parts: jstack parsing, frame categories, thread groups."""
from __future__ import annotations

import os
import time

from bench import jvmprof

DUMP = '''"Executor task launch worker for task 0.0 in stage 3.0 (TID 3)" #77 daemon prio=5 os_prio=0 tid=0x1 nid=0x2 runnable
   java.lang.Thread.State: RUNNABLE
	at java.util.regex.Pattern$Start.match(Pattern.java:3787)
	at org.apache.spark.sql.catalyst.expressions.GeneratedClass$GeneratedIteratorForCodegenStage1.processNext(Unknown Source)

"Thread-4" #20 daemon prio=5 os_prio=0 tid=0x3 nid=0x4 runnable
   java.lang.Thread.State: RUNNABLE
	at org.codehaus.janino.UnitCompiler.compile2(UnitCompiler.java:1)
	at org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator$.doCompile(CodeGenerator.scala:1)

"py4j-server" #19 daemon prio=5 os_prio=0 tid=0x5 nid=0x6 runnable
   java.lang.Thread.State: RUNNABLE
	at sun.nio.ch.Net.accept(Native Method)

"dispatcher-event-loop-0" #30 daemon prio=5 os_prio=0 tid=0x7 nid=0x8 waiting on condition
   java.lang.Thread.State: WAITING (parking)
	at jdk.internal.misc.Unsafe.park(Native Method)
'''


def test_parse_jstack_keeps_busy_runnable_threads_only():
    stacks = jvmprof.parse_jstack(DUMP)
    assert [s[0] for s in stacks] == ["java.util.regex.Pattern$Start.match", "org.codehaus.janino.UnitCompiler.compile2"]


def test_categorize_top_down():
    stacks = jvmprof.parse_jstack(DUMP)
    assert [jvmprof.categorize(s) for s in stacks] == ["regular expressions", "code generation (janino compile)"]
    assert jvmprof.categorize(["java.lang.String.hashCode"]) == "other"


def test_thread_groups():
    assert jvmprof.thread_group("C2 CompilerThre") == "JIT compiler"
    assert jvmprof.thread_group("GC Thread#0") == "GC"
    assert jvmprof.thread_group("Executor task l") == "Spark task threads"
    assert jvmprof.thread_group("Thread-4") == "driver / py4j / planning"
    assert jvmprof.thread_group("netty-rpc-conne") == "other JVM threads"


def test_thread_ticks_of_this_process():
    ticks = jvmprof.thread_ticks(os.getpid())
    assert os.getpid() in ticks and isinstance(ticks[os.getpid()][1], int)


def _burn(seconds: float) -> None:
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


def test_a_profile_from_now_counts_only_the_cpu_spent_inside_it():
    """since_start=False: the threads' CPU from the first look, not the process's life before it
    (bench.increments profiles a server already warmed by its first increment)."""
    _burn(0.4)   # before the profile: counted since the start only
    since_now = jvmprof.JvmProfiler(os.getpid, interval=60, since_start=False)
    since_start = jvmprof.JvmProfiler(os.getpid, interval=60)
    with since_now, since_start:
        _burn(0.3)
    inside = sum(since_now.result()["cpu_by_thread_group_s"].values())
    whole = sum(since_start.result()["cpu_by_thread_group_s"].values())
    assert 0.2 <= inside < 1.0 and whole >= inside + 0.35, (inside, whole)
