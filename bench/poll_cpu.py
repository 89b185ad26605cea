"""CPU per job poll, in-process: the production ASGI application called directly (no HTTP server,
no sockets), so the figure holds on a loaded machine where open-loop rates do not.

Three answers, each called --polls times after a warm-up, in one run:
  - GET /api/v1/jobs/{id} of a queued job through `editfactory.asgi.application` (the polling
    path, editfactory/fastpoll.py: Django's middleware chain, plain SQL, the queue place);
  - GET /api/v1/ping through the same application (Django's full handler, ninja, no query);
  - the same poll through Django's ASGI handler alone (`django_application`).
Prints the process's CPU and wall time per call and the poll's CPU as a ratio to /ping's.

    uv run python bench/poll_cpu.py [--polls 1000]
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import embedded_redis, setup_django  # noqa: E402

os.environ.setdefault("EF_QUEUE_SNAPSHOT_TTL", "1")  # production's default (settings_test: 0)
setup_django()


def _scope(path: str, token: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(app, scope) -> None:
    """One request; the client stays connected until the response is sent."""
    pending = [{"type": "http.request", "body": b"", "more_body": False}]
    answered = asyncio.Event()
    sent = []

    async def receive():
        if pending:
            return pending.pop()
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    answered.set()
    if sent[0]["status"] != 200:
        raise SystemExit(f"{scope['path']} answered {sent[0]['status']}")


async def _measure(app, scope, polls: int) -> tuple[float, float]:
    for _ in range(50):
        await _call(app, scope)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(polls):
        await _call(app, scope)
    return (time.process_time() - cpu) / polls * 1000, (time.perf_counter() - wall) / polls * 1000


async def _run(polls: int, token: str, job_path: str) -> None:
    from editfactory.asgi import application, django_application

    cases = (
        ("GET /jobs/{id} (polling path)", application, job_path),
        ("GET /ping (Django's handler)", application, "/api/v1/ping"),
        ("GET /jobs/{id} via Django's handler", django_application, job_path),
    )
    figures = {}
    for name, app, path in cases:
        figures[name] = await _measure(app, _scope(path, token), polls)
        cpu, wall = figures[name]
        print(f"{name}: CPU {cpu:.3f} ms, wall {wall:.3f} ms per call")
    poll, ping, full = (figures[name][0] for name, _, _ in cases)
    print(f"poll CPU / ping CPU: {poll / ping:.2f}; poll CPU / Django's handler: {poll / full:.2f}")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=1000)
    args = parser.parse_args()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from core.auth import api_token_create
    from jobs import services

    call_command("migrate", verbosity=0)
    with embedded_redis():
        user = get_user_model().objects.get_or_create(username="bench")[0]
        token = api_token_create(user=user, name="bench")[1]
        job = services.job_create(job_type="noop", owner=user)
        asyncio.run(_run(args.polls, token, f"/api/v1/jobs/{job.id}"))


if __name__ == "__main__":
    main()
