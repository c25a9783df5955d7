"""The quality worker: dbt, Great Expectations and the report's libraries imported once, kept by
the stack beside the broker, the Connect worker and the Spark server.

A `run` pays about 5 CPU-seconds importing them (Great Expectations 3.4, dbt 1.5, matplotlib
0.5): on 2 cores, most of a second run on a warm stack. A run on a running stack hands its
transform, validate and report steps (studentflow/pipeline/derive.py, the same objects) to this
process instead, over a loopback socket with a key (``multiprocessing.connection``), and prints
what they say as they say it. Each job carries the run's settings and options: the worker keeps
no state of a project between jobs but its imports, dbt's parsed project on disk and Great
Expectations' last context.

* `studentflow transform` runs its dbt command, and `studentflow validate` its gate, in a worker
  that is running (an analyst's edit-and-build loop skips dbt's import and parse, a CI check
  Great Expectations' import), or in its own process when there is none;
* ``studentflow stack up`` starts it (``warm_quality``), recorded in ``<state_dir>/quality.json``
  (address, PID, key; 0600); ``stack status`` shows it; ``stack down`` stops it;
* a `run` on a running stack starts it when it is missing or dead, and uses it from then on;
  `run --follow` hands it each increment's gate and report (RemoteChecker);
* ``quality_remote`` + ``quality_key``: a worker started elsewhere (``python -m
  studentflow.pipeline.quality_service --port P`` with ``STUDENTFLOW_QUALITY_KEY`` set);
* a worker that cannot be reached, or dies during a job, costs nothing but time: the run says so
  and runs the steps in its own process (dbt rebuilds the marts, the gate only reads).

The worker runs the code it imported when it started. Each job carries a fingerprint of the
Python code (studentflow.quality.code_version): after a change, a run or `stack up` restarts the
stack's worker (`stack status` shows one from before a change), and a worker started elsewhere
refuses the job (the run runs the steps itself). A changed dbt
model or expectation needs nothing: they are read per job.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import replace
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

from studentflow.core import config, procs
from studentflow.core.config import Settings
from studentflow.quality import KEY_ENV, code_version, ensure

CONNECT_TIMEOUT = 120.0   # seconds a run waits for a starting worker (its imports: about 5 s of CPU)


def _steps(names: list[str]) -> list:
    from studentflow.pipeline.derive import Report, Transform, Validate

    known = {"transform": lambda: Transform(keep_parse=True), "validate": Validate, "report": Report}
    return [known[n]() for n in names]


# --- the worker ------------------------------------------------------------------------------

def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)


def _run_job(conn, job: dict[str, Any]) -> None:
    """One run's steps on a context made from what the run sent; every progress line goes back
    as it is said; then the summary (or the error and the summary so far)."""
    from studentflow.pipeline.quality_worker import DRAWER, _error_of
    from studentflow.pipeline.step import RunContext, timed

    DRAWER.wait()   # a follow's report still drawing writes the files this run's report may write
    ctx = RunContext(job["settings"], job["options"], say=lambda m: conn.send(("say", m)),
                     summary=job["summary"], t0=time.perf_counter() - job["elapsed"])
    try:
        for step in _steps(job["steps"]):
            with timed(ctx, step.name, step.title(ctx)) as record:
                step.run(ctx, record)
            conn.send(("stage", record))   # a safe point: the run may stop here
    except Exception as exc:  # noqa: BLE001  (the run raises it again)
        conn.send(("error", {**_error_of(exc), "summary": ctx.summary}))
        return
    conn.send(("ok", {"summary": ctx.summary}))


def _command_job(conn, job: dict[str, Any]) -> None:
    """One command an analyst or CI runs by hand, on what this worker has imported and parsed:
    `studentflow transform`'s dbt command (``job["dbt"]``, on the project parsed last) or
    `studentflow validate`'s gate (``job["validate"]``); its outcome, as the command's own process
    would have it."""
    from studentflow.pipeline.quality_worker import DRAWER, _error_of

    DRAWER.wait()   # a follow's report still drawing reads the manifest a build may rewrite
    try:
        if "dbt" in job:
            from studentflow.transform import runner

            outcome = runner.run_dbt(job["settings"], job["dbt"], project_dir=Path(job["project_dir"]), reuse_parse=True)
        else:
            from expectations import gate

            outcome = gate.run(job["settings"], **job["validate"])
    except Exception as exc:  # noqa: BLE001  (a missing table, dbt missing: the command raises it again)
        conn.send(("error", _error_of(exc)))
        return
    conn.send(("ok", outcome))


def _prepare(settings: Settings) -> dict[str, Any]:
    """dbt's parse of the project for a run's settings (its vars), ahead of its transform, kept in
    this process (transform.runner.parsed_manifest): the build then only builds. The first parse
    of this process also sets dbt up (about 3 s of CPU that would otherwise open the transform);
    another data folder with the same vars only gets its manifest.json written."""
    from studentflow.transform import runner

    return {"parsed": runner.parsed_manifest(settings) is not None}   # its time: the job's log line


def serve(port: int, key: bytes, host: str = "127.0.0.1") -> None:
    """Listen first (a run may connect and wait while the imports are paid), import, then serve
    one connection at a time, one job per message, until stopped (SIGTERM)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # stopped by its owner (`stack down`), not a terminal
    with Listener((host, port), authkey=key) as listener:
        _log(f"listening on {host}:{port}; importing dbt, Great Expectations and matplotlib")
        t = time.perf_counter()
        code = code_version()   # of the code about to be imported: a job from other code is refused
        from studentflow.pipeline.step import RunContext
        from studentflow.pipeline.summary import RunOptions

        ctx = RunContext(Settings(), RunOptions())
        for step in _steps(["transform", "validate", "report"]):
            step.prepare(ctx)
        _log(f"ready in {time.perf_counter() - t:.1f}s")
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError, AuthenticationError) as exc:   # a client without the key, or gone
                _log(f"refused a connection: {type(exc).__name__}: {exc}")
                continue
            with conn:
                _serve_connection(conn, code)
            procs.release_freed_memory()   # the heap a job freed, back to the system between runs


