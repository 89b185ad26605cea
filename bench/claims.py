"""Claim cost by queue depth: the fair claim against the plain conditional update it wraps.

    uv run python bench/claims.py [--depths 1000,10000,100000] [--users 20] [--claims 50]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> uv run python bench/claims.py ...

For each depth, the queue holds that many due queued jobs of `--users` users. Measured in the same
run, alternating: `job_claim_next` (the queue row lock, the grouped read of the due jobs, the
users' running counts and turns, the claim, the turn write) and the baseline, the claim a worker
made before queues existed: `transition(queued -> processing)` of a job it was given. Prints the
median ms of each and their ratio. Works in the database DATABASE_URL names (SQLite in a
temporary data dir by default): it deletes every job there.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import parse_ints, setup_django  # noqa: E402

setup_django()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from jobs.models import Job, QueueState, QueueTurn  # noqa: E402
from jobs.services import job_claim_next  # noqa: E402
from jobs.services.transitions import transition  # noqa: E402
from jobs.status import JobStatus  # noqa: E402


def fill(depth: int, users: list) -> None:
    Job.objects.all().delete()
    QueueTurn.objects.all().delete()
    batch = [Job(job_type="noop", owner=users[i % len(users)]) for i in range(depth)]
    Job.objects.bulk_create(batch, batch_size=5000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_job")


def baseline_claim() -> float:
    job_id = Job.objects.filter(status=JobStatus.QUEUED).values_list("id", flat=True).first()
    now = timezone.now()
    t0 = time.perf_counter()
    transition(job_id, JobStatus.PROCESSING, attempts=F("attempts") + 1, started_at=now)
    return (time.perf_counter() - t0) * 1000


def fair_claim() -> float:
    t0 = time.perf_counter()
    job = job_claim_next(queue="light")
    elapsed = (time.perf_counter() - t0) * 1000
    assert job is not None
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depths", default="1000,10000,100000")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--claims", type=int, default=50)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    QueueState.objects.get_or_create(name="light")
    User = get_user_model()
    users = [User.objects.get_or_create(username=f"bench-claims-{i}")[0] for i in range(args.users)]
    print(f"database: {connection.vendor}; {args.users} users; {args.claims} claims per side")
    for depth in parse_ints(args.depths):
        fill(depth + args.claims * 2, users)
        fair, base = [], []
        for _ in range(args.claims):
            base.append(baseline_claim())
            fair.append(fair_claim())
        f, b = statistics.median(fair), statistics.median(base)
        print(
            f"depth {depth:>7}: fair claim {f:6.2f} ms, plain claim {b:5.2f} ms, "
            f"ratio {f / b:5.1f}x",
            flush=True,
        )
    Job.objects.all().delete()


if __name__ == "__main__":
    main()
