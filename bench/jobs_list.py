"""Jobs list on a table of 1,000,000 jobs: GET /api/v1/jobs?status=... (the token's owner, a page
of 50), p50/p99 through uvicorn and Django, and the same view without HTTP, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python bench/jobs_list.py \
        [--jobs 1000000] [--owners 1000] [--requests 300] [--statuses completed,failed] [--refill]
        [--baseline-ref main]

DATABASE_URL only names the PostgreSQL server: the benchmark always works in its own database
(`--database`, default `ef_bench`), which it creates, migrates and fills once; later runs reuse
the fill when it has the right number of jobs (`--refill` forces a new one). It refuses SQLite
and any database named `test*` (the test suite's).

The fill: `--owners` users; one heavy owner holds `--heavy-share` of the jobs, the others share
the rest evenly; statuses as in production (mostly completed, some failed and cancelled, a few
queued or processing, those being the newest); created_at spread over six months.

Printed per owner and status: the endpoint's work called in-process (jobs.api.job_page: the page
query and the per-owner ledger's total), the ledger sum alone, the ORM page query and count it
replaced, and HTTP (uvicorn + the full Django stack + JSON) with GET /api/v1/ping on the same
server as the baseline; then the EXPLAIN ANALYZE of the view's queries for the heaviest case.
Target: HTTP p99 <= 10 ms. `--baseline-ref REF` (e.g. main): the same HTTP requests, beside each
case, to a second server running a checkout of REF (a detached git worktree) on the same database.
"""

import argparse
import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    api_server,
    embedded_redis,
    pct,
    sequential_latencies,
    setup_django,
    tree_cpu_seconds,
)
from bench.footprint import baseline_checkout, remove_checkout  # noqa: E402

TARGET_P99_MS = 10
OWNER_PREFIX = "bench-owner-"
# Share of each status (cumulative thresholds on one random number); active jobs are the newest.
STATUS_SHARES = (
    ("completed", 0.880),
    ("failed", 0.950),
    ("cancelled", 0.997),
    ("queued", 0.999),
    ("processing", 1.0),
)
JOB_TYPES = ("render_clip", "analyze", "tts", "mute_voice", "clip_render", "probe", "add_tts")


class Refused(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"jobs_list: {message}")


def bench_database_url(database: str) -> tuple[str, str]:
    """(URL of the bench database, URL of the server's maintenance database) from DATABASE_URL."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise Refused(
            "needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/ANY "
            f"(got {parts.scheme or 'nothing'}; SQLite is not what this target is about)"
        )
    if database.lower().startswith("test"):
        raise Refused(f"refusing database {database!r}: test databases belong to the test suite")
    return (
        urlunsplit(parts._replace(path=f"/{database}")),
        urlunsplit(parts._replace(path="/postgres")),
    )


def ensure_database(maintenance_url: str, database: str) -> bool:
    """Create the bench database if missing; True when it was created."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return not exists


def ensure_owners(count: int) -> list[int]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    users = get_user_model().objects
    names = [f"{OWNER_PREFIX}{i:04d}" for i in range(count)]
    existing = set(users.filter(username__in=names).values_list("username", flat=True))
    users.bulk_create(
        [users.model(username=n, password=make_password(None)) for n in names if n not in existing]
    )
    by_name = dict(users.filter(username__in=names).values_list("username", "id"))
    return [by_name[n] for n in names]


def _status_case() -> str:
    whens = " ".join(f"WHEN r_status < {share} THEN '{name}'" for name, share in STATUS_SHARES[:-1])
    return f"CASE {whens} ELSE '{STATUS_SHARES[-1][0]}' END"


# Per-column SQL for the fill; every other column gets its NULL or its model default.
FILL_EXPRESSIONS = {
    "id": "gen_random_uuid()",
    "job_type": f"(ARRAY{list(JOB_TYPES)})[1 + floor(r_type * {len(JOB_TYPES)})::int]",
    "owner_id": "CASE WHEN r_owner < %(heavy_share)s THEN %(heavy)s ELSE (%(others)s::int[])"
    "[1 + floor((r_owner - %(heavy_share)s) / (1 - %(heavy_share)s) * %(n_others)s)::int] END",
    "status": "st",
    "progress": "CASE st WHEN 'completed' THEN 100 WHEN 'queued' THEN 0 ELSE floor(r_run * 100) END",
    "stage": "CASE st WHEN 'completed' THEN 'done' ELSE '' END",
    "stage_label": "CASE st WHEN 'completed' THEN 'Done' ELSE '' END",
    "error": "CASE st WHEN 'failed' THEN 'ffmpeg exited with code 1' ELSE '' END",
    "attempts": "CASE st WHEN 'queued' THEN 0 WHEN 'failed' THEN 2 ELSE 1 END",
    "created_at": "created",
    "updated_at": "created + (5 + r_run * 300) * interval '1 second'",
    "started_at": "CASE WHEN st <> 'queued' THEN created + (1 + r_run) * interval '1 second' END",
    "completed_at": "CASE WHEN st IN ('completed', 'failed', 'cancelled') "
    "THEN created + (5 + r_run * 300) * interval '1 second' END",
}
# Built from the constants above only: no outside text reaches the SQL.
FILL_FROM = f"""
FROM (
    SELECT r.*, {_status_case()} AS st
    FROM (
        SELECT g, random() AS r_owner, random() AS r_status, random() AS r_age,
               random() AS r_type, random() AS r_run
        FROM generate_series(1, %(n)s) AS g
    ) AS r
) AS s1,
LATERAL (
    SELECT now() - CASE WHEN st IN ('queued', 'processing') THEN r_age * interval '1 hour'
                        ELSE r_age * interval '180 days' END AS created
) AS s2
"""  # noqa: S608