def _serve_connection(conn, code: str) -> None:
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):   # the run is done, or gone
            return
        t = time.perf_counter()
        what = (f"the follow's check of {job.get('run_id')}" if job.get("check") else
                "dbt's parse ahead of a run's transform" if job.get("prepare") else
                f"`studentflow transform`'s dbt {' '.join(job['dbt'])}" if job.get("dbt") else
                "`studentflow validate`" if job.get("validate") is not None else ", ".join(job.get("steps", [])))
        try:
            if job.get("project_root") != str(config.PROJECT_ROOT):
                conn.send(("refused", f"this worker serves the project at {config.PROJECT_ROOT}"))
                continue
            if job.get("code") != code:
                conn.send(("refused", "it runs studentflow's code from before a change: restart it"))
                continue
            if job.get("prepare"):   # a run's transform is coming: parse its dbt project now
                answer = _prepare(job["settings"])
                what += "" if answer["parsed"] else " (the project did not parse: the build will say why)"
                conn.send(("ok", answer))
            elif job.get("dbt") or job.get("validate") is not None:   # QualityClient.run_dbt, .validate
                _command_job(conn, job)
            elif job.get("check"):   # a follow's increment (RemoteChecker), as its checker child runs it
                from studentflow.pipeline.quality_worker import answer_check

                answer_check(conn, job["settings"], job)
            else:
                _run_job(conn, job)
        except (EOFError, OSError):   # the run went away mid-job (killed): serve the next one
            _log(f"the run went away during {what}")
            return
        _log(f"{what} for {job['settings'].warehouse} in {time.perf_counter() - t:.1f}s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studentflow.pipeline.quality_service",
                                description="Serve studentflow runs' dbt, Great Expectations and report steps "
                                            f"with their libraries imported once. The key comes from {KEY_ENV}.")
    p.add_argument("--port", type=int, required=True, help="the port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: loopback)")
    args = p.parse_args(argv)
    key = config.load().quality_key   # the setting's variable is KEY_ENV
    if not key:
        print(f"error: {KEY_ENV} is not set -> set it to the key runs will use (quality_key)", file=sys.stderr)
        return 2
    serve(args.port, key.encode(), args.host)
    return 0


# --- the run's side --------------------------------------------------------------------------

def _on_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _job(code: str | None = None, **fields: Any) -> dict[str, Any]:
    """A job for the worker: ``fields``, and what it checks before it serves one (this checkout
    and its code; ``code``: code_version() already taken, else taken now)."""
    return {**fields, "project_root": str(config.PROJECT_ROOT), "code": code or code_version()}


