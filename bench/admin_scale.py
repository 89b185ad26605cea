"""The operator's admin pages and the dashboard on a table of 1,000,000 jobs: each page as a
logged-in superuser through Django's test client (the whole Django stack, no HTTP server), best
of `--rounds`, against a 200 ms target and against the admin's index page (no job query) measured
in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python bench/admin_scale.py \
        [--database ef_admin_bench] [--jobs 1000000] [--owners 1000] [--rounds 3] [--refill] \
        [--explain]
    uv run python bench/admin_scale.py [--jobs 100000]     # SQLite, in a temporary data dir

With a PostgreSQL DATABASE_URL the benchmark takes only the server from it and works in its own
database (`--database`), which it creates, migrates and fills once (INSERT ... SELECT over
generate_series, the fill of bench/jobs_list.py with varied errors, a few imported rows and a
cost entry per completed TTS job, inserted in creation order as a real table fills), then
VACUUM ANALYZE; later runs reuse the fill when the count
matches (`--refill` forces one). It refuses any database named `test*`. Without DATABASE_URL it
runs on SQLite in a temporary data dir, filled from Python (default 100,000 jobs).

Printed per page: the best time, the number of SQL queries and the slowest of them, the ratio to
the index page, and the target verdict; `--explain` adds EXPLAIN (ANALYZE, BUFFERS) of each page's
slowest query (PostgreSQL).
"""

import argparse
import os
import random
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import embedded_redis, setup_django  # noqa: E402
from bench.jobs_list import (  # noqa: E402
    JOB_TYPES,
    OWNER_PREFIX,
    STATUS_SHARES,
    bench_database_url,
    ensure_database,
    ensure_owners,
    fill_sql,
)

TARGET_MS = 200
STAFF = "bench-staff"
# Failed jobs' errors: what operators search for (the last one names its job: a rare term).
ERRORS = (
    "ffmpeg exited with code 1: Invalid data found when processing input",
    "Interrupted: the worker was lost (no heartbeat for 30 s)",
    "ElevenLabs quota exceeded (HTTP 429)",
    "render timed out after 3600 s (job {n})",
)
IMPORTED_EVERY = 200  # one job in 200 imported from the prototype
PG_EXPRESSIONS = {
    "error": "CASE st WHEN 'failed' THEN (CASE g %% 4 "
    + " ".join(f"WHEN {i} THEN '{e}'" for i, e in enumerate(ERRORS[:-1]))
    + " ELSE 'render timed out after 3600 s (job ' || g || ')' END) ELSE '' END",
    "imported": f"g %% {IMPORTED_EVERY} = 0",
    "params": "jsonb_build_object('source', 'upload-' || g || '.mp4', 'preset', 'tiktok')",
}
COSTS_SQL = """
INSERT INTO jobs_costentry (job_id, owner_id, service, operation, units, unit_name,
                            audio_seconds, cost_usd, details, created_at)
SELECT id, owner_id, 'elevenlabs', 'tts', 1200, 'characters', 12.5, 0.264, '{}', completed_at
FROM jobs_job WHERE job_type = 'tts' AND status = 'completed'
"""


# --- the fill -----------------------------------------------------------------------------------
def python_jobs(n: int, owners: list[int], now, rng: random.Random):
    """The same spread as the PostgreSQL fill, as model instances (SQLite)."""
    from jobs.models import Job

    for g in range(1, n + 1):
        r = rng.random()
        status = next(name for name, share in STATUS_SHARES if r < share)
        run = rng.random()
        active = status in ("queued", "processing")
        created = now - (
            timedelta(hours=rng.random()) if active else timedelta(days=180) * rng.random()
        )
        ended = created + timedelta(seconds=5 + run * 300)
        owner = owners[0] if rng.random() < 0.1 else rng.choice(owners[1:])
        error = ""
        if status == "failed":
            error = ERRORS[g % 4].format(n=g)
        yield Job(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            job_type=rng.choice(JOB_TYPES),
            owner_id=owner,
            status=status,
            progress=100 if status == "completed" else 0 if status == "queued" else run * 100,
            stage="done" if status == "completed" else "",
            error=error,
            attempts=0 if status == "queued" else 2 if status == "failed" else 1,
            created_at=created,
            started_at=None if status == "queued" else created + timedelta(seconds=1 + run),
            completed_at=None if active else ended,
            imported=g % IMPORTED_EVERY == 0,
            params={"source": f"upload-{g}.mp4", "preset": "tiktok"},
        )