def fill_sql(connection, expressions=None, in_creation_order=False) -> tuple[str, dict]:
    """INSERT ... SELECT generate_series over every concrete column of Job (`expressions`
    override or add to FILL_EXPRESSIONS: bench/admin_scale.py uses the same fill, inserting in
    creation order, as a real table fills)."""
    from jobs.models import Job

    expressions = {**FILL_EXPRESSIONS, **(expressions or {})}
    columns, values, params = [], [], {}
    for field in Job._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in expressions:
            values.append(expressions[field.attname])
        elif field.null:
            values.append("NULL")
        elif field.has_default():
            params[field.attname] = field.get_db_prep_save(field.get_default(), connection)
            values.append(f"%({field.attname})s")
        else:
            raise SystemExit(f"jobs_list: no fill value for Job.{field.name}: add it to the bench")
    table = connection.ops.quote_name(Job._meta.db_table)
    select = ",\n    ".join(values)
    order = "ORDER BY s2.created" if in_creation_order else ""
    return (
        f"INSERT INTO {table} ({', '.join(columns)})\nSELECT {select}\n{FILL_FROM}{order}",
        params,
    )


def fill_jobs(args) -> None:
    from django.db import connection

    from jobs.models import Job

    have = Job.objects.count()
    if have == args.jobs and not args.refill:
        print(f"fill: reusing {have:,} jobs", flush=True)
        return
    owners = ensure_owners(args.owners)
    t0 = time.perf_counter()
    sql, params = fill_sql(connection)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {connection.ops.quote_name(Job._meta.db_table)} CASCADE")
        cursor.execute("SELECT setseed(0.42)")  # the same spread on every fill
        params.update(n=args.jobs, heavy=owners[0], others=owners[1:], n_others=len(owners) - 1,
                      heavy_share=args.heavy_share)  # fmt: skip
        cursor.execute(sql, params)
    print(f"fill: inserted {args.jobs:,} jobs for {len(owners)} owners in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip


def vacuum_analyze() -> None:
    """As autovacuum would have done on a table this old: fresh statistics, and a visibility map
    so counts can be answered from an index alone."""
    from django.db import connection

    from jobs.models import Job

    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(Job._meta.db_table)}")
    print(f"VACUUM ANALYZE: {time.perf_counter() - t0:.1f} s", flush=True)


def owners_to_measure():
    """The heavy owner and a typical one (median job count)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    counts = list(
        get_user_model()
        .objects.filter(username__startswith=OWNER_PREFIX)
        .annotate(n=Count("jobs"))
        .order_by("-n", "id")
    )
    return [("heavy", counts[0]), ("typical", counts[len(counts) // 2])]


def timed(fn, count: int) -> list[float]:
    for _ in range(5):  # warm-up: connection, caches, compiled schemas
        fn()
    latencies = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def summary(latencies) -> str:
    return f"p50 {pct(latencies, 50):.1f} ms p99 {pct(latencies, 99):.1f} ms"


def measure_in_process(user, status, count) -> tuple[dict, int]:
    """The endpoint's work without HTTP (jobs.api.job_page: plain SQL page + ledger total), and
    for comparison the ORM's page query and the count it replaced."""
    from jobs.api import JobFilters, job_page
    from jobs.models import Job
    from jobs.owner_counts import owner_job_count

    filters = JobFilters(status=status)
    qs = Job.objects.for_owner(user).filter(status=status)
    rows = {
        "job_page (page + total, no validation)": timed(lambda: job_page(user, filters), count),
        "ledger total": timed(lambda: owner_job_count(user.pk, status=status), count),
        "ORM page query (50 rows, for comparison)": timed(
            lambda: list(qs.order_by("-created_at")[:50]), count
        ),
        "ORM count query (replaced by the ledger)": timed(qs.count, count),
    }
    return rows, job_page(user, filters).total


