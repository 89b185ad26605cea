"""Job records benchmark: what the event log and idempotency keys cost a job, in process.

    uv run python bench/job_records.py [--jobs 300] [--rounds 3]

Measured side by side in one run, on one database (SQLite and the embedded Redis by default;
set DATABASE_URL/REDIS_URL for PostgreSQL), rounds alternated, the best round of each counted:
  1. a job's database life, job_create -> job_claim -> job_complete (3 events: queued, started,
     completed), against the same life with the event log switched off (its writer replaced by
     a no-op in this process only: the baseline is the engine as it was before the log);
  2. job_create with an Idempotency-Key (the lookup, the digest, the unique index) against
     job_create without one, and a replay of a key (the job answered, nothing written);
  3. reading a job's history (5 events, 2 attempts), the work of GET /jobs/{id}/history.
"""

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import embedded_redis, setup_django  # noqa: E402

setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from jobs import services  # noqa: E402
from jobs.models import Job  # noqa: E402
from jobs.queue import get_queue  # noqa: E402
from jobs.services import lifecycle, transitions  # noqa: E402


def _life(user) -> None:
    job = services.job_create(job_type="noop", owner=user)
    services.job_claim(job_id=job.id)
    services.job_complete(job_id=job.id, result={"ok": True})


class _EventLogOff:
    """The engine without its event log: the one writer replaced by a no-op, then restored."""

    def __enter__(self):
        self.saved = transitions.job_event_record
        transitions.job_event_record = lifecycle.job_event_record = lambda **kw: None

    def __exit__(self, *exc):
        transitions.job_event_record = lifecycle.job_event_record = self.saved


def _per_job_ms(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) * 1000 / n


def _reset() -> None:
    Job.objects.all().delete()
    get_queue().connection.flushdb()


def lifecycle_bench(user, args) -> None:
    best = {"with the event log": float("inf"), "without it (baseline)": float("inf")}
    for _ in range(args.rounds):
        for name in best:
            _reset()
            if name.startswith("without"):
                with _EventLogOff():
                    ms = _per_job_ms(lambda: _life(user), args.jobs)
            else:
                ms = _per_job_ms(lambda: _life(user), args.jobs)
            best[name] = min(best[name], ms)
    with_log, without = best.values()
    print(f"job life (create, claim, complete), {args.jobs} jobs, best of {args.rounds}:")
    for name, ms in best.items():
        print(f"  {name:24} {ms:6.2f} ms/job")
    print(f"  event log: {with_log / without:.2f}x the baseline (+{with_log - without:.2f} ms/job)")


def idempotency_bench(user, args) -> None:
    def plain():
        services.job_create(job_type="noop", owner=user)

    def keyed():
        services.job_create(job_type="noop", owner=user, idempotency_key=uuid.uuid4().hex)

    best = {"without a key (baseline)": float("inf"), "with a new key": float("inf")}
    for _ in range(args.rounds):
        for name, fn in (("without a key (baseline)", plain), ("with a new key", keyed)):
            _reset()
            best[name] = min(best[name], _per_job_ms(fn, args.jobs))
    _reset()
    services.job_create(job_type="noop", owner=user, idempotency_key="replayed")
    replay = min(
        _per_job_ms(
            lambda: services.job_create(job_type="noop", owner=user, idempotency_key="replayed"),
            args.jobs,
        )
        for _ in range(args.rounds)
    )
    baseline = best["without a key (baseline)"]
    print(f"job_create, {args.jobs} per round, best of {args.rounds}:")
    for name, ms in (*best.items(), ("a replay of a used key", replay)):
        print(f"  {name:24} {ms:6.2f} ms ({ms / baseline:.2f}x the baseline)")
    assert Job.objects.filter(idempotency_key="replayed").count() == 1


def history_bench(user, args) -> None:
    _reset()
    job = services.job_create(job_type="noop", owner=user)
    services.job_claim(job_id=job.id)
    transitions.transition(
        job.id, "queued", only_from=("processing",), change="retrying", worker="", error="x"
    )
    services.job_claim(job_id=job.id)
    services.job_complete(job_id=job.id, result={})
    job.refresh_from_db()
    ms = min(_per_job_ms(lambda: services.job_history(job), args.jobs) for _ in range(args.rounds))
    history = services.job_history(job)
    print(
        f"job history ({len(history['events'])} events, {len(history['attempts'])} attempts): "
        f"{ms:.3f} ms per read"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with embedded_redis() as redis:
        call_command("migrate", verbosity=0)
        user = get_user_model().objects.get_or_create(username="bench-records")[0]
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print(f"database: {db}; redis: {redis}", flush=True)
        lifecycle_bench(user, args)
        idempotency_bench(user, args)
        history_bench(user, args)
        _reset()


if __name__ == "__main__":
    main()
