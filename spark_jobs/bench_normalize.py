"""Benchmark of the normalization stage alone: generate N staged lines, normalize them, print lines/s.

    python -m spark_jobs.bench_normalize --lines 1000000 [--malformed 0.05] [--writer python|jdbc|both]

Spark start-up is timed separately; "steady state" is everything after the session exists
(scan + transform + conservation check + SQLite write). The generated lines carry their kind, so
the same generator backs the conservation test (tests/integration/test_normalize_pipeline.py).
The project-wide benchmark harness lives in bench/ (another stage); this is the stage's own probe.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

# The canonical majors (the dbt seed) and the kind -> verdict contract (the producer's table):
# one source of truth each.
from producer.events import load_majors
from producer.generate import EXPECTED
from studentflow import config as _config

MAJORS = load_majors(_config.load().majors_file)
FIRST = ("Alice", "Bob", "Claire", "David", "Emma", "Farid", "Léa", "Hugo", "Inès", "Jules", "Zoé", "Noé")
LAST = ("Dupont", "Martin", "Lemoine", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Fournier", "Girard")

MALFORMED = [k for k in EXPECTED if k not in ("valid", "duplicate")]


def _event(rng: random.Random, **over) -> dict:
    e = {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
         "student_id": f"S{rng.randrange(10**7):07d}",
         "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST),
         "age": rng.randint(17, 60), "major": rng.choice(MAJORS),
         "emitted_at": f"2026-11-27T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
         "schema_version": 1}
    e.update(over)
    return {k: v for k, v in e.items() if v is not _DROP}


_DROP = object()


def make_line(kind: str, rng: random.Random) -> str:
    """One staged line of the given kind (see EXPECTED)."""
    dumps = lambda e: json.dumps(e, ensure_ascii=False, separators=(",", ":"))  # noqa: E731  (as the producer)
    first, last, major = rng.choice(FIRST), rng.choice(LAST), rng.choice(MAJORS)
    age = rng.randint(17, 60)
    if kind == "valid":
        return dumps(_event(rng))
    if kind == "csv_like":
        return f"{first},{last},{age},{major}"
    if kind == "age_key_value":
        return f"{first},{last},age:{age},{major}"
    if kind == "major_spacing_case":
        return dumps(_event(rng, major=f"  {major.lower()}  "))
    if kind == "age_as_string":
        return dumps(_event(rng, age=str(age)))
    if kind == "missing_event_id":
        return dumps(_event(rng, event_id=_DROP))
    if kind == "non_student_text":
        return rng.choice(("hello kafka", "ping", "lorem ipsum dolor", "null"))
    if kind == "truncated_json":
        text = dumps(_event(rng))
        return text[: rng.randint(5, len(text) - 5)]
    if kind == "empty":
        return ""
    if kind == "age_out_of_range":
        return dumps(_event(rng, age=rng.choice((7, 140, 14, 101))))
    if kind == "age_negative":
        return dumps(_event(rng, age=-rng.randint(1, 30)))
    if kind == "age_not_a_number":
        return dumps(_event(rng, age=rng.choice(("vingt", "22 ans", "n/a"))))
    if kind == "missing_major":
        return dumps(_event(rng, major=_DROP))
    if kind == "missing_age":
        return dumps(_event(rng, age=_DROP))
    if kind == "missing_name":
        return dumps(_event(rng, **{rng.choice(("first_name", "last_name")): _DROP}))
    if kind == "unknown_major":
        return dumps(_event(rng, major=rng.choice(("Art", "Astrologie", "Danse"))))
    raise ValueError(f"unknown kind {kind!r}")


def generate(n: int, *, malformed: float = 0.05, duplicates: float = 0.01, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` (kind, line) pairs: mostly valid events, ``malformed`` share spread over every malformed
    kind, ``duplicates`` share as byte-identical copies of earlier valid lines. Reproducible."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    valid_lines: list[str] = []
    seen_without_id: set[str] = set()   # lines whose event_id derives from their content
    for _ in range(n):
        x = rng.random()
        if x < malformed:
            kind = MALFORMED[rng.randrange(len(MALFORMED))]
        elif x < malformed + duplicates and valid_lines:
            out.append(("duplicate", valid_lines[rng.randrange(len(valid_lines))]))
            continue
        else:
            kind = "valid"
        line = make_line(kind, rng)
        if kind == "valid":
            valid_lines.append(line)
        elif kind in ("csv_like", "age_key_value", "missing_event_id"):
            if line in seen_without_id:   # same text, same derived event_id: a duplicate
                kind = "duplicate"
            seen_without_id.add(line)
        out.append((kind, line))
    return out


def write_staging(pairs: list[tuple[str, str]], folder: Path, name: str = "students.raw.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(line for _k, line in pairs))
        fh.write("\n")
    return path


def expected_counts(pairs: list[tuple[str, str]]) -> Counter:
    return Counter(EXPECTED[k][0] for k, _ in pairs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spark_jobs.bench_normalize", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="staged lines to generate (default 1000000)")
    ap.add_argument("--malformed", type=float, default=0.05, help="share of malformed lines (default 0.05)")
    ap.add_argument("--duplicates", type=float, default=0.01, help="share of duplicate lines (default 0.01)")
    ap.add_argument("--writer", choices=("python", "jdbc", "both"), default="python",
                    help="SQLite write path to time (default python; both = one run each, same session)")
    ap.add_argument("--repeat", type=int, default=1, help="steady-state runs per writer (default 1)")
    args = ap.parse_args(argv)

    from spark_jobs.job import run_normalize
    from spark_jobs.session import get_session
    from studentflow import config

    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        pairs = generate(args.lines, malformed=args.malformed, duplicates=args.duplicates)
        write_staging(pairs, tmp / "staging")
        expect = expected_counts(pairs)
        print(f"generated {len(pairs):,} lines in {time.perf_counter() - t:.1f} s "
              f"(expected clean {expect['clean']:,}, quarantine {expect['quarantine']:,}, "
              f"duplicates {expect['duplicate']:,})")
        settings = config.load(data_dir=str(tmp), staging_dir=str(tmp / "staging"),
                               warehouse=str(tmp / "warehouse.db"))
        t = time.perf_counter()
        spark = get_session(settings)
        startup = time.perf_counter() - t
        print(f"spark start-up {startup:.1f} s ({settings.spark_master})")
        try:
            writers = ("python", "jdbc") if args.writer == "both" else (args.writer,)
            for writer in writers:
                for i in range(args.repeat):
                    r = run_normalize(settings, spark=spark, writer=writer, progress=lambda _m: None)
                    ok = (r.clean, r.quarantined, r.duplicates_removed) == (
                        expect["clean"], expect["quarantine"], expect["duplicate"])
                    phases = ", ".join(f"{k} {v:.2f}s" for k, v in r.timings.items())
                    print(f"[{writer} #{i + 1}] {r.lines_read:,} lines in {r.steady_seconds:.2f} s = "
                          f"{r.lines_read / r.steady_seconds:,.0f} lines/s steady state ({phases}); "
                          f"with start-up {r.steady_seconds + startup:.1f} s; counts "
                          f"{'as expected' if ok else 'UNEXPECTED'}")
        finally:
            spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