def check_answer(port, path, headers, status, total) -> None:
    """The HTTP answer is the filtered page the ORM gives (a wrong filter would time nothing)."""
    from bench._common import RawHttpClient

    client = RawHttpClient(port, path, headers)
    code, body = client.get_with_body()
    client.close()
    page = json.loads(body)
    if code != 200 or page["total"] != total or any(i["status"] != status for i in page["items"]):
        raise SystemExit(f"jobs_list: unexpected answer {code} for {path}: {body[:300]!r}")
    if len(page["items"]) != min(50, total):
        raise SystemExit(f"jobs_list: {len(page['items'])} items for total {total}")


def explain_view_queries(user, status) -> None:
    """EXPLAIN ANALYZE of exactly the SQL the endpoint runs (captured from the connection)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.api import JobFilters, job_page

    with CaptureQueriesContext(connection) as captured:
        job_page(user, JobFilters(status=status))
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            shown = re.sub(
                r"^SELECT .{80,}? FROM", "SELECT <the JobSummary columns> FROM", query["sql"]
            )
            print(f"  SQL: {shown}")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            for (line,) in cursor.fetchall():
                print(f"    {line}")


def http_case(port, server, path, headers, count) -> tuple[list, int, float]:
    """`count` sequential requests: latencies (ms), errors, and the server's CPU per request (ms,
    its process tree from /proc: a figure a busy shared machine changes far less than wall time)."""
    sequential_latencies(port, path, headers, 5)  # warm-up
    cpu0 = tree_cpu_seconds(server.pid)
    latencies, errors = sequential_latencies(port, path, headers, count)
    return latencies, errors, (tree_cpu_seconds(server.pid) - cpu0) * 1000 / count


def measure(args) -> None:
    from core.auth import api_token_create

    verdicts, servers = [], []
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(api_server(args.web_workers, on_start=servers.append))
        if args.baseline:  # the same requests to a server running the baseline's code
            base_port = stack.enter_context(
                api_server(args.web_workers, on_start=servers.append, checkout=args.baseline)
            )
        for label, user in owners_to_measure():
            token = api_token_create(user=user, name="bench")[1]
            headers = {"Authorization": f"Bearer {token}"}
            for status in args.statuses:
                rows, total = measure_in_process(user, status, args.requests)
                path = f"/api/v1/jobs?status={status}&limit=50"
                check_answer(port, path, headers, status, total)
                head = f"{label} owner ({user.n:,} jobs), status={status} ({total:,} rows)"
                for name, lat in rows.items():
                    print(f"{head}: {name}: {summary(lat)}")
                # Beside each case: the trivial endpoint on the same server (and the baseline).
                cases = [("", port, servers[0])]
                if args.baseline:
                    cases.append((f"baseline {args.baseline_ref}: ", base_port, servers[1]))
                for prefix, case_port, server in cases:
                    ping, _, ping_cpu = http_case(
                        case_port, server, "/api/v1/ping", {}, args.requests
                    )
                    http, errors, cpu = http_case(case_port, server, path, headers, args.requests)
                    print(f"{head}: {prefix}HTTP GET /api/v1/ping: {summary(ping)}, server CPU "
                          f"{ping_cpu:.2f} ms/request")  # fmt: skip
                    print(f"{head}: {prefix}HTTP GET {path}: {summary(http)}, errors {errors}, "
                          f"server CPU {cpu:.2f} ms/request; p99 {pct(http, 99) / pct(ping, 99):.1f}x "
                          f"/ping's", flush=True)  # fmt: skip
                    if not prefix:
                        verdicts.append((head, pct(http, 99)))
    worst_head, worst = max(verdicts, key=lambda v: v[1])
    met = "met" if worst <= TARGET_P99_MS else "NOT met"
    print(f"worst HTTP p99: {worst:.1f} ms ({worst_head}); target <= {TARGET_P99_MS} ms: {met}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="ef_bench", help="created if missing; never test*")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--heavy-share", type=float, default=0.10, help="the heavy owner's share")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case")
    parser.add_argument("--statuses", type=lambda s: s.split(","), default=["completed", "failed"])
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--refill", action="store_true", help="fill again even if the count fits")
    parser.add_argument("--baseline-ref", help="also serve a checkout of this git ref beside")
    args = parser.parse_args()
    if args.owners < 2:
        raise Refused("--owners must be at least 2 (one heavy, one typical)")

    url, maintenance = bench_database_url(args.database)
    created = ensure_database(maintenance, args.database)
    os.environ["DATABASE_URL"] = url
    setup_django()
    from django.core.management import call_command

    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"database: PostgreSQL {args.database}{' (created)' if created else ''}", flush=True)
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - t0:.1f} s", flush=True)
    fill_jobs(args)
    vacuum_analyze()
    args.baseline = baseline_checkout(args.baseline_ref) if args.baseline_ref else None
    try:
        with embedded_redis():
            measure(args)
            label, user = owners_to_measure()[0]
            print(f"EXPLAIN ANALYZE, {label} owner, status={args.statuses[0]}:")
            explain_view_queries(user, args.statuses[0])
    finally:
        if args.baseline:
            remove_checkout(args.baseline)


if __name__ == "__main__":
    main()
