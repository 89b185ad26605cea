"""The roles of `manage.py up`: which processes a host runs, and what a role needs from the
machine before it starts (docs/production.md).

- all: one machine runs everything (the zero-setup default; SQLite and the embedded Redis work).
- web: the web server alone (uvicorn, the API and the admin); it applies the migrations.
- worker: the RQ workers alone, against the shared DATABASE_URL and REDIS_URL.
Every role also runs a maintenance loop candidate (unless told not to): the database lease lets
exactly one of them, across all hosts, make passes (jobs/management/commands/maintenance.py).
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Role:
    name: str
    web: bool  # runs the web server
    workers: bool  # runs the RQ workers
    migrates: bool  # applies the migrations and creates the first admin user


ROLES = {
    "all": Role("all", web=True, workers=True, migrates=True),
    "web": Role("web", web=True, workers=False, migrates=True),
    "worker": Role("worker", web=False, workers=True, migrates=False),
}


def role_refusal(role: Role, *, embedded_redis: bool, database_vendor: str, one_machine: bool):
    """Why `role` cannot start with these services (None: it can). A web or worker host shares
    Redis and the database with the other hosts, so neither may be private to this machine."""
    if role.name == "all":
        return None
    if embedded_redis:
        return (
            f"--role {role.name} shares Redis with the other hosts, and REDIS_URL is unset (the "
            "embedded Redis serves --role all only): set REDIS_URL, e.g. "
            "redis://redis.internal:6379/0, a Redis with maxmemory-policy noeviction"
        )
    if database_vendor == "sqlite" and not one_machine:
        return (
            f"--role {role.name} shares the database with the other hosts, and SQLite is a file "
            "on this machine: set DATABASE_URL to PostgreSQL, e.g. "
            "postgres://user:pass@db.internal:5432/editfactory (every role on this one "
            "machine? --one-machine, or EF_ONE_MACHINE=1, lets them share the SQLite file)"
        )
    return None


def pending_migrations() -> list[str]:
    """The migrations the database lacks ("app.name"), as `migrate` would apply them."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    return [f"{m.app_label}.{m.name}" for m, _ in executor.migration_plan(targets)]


def pending_migrations_refusal(pending: list[str]) -> str:
    shown = ", ".join(pending[:3]) + (" and more" if len(pending) > 3 else "")
    return (
        f"the database lacks {len(pending)} migration(s) ({shown}): start a web host first "
        "(`up --role web` applies them) or run `manage.py migrate`"
    )


def _manage() -> list[str]:
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]


def web_argv(*, host: str, port: int, web_workers: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "editfactory.asgi:application",
        "--host", host, "--port", str(port), "--no-access-log", "--workers", str(web_workers),
    ]  # fmt: skip


def worker_argv(queue_names: list[str]) -> list[str]:
    return [*_manage(), "rqworker", *queue_names, "--worker-class", "jobs.worker.EngineWorker"]


def maintenance_argv() -> list[str]:
    return [*_manage(), "maintenance"]


def up_argv(role: str, *, port: int | None = None, workers: str = "", **options) -> list[str]:
    """`manage.py up --role ROLE ...`: how a test (or a script) starts one host of a role.
    `options` are up's other options by their Python name (web_workers=1, one_machine=True)."""
    argv = [*_manage(), "up", "--role", role]
    if port is not None:
        argv += ["--port", str(port)]
    if workers:
        argv += ["--workers", workers]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (False, None):
            argv += [flag, str(value)]
    return argv


# Keys every host must share: signed media links and sessions (SECRET_KEY), webhook signatures.
SHARED_SECRETS = ("SECRET_KEY", "EF_WEBHOOK_SECRET")


def unshared_secrets(environ) -> list[str]:
    """The shared keys this host would generate for itself (unset in its environment)."""
    return [name for name in SHARED_SECRETS if not environ.get(name)]