def fill(args) -> None:
    from django.db import connection
    from django.utils import timezone

    from jobs.models import CostEntry, Job

    have = Job.objects.count()
    if have == args.jobs and not args.refill:
        print(f"fill: reusing {have:,} jobs", flush=True)
        return
    owners = ensure_owners(args.owners)
    t0 = time.perf_counter()
    if connection.vendor == "postgresql":
        sql, params = fill_sql(connection, PG_EXPRESSIONS, in_creation_order=True)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {connection.ops.quote_name(Job._meta.db_table)} CASCADE")
            cursor.execute("SELECT setseed(0.42)")
            params.update(n=args.jobs, heavy=owners[0], others=owners[1:],
                          n_others=len(owners) - 1, heavy_share=0.10)  # fmt: skip
            cursor.execute(sql, params)
    else:
        CostEntry.objects.all().delete()
        Job.objects.all().delete()
        now, rng = timezone.now(), random.Random(42)
        jobs = sorted(python_jobs(args.jobs, owners, now, rng), key=lambda j: j.created_at)
        Job.objects.bulk_create(jobs, batch_size=2000)  # in creation order, as a table fills
    with connection.cursor() as cursor:
        cursor.execute(COSTS_SQL)
    print(f"fill: {args.jobs:,} jobs for {len(owners)} owners and "
          f"{CostEntry.objects.count():,} cost entries in {time.perf_counter() - t0:.1f} s",
          flush=True)  # fmt: skip


def fold_ledgers() -> None:
    """What the maintenance loop does within seconds of a bulk insert: fold the count
    ledgers' rows into one per key (jobs.counts)."""
    from jobs.counts import job_counts_compact

    t0 = time.perf_counter()
    job_counts_compact(above=0)
    print(f"ledgers folded: {time.perf_counter() - t0:.1f} s", flush=True)


def analyze() -> None:
    """Fresh statistics (and, on PostgreSQL, a visibility map) as autovacuum would leave them."""
    from django.db import connection

    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("jobs_job", "jobs_costentry"):
                cursor.execute(f"VACUUM (ANALYZE) {table}")
        else:
            cursor.execute("ANALYZE")
    print(f"ANALYZE: {time.perf_counter() - t0:.1f} s", flush=True)


# --- the pages ----------------------------------------------------------------------------------
def staff_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    users = get_user_model().objects
    staff = users.filter(username=STAFF).first() or users.create_superuser(
        STAFF, "staff@example.com", None
    )
    client = Client()
    client.force_login(staff)
    return client


def pages() -> list[tuple[str, str, str | None]]:
    """(name, URL, a text the answer must contain) for every page measured."""
    from django.urls import reverse

    from jobs.models import Job

    changelist = reverse("admin:jobs_job_changelist")
    failed = Job.objects.filter(status="failed", error__startswith="render timed out").first()
    rare = failed.error.split("(")[-1].rstrip(")")  # "job 1234": one job's error
    owner = Job.objects.filter(owner__username__startswith=OWNER_PREFIX).order_by("-created_at")
    owner_name = owner.values_list("owner__username", flat=True)[200]
    prefix = str(failed.pk)[:8]
    return [
        ("admin index (baseline)", reverse("admin:index"), None),
        ("job list", changelist, "Select job to change"),
        ("job list, page 500", f"{changelist}?p=500", "Select job to change"),
        ("search: id prefix", f"{changelist}?q={prefix}", prefix),
        ("search: full id", f"{changelist}?q={failed.pk}", str(failed.pk)[:8]),
        ("search: owner username", f"{changelist}?q={owner_name}", owner_name),
        ("search: error text, rare", f"{changelist}?q={rare.replace(' ', '+')}", rare),
        ("search: error text, common", f"{changelist}?q=quota", "quota exceeded"),
        ("filter: status failed", f"{changelist}?status__exact=failed", "Select job"),
        ("filter: type and status", f"{changelist}?job_type=tts&status__exact=completed", "tts"),
        ("filter: has error", f"{changelist}?has_error=yes", "Select job"),
        ("filter: owner", f"{changelist}?owner__id__exact={failed.owner_id}", "Select job"),
        ("job detail", reverse("admin:jobs_job_change", args=[failed.pk]), str(failed.pk)),
        ("dashboard 24 h", reverse("ef_dashboard") + "?window=24h", "Jobs by status"),
        ("dashboard 7 d", reverse("ef_dashboard") + "?window=7d", "Jobs by status"),
    ]


