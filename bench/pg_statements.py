"""PostgreSQL's own CPU per statement of a job's claim and completion, prepared and not.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> uv run python bench/pg_statements.py \
        [--jobs 400] [--rounds 2]

Each round makes `--jobs` queued no-op jobs, then claims and completes them one by one in this
process (what a worker does per job, without RQ), once with the statements prepared (the
settings' `prepare_threshold`, core.plainsql.statement_cursor) and once with preparing off (as
with EF_DB_POOLER), alternated on fresh connections. The CPU is the backend's own, read from
/proc/<pid>/schedstat around each statement, so PostgreSQL must run on this machine. Prints, per
statement kind, PostgreSQL's ms per run and this process's, and the totals per job with their
ratio. Works in the database DATABASE_URL names: it deletes every job there.
"""

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import process_cpu_seconds, setup_django  # noqa: E402

setup_django()

from django.db import connection  # noqa: E402

from jobs import services  # noqa: E402
from jobs.models import Job, JobEvent  # noqa: E402
from jobs.services.claims import job_claim_next_seeing_limits  # noqa: E402


def backend_seconds() -> float:
    return process_cpu_seconds(connection.connection.info.backend_pid)


def statement_kind(sql: str) -> str:
    return " ".join(sql.split()[:4])[:60]


def run(jobs: int, *, prepared: bool, threshold: int) -> dict:
    """Claim and complete `jobs` jobs; PostgreSQL's and this process's seconds by statement."""
    JobEvent.objects.all().delete()
    Job.objects.all().delete()
    Job.objects.bulk_create(Job(job_type="noop") for _ in range(jobs))
    connection.close()  # a fresh session: nothing prepared yet
    options = connection.settings_dict["OPTIONS"]
    options["prepare_threshold"] = threshold if prepared else None
    connection.ensure_connection()
    pg, here, count = collections.Counter(), collections.Counter(), collections.Counter()

    def measure(execute, sql, params, many, context):
        pg_before, here_before = backend_seconds(), time.process_time()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = statement_kind(sql)
            pg[kind] += backend_seconds() - pg_before
            here[kind] += time.process_time() - here_before
            count[kind] += 1

    pg_start, here_start = backend_seconds(), time.process_time()
    with connection.execute_wrapper(measure):
        for _ in range(jobs):
            job, _limited = job_claim_next_seeing_limits(queue="light")
            services.job_complete(job_id=job.id, result={})
    return {
        "pg_total": (backend_seconds() - pg_start) / jobs,
        "here_total": (time.process_time() - here_start) / jobs,
        "by_kind": {k: (pg[k] / count[k], here[k] / count[k], count[k] / jobs) for k in pg},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL running on this machine")
    threshold = connection.settings_dict["OPTIONS"].get("prepare_threshold") or 5
    results = {True: [], False: []}
    for _ in range(args.rounds):
        for prepared in (False, True):
            results[prepared].append(run(args.jobs, prepared=prepared, threshold=threshold))
    for prepared in (False, True):
        name = "prepared" if prepared else "not prepared"
        last = results[prepared][-1]["by_kind"]
        for kind, (pg, here, per_job) in sorted(last.items(), key=lambda kv: -kv[1][0]):
            print(f"{name:12s} {pg * 1000:6.3f} ms PostgreSQL {here * 1000:6.3f} ms here "
                  f"x{per_job:.1f} per job  {kind}")  # fmt: skip
    pg = {p: statistics.median(r["pg_total"] for r in results[p]) for p in results}
    here = {p: statistics.median(r["here_total"] for r in results[p]) for p in results}
    print(f"per job (claim + completion, {args.jobs} jobs, median of {args.rounds} rounds): "
          f"PostgreSQL {pg[False] * 1000:.2f} ms not prepared, {pg[True] * 1000:.2f} ms prepared "
          f"({pg[True] / pg[False]:.2f}x); this process {here[False] * 1000:.2f} / "
          f"{here[True] * 1000:.2f} ms ({here[True] / here[False]:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