class QualityClient:
    """Where a run sends its later steps: the stack's worker, or the configured remote one."""

    def __init__(self, address: str, key: str, pid: int = 0) -> None:
        host, _, port = address.rpartition(":")
        self.address, self.key, self.pid = (host, int(port)), key.encode(), pid

    @classmethod
    def for_run(cls, settings: Settings, say=lambda _m: None) -> "QualityClient":
        if settings.quality_remote:
            return cls(settings.quality_remote, settings.quality_key)
        state = ensure(settings, say)
        return cls(state.address, state.key, state.pid)

    def where(self) -> str:
        return f"the stack's quality worker (pid {self.pid})" if self.pid else \
            f"the quality worker at {self.address[0]}:{self.address[1]}"

    def connect(self, timeout: float = CONNECT_TIMEOUT):
        """A connection, once the worker listens (it may be starting); None when it never does."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return Client(self.address, authkey=self.key)
            except ConnectionRefusedError:
                if (self.pid and not procs.pid_alive(self.pid)) or time.monotonic() > deadline:
                    return None
                time.sleep(0.1)

    def prepare(self, settings: Settings, timeout: float = CONNECT_TIMEOUT) -> dict[str, Any] | None:
        """Have the worker parse the dbt project for ``settings`` now (see :func:`_prepare`); a
        job sent meanwhile waits for it (one connection at a time). What the worker said, or
        None when it could not (unreachable, refused, gone: the transform job then finds out and
        says so)."""
        kind, payload = self._ask(_job(prepare=True, settings=settings), timeout)
        return payload if kind == "ok" else None

    def _ask(self, job: dict[str, Any], timeout: float) -> tuple[str, Any]:
        """One job, one answer: (kind, payload) as the worker sent them, or ("unavailable", the
        error's name) when it could not be asked ("": not answering; a wrong key; gone)."""
        try:
            conn = self.connect(timeout)
            if conn is None:
                return "unavailable", ""
            with conn:
                conn.send(job)
                return conn.recv()
        except (EOFError, OSError, AuthenticationError) as exc:
            return "unavailable", type(exc).__name__

    @classmethod
    def running(cls, settings: Settings) -> "QualityClient | None":
        """The configured worker, or the stack's if it runs this checkout's code; None otherwise
        (nothing is started: a command that only might use one runs its work itself)."""
        if settings.quality_remote:
            return cls(settings.quality_remote, settings.quality_key)
        from studentflow import quality

        state = quality.running(settings)
        if state is None or state.code != code_version():
            return None
        return cls(state.address, state.key, state.pid)

    @classmethod
    def for_command(cls, settings: Settings, doing: str) -> "QualityClient | None":
        """For a command run by hand (transform, validate): the running worker (``running``), with
        "``doing`` in <which worker>" said on stderr (stdout holds the command's output or JSON);
        None when there is none."""
        client = cls.running(settings)
        if client is not None:
            _on_stderr(f"{doing} in {client.where()}")
        return client

    def run_dbt(self, settings: Settings, command: list[str], timeout: float = 5.0):
        """``command`` (dbt's arguments, as run_dbt takes them) in the worker, on the project it
        parsed last: the DbtOutcome, or None when the worker could not run it (unreachable,
        refused, gone: said on stderr), so the caller runs it itself."""
        from studentflow.transform.runner import DBT_PROJECT   # read now: the project this process runs

        return self._command(_job(dbt=list(command), settings=settings, project_dir=str(DBT_PROJECT)), "dbt", timeout)

    def validate(self, settings: Settings, *, suite_names: list[str] | None, docs: bool, timeout: float = 5.0):
        """`studentflow validate`'s gate (expectations.gate.run) in the worker, whose Great
        Expectations is imported: the GateResult, or None as for run_dbt."""
        return self._command(_job(validate={"suite_names": suite_names, "docs": docs}, settings=settings),
                             "the gate", timeout)

    def _command(self, job: dict[str, Any], doing: str, timeout: float):
        """A command's one job: its outcome; None, said on stderr (stdout holds the command's
        output or JSON), when the worker could not run it; the error it raised, raised here."""
        from studentflow.pipeline.quality_worker import CheckerError

        kind, payload = self._ask(job, timeout)
        if kind in ("unavailable", "refused"):
            why = (f"{self.where()} refused the job ({payload})" if kind == "refused" else
                   f"could not use {self.where()} ({payload})" if payload else f"{self.where()} is not answering")
            _on_stderr(f"{why}; running {doing} in this process")
            return None
        if kind == "error":
            raise CheckerError.of(payload)
        return payload

    def run_steps(self, ctx, steps: list, *, timeout: float = CONNECT_TIMEOUT) -> bool:
        """Run ``steps`` in the worker, their progress printed here, their stages in ``ctx.summary``.
        False when the worker could not run them (unreachable, refused, or gone mid-job: said on
        ``ctx``), so the caller runs them itself; a step's own failure is raised as it would be here."""
        from studentflow.pipeline.quality_worker import CheckerError

        options = ctx.options
        if options.junit_xml is not None:   # the worker's working folder is not this process's
            options = replace(options, junit_xml=os.path.abspath(options.junit_xml))
        job = _job(steps=[s.name for s in steps], settings=ctx.settings, options=options,
                   summary=ctx.summary, elapsed=time.perf_counter() - ctx.t0)
        try:
            conn = self.connect(timeout)
        except (OSError, AuthenticationError) as exc:   # a wrong key, a reset
            ctx.note(f"could not use {self.where()}: {type(exc).__name__}: {exc}; running them here")
            return False
        if conn is None:
            ctx.note(f"{self.where()} is not answering; running the steps in this process")
            return False
        with conn:
            ctx.note(f"transform, validate and report in {self.where()}")
            try:
                conn.send(job)
                while True:
                    kind, payload = conn.recv()
                    if kind == "say":
                        ctx.say(payload)
                    elif kind != "stage":
                        break
                    else:
                        ctx.summary.stages.append(payload)   # (the summary at the end replaces them)
                        if ctx.stopping.is_set():   # stopped after this step, as here: the worker
                            conn.close()            # finds the connection closed when it goes on
                            ctx.stopping.check()
            except (EOFError, OSError):
                ctx.note(f"{self.where()} ended during the job; running the steps in this process")
                return False
        if kind == "refused":
            ctx.note(f"{self.where()} refused the job ({payload}); running the steps in this process")
            return False
        vars(ctx.summary).update(vars(payload["summary"]))
        if kind == "error":
            raise CheckerError.of(payload)
        return True


class RemoteChecker:
    """The follow's gate and report of each increment in the quality worker: the interface of
    the checker child (studentflow/pipeline/quality_worker.py), whose process and imports the
    worker already has. One connection per increment, so the worker serves other runs between
    them. A worker that cannot be reached or goes away costs nothing but time: the follow says so
    and starts its own checker child for the rest of the loop."""

    def __init__(self, client: QualityClient, settings: Settings, *, gate: bool, say) -> None:
        self.client, self.settings, self.gate, self.say = client, settings, gate, say
        self.local = None   # the checker child, once the worker failed
        self.code = code_version()

    @property
    def pid(self) -> int | None:
        return self.local.pid if self.local else None

    def start(self) -> "RemoteChecker":
        return self

    def _fall_back(self, why: str):
        from studentflow.pipeline.quality_worker import Checker

        self.say(f"{self.client.where()} {why}; the gate and the report go to a process of this run")
        self.local = Checker(self.settings, gate=self.gate).start()
        return self.local

    def wait_ready(self) -> None:
        """The worker listens once its imports are done; else this run's own checker from here on."""
        if self.local is None:
            try:
                conn = self.client.connect()
            except (OSError, AuthenticationError) as exc:
                conn, why = None, f"refused the connection ({type(exc).__name__}: {exc})"
            else:
                why = "is not answering"
            if conn is None:
                self._fall_back(why)
            else:
                conn.close()
        if self.local is not None:
            self.local.wait_ready()

    def check(self, run_id: str, *, gate: bool, lang: str, run_summary: Any, report: bool = True,
              on_read=None, timeout: float = 600, background: bool = False, drawn_for=()):
        """As Checker.check: the worker's error raised as CheckerError."""
        from studentflow.pipeline.quality_worker import CheckerError, read_answer

        fields = dict(gate=gate, lang=lang, run_summary=run_summary, report=report, background=background,
                      drawn_for=list(drawn_for))   # what the job carries, as Checker.check sends it
        args = dict(fields, on_read=on_read, timeout=timeout)
        if self.local is not None:
            return self.local.check(run_id, **args)
        job = _job(self.code, check=True, run_id=run_id, settings=self.settings, **fields)
        try:
            conn = self.client.connect()
            if conn is None:
                return self._fall_back("is not answering").check(run_id, **args)
            with conn:
                conn.send(job)
                kind, payload = read_answer(lambda: self._receive(conn, timeout), on_read)
        except (EOFError, OSError, AuthenticationError) as exc:
            return self._fall_back(f"went away during a check ({type(exc).__name__})").check(run_id, **args)
        if kind == "refused":
            return self._fall_back(f"refused the check ({payload})").check(run_id, **args)
        if kind != "ok":
            raise CheckerError.of(payload)
        return payload

    def _receive(self, conn, timeout: float):
        from studentflow.pipeline.quality_worker import CheckerError

        if not conn.poll(timeout):
            raise CheckerError(f"{self.client.where()} did not answer a check in {timeout:g} s")
        return conn.recv()

    def stop(self, timeout: float = 10) -> None:
        if self.local is not None:
            self.local.stop(timeout)


if __name__ == "__main__":
    procs.end_process(main())   # GX, dbt and matplotlib are imported: no teardown of them (see there)