def measure(client, url: str, expect: str | None, rounds: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        body = response.content.decode()
        if response.status_code != 200 or (expect and expect not in body):
            raise SystemExit(f"admin_scale: {url} answered {response.status_code} "
                             f"without {expect!r}: {body[:300]!r}")  # fmt: skip
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    queries = captured.captured_queries
    slowest = max(queries, key=lambda q: float(q["time"]), default=None)
    return {"best": min(times), "queries": len(queries), "slowest": slowest}


def explain(sql: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        for (line,) in cursor.fetchall():
            print(f"      {line}")


def report(args) -> None:
    from django.db import connection

    client = staff_client()
    results = []
    baseline = None
    print(f"{'page':<30} {'best of ' + str(args.rounds):>11} {'queries':>8} {'slowest':>9}"
          f" {'x index':>8}  target {TARGET_MS} ms")  # fmt: skip
    for name, url, expect in pages():
        client.get(url)  # warm-up: templates, the connection, caches
        row = measure(client, url, expect, args.rounds)
        baseline = baseline or row["best"]
        slowest = float(row["slowest"]["time"]) * 1000 if row["slowest"] else 0.0
        verdict = "met" if row["best"] <= TARGET_MS else "NOT met"
        print(f"{name:<30} {row['best']:>8.1f} ms {row['queries']:>8} {slowest:>6.1f} ms "
              f"{row['best'] / baseline:>7.1f}x  {verdict}", flush=True)  # fmt: skip
        if args.explain and row["slowest"] and connection.vendor == "postgresql":
            print(f"    slowest SQL: {row['slowest']['sql'][:400]}")
            explain(row["slowest"]["sql"])
        results.append((name, row["best"]))
    over = [(n, ms) for n, ms in results[1:] if ms > TARGET_MS]
    worst = max(results[1:], key=lambda r: r[1])
    print(f"worst: {worst[0]} {worst[1]:.1f} ms; {len(results) - 1 - len(over)} of "
          f"{len(results) - 1} pages within {TARGET_MS} ms"
          + (f" (over: {', '.join(n for n, _ in over)})" if over else ""))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="ef_admin_bench", help="PostgreSQL; never test*")
    parser.add_argument("--jobs", type=int, default=None, help="1,000,000 (PG), 100,000 (SQLite)")
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="timed requests per page (best)")
    parser.add_argument("--refill", action="store_true", help="fill again even if the count fits")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE slowest queries")
    args = parser.parse_args()
    if args.owners < 2:
        raise SystemExit("admin_scale: --owners must be at least 2")

    postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))
    args.jobs = args.jobs or (1_000_000 if postgres else 100_000)
    if postgres:
        url, maintenance = bench_database_url(args.database)
        created = ensure_database(maintenance, args.database)
        os.environ["DATABASE_URL"] = url
        where = f"PostgreSQL {args.database}{' (created)' if created else ''}"
    else:
        os.environ.pop("DATABASE_URL", None)
        where = "SQLite (temporary data dir)"
    setup_django()
    from django.core.management import call_command

    print(f"database: {where}", flush=True)
    call_command("migrate", verbosity=0)
    fill(args)
    fold_ledgers()
    analyze()
    with embedded_redis():
        report(args)


if __name__ == "__main__":
    main()
