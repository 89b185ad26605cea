"""`manage.py up`: the whole product in one command (migrations, embedded Redis, web, workers,
maintenance loop, first admin user), or one role of it on a host of many (`--role web|worker`,
editfactory/roles.py)."""

import os
import secrets
import shlex
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from redis.exceptions import RedisError

from editfactory import roles
from editfactory.embedded_redis import EmbeddedRedisError, embedded_redis_from_settings
from editfactory.forking import ManagementCommand, WebServer, preload
from editfactory.supervisor import Child, Supervisor
from jobs.queue import get_connection, worker_queue_names
from jobs.queues import QUEUES, worker_plan
from media_pipeline.jobtypes import RUN_TIME_IMPORTS, warm_for_workers
from media_pipeline.ops.errors import FFmpegUnavailable
from media_pipeline.ops.ffmpeg_bin import choose_ffmpeg

# The web frontend's dev server (Next.js), allowed to call the API when `up` runs outside
# production and EF_CORS_ORIGINS is unset.
DEV_CORS_ORIGINS = "http://localhost:3000,http://127.0.0.1:3000"


def child_env(environ, *, production: bool) -> dict[str, str]:
    """The environment of the processes `up` starts. The development CORS default lives here,
    not in settings: settings serve tests and production too, where no origin is allowed unless
    named. Set EF_CORS_ORIGINS (even empty) to choose the origins yourself."""
    env = dict(environ, PYTHONUNBUFFERED="1")
    if not production:
        env.setdefault("EF_CORS_ORIGINS", DEV_CORS_ORIGINS)
    return env


class Command(BaseCommand):
    help = "Run Edit Factory: migrations, embedded Redis (when REDIS_URL is unset), web server, workers and the maintenance loop (or one role of them: --role)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--role",
            choices=list(roles.ROLES),
            default=os.environ.get("EF_ROLE") or "all",
            help="all: everything on this machine (default); web: the web server only; worker: "
            "the workers only. web and worker need REDIS_URL and a shared database "
            "(PostgreSQL); each runs a maintenance loop candidate (default: EF_ROLE, else all)",
        )
        parser.add_argument(
            "--no-maintenance",
            dest="maintenance",
            action="store_false",
            help="run no maintenance loop candidate on this host",
        )
        parser.add_argument(
            "--one-machine",
            action="store_true",
            default=os.environ.get("EF_ONE_MACHINE", "") not in ("", "0", "false"),
            help="the web and worker roles run on this one machine: they may share SQLite "
            "(default: EF_ONE_MACHINE)",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="start nothing: check the database, Redis and ffmpeg for this role and list "
            "the processes it would start",
        )
        parser.add_argument("--host", default=os.environ.get("EF_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("EF_PORT", "8000")))
        parser.add_argument(
            "--workers",
            default=os.environ.get("EF_QUEUE_WORKERS") or os.environ.get("EF_WORKERS", "2"),
            help="RQ worker processes: a count N (one worker serving every queue when N is 1, "
            "else half of them on renders and the rest on light jobs), or per queue, e.g. "
            "renders=1,light=2 (default: EF_QUEUE_WORKERS, else EF_WORKERS, else 2)",
        )
        parser.add_argument(
            "--web-workers",
            type=int,
            default=int(os.environ.get("EF_WEB_WORKERS", "2")),
            help="uvicorn processes serving the web and API",
        )

    def handle(self, *args, role, host, port, workers, web_workers, maintenance, check, **options):
        role = roles.ROLES[role]
        try:
            workers = worker_plan(workers) if role.workers else []
        except ValueError as exc:
            raise CommandError(f"--workers: {exc}") from None
        refusal = roles.role_refusal(
            role,
            embedded_redis=settings.EMBEDDED_REDIS,
            database_vendor=connection.vendor,
            one_machine=options["one_machine"],
        )
        if refusal:
            raise CommandError(refusal)
        plan = (host, port, workers, web_workers, maintenance)
        if check:
            self._check(role, plan)
            return
        env = child_env(os.environ, production=settings.PRODUCTION)
        env["EF_ROLE"] = role.name  # /health and the maintenance lease say it
        self._run_with(env)
        self._prepare_database(role)
        self._report_ffmpeg()
        redis_server = None
        if role.web:
            self._report_cors(env)
        if role.name != "all" and (unshared := roles.unshared_secrets(os.environ)):
            self.stdout.write(
                self.style.WARNING(
                    f"{' and '.join(unshared)} unset: this host uses its own, generated into its "
                    "data dir; give every host the same (signed media links, webhook signatures)."
                )
            )
        if settings.EMBEDDED_REDIS:
            redis_server = embedded_redis_from_settings()
            try:
                env["REDIS_URL"] = redis_server.start()
            except EmbeddedRedisError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Embedded Redis running at {redis_server.url}")
        children = self._children(env, role, *plan)
        self.stdout.write(self.style.SUCCESS(self._banner(role, *plan[:4])))
        try:
            os.environ.update(env)
            try:
                preload(child.target for child in children)
            except OSError as exc:
                raise CommandError(str(exc)) from None
            code = Supervisor(children).run()
        finally:
            if redis_server:
                redis_server.stop()
        self.stdout.write("Edit Factory stopped.")
        if code:
            raise CommandError("a process kept failing at start; see the log above")

    def _prepare_database(self, role) -> None:
        """The web roles apply the migrations, create the first admin user and, in production,
        collect the static files; a worker host refuses a database that lacks migrations."""
        if role.migrates:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database ready (migrations applied).")
            self._ensure_admin()
            if settings.PRODUCTION:  # served from STATIC_ROOT there, not from the apps
                call_command("collectstatic", interactive=False, verbosity=0)
                self.stdout.write(f"Static files collected into {settings.STATIC_ROOT}.")
            return
        if pending := roles.pending_migrations():
            raise CommandError(roles.pending_migrations_refusal(pending))
        self.stdout.write("Database ready (migrations already applied).")

    def _check(self, role, plan) -> None:
        """--check: whether this host could start its role, and what it would start; changes
        nothing (no migration, no user, no process)."""
        try:
            pending = roles.pending_migrations()
        except DatabaseError as exc:
            raise CommandError(f"the database does not answer ({type(exc).__name__})") from None
        if pending and not role.migrates:
            raise CommandError(roles.pending_migrations_refusal(pending))
        todo = f"{len(pending)} migration(s) to apply at start" if pending else "migrations applied"
        self.stdout.write(f"Database ({connection.vendor}): {todo}.")
        if settings.EMBEDDED_REDIS:
            self.stdout.write("Redis: embedded (started under the data dir).")
        else:
            try:
                get_connection().ping()
            except RedisError as exc:
                raise CommandError(
                    f"Redis at REDIS_URL does not answer ({type(exc).__name__})"
                ) from None
            self.stdout.write("Redis: answers at REDIS_URL.")
        self._report_ffmpeg()
        children = self._children(
            child_env(os.environ, production=settings.PRODUCTION), role, *plan
        )
        self.stdout.write(f"up --role {role.name} would start (--check: nothing started):")
        for child in children:
            self.stdout.write(f"  {child.name}: {shlex.join(child.argv)}")

    def _report_cors(self, env) -> None:
        origins = [o.strip() for o in env.get("EF_CORS_ORIGINS", "").split(",") if o.strip()]
        if origins:
            self.stdout.write(
                f"Browser origins allowed to call the API (CORS): {', '.join(origins)}"
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    "No EF_CORS_ORIGINS: a web frontend on another origin cannot call the API."
                )
            )

    def _run_with(self, env) -> None:
        """Run with the environment of the children: they are forked from this process
        (editfactory/forking.py), so its settings are theirs. Started from the command line
        without it (the development CORS origins, the role, unbuffered output), `up` starts
        again with it, in the same process (exec: the same pid), its system checks passed."""
        if all(os.environ.get(key) == value for key, value in env.items()):
            return
        if Path(sys.argv[0]).name != "manage.py":  # called from code: nothing to start again
            return
        argv = [sys.executable, *sys.orig_argv[1:]]
        if "--skip-checks" not in argv:
            argv.append("--skip-checks")
        os.execve(sys.executable, argv, env)  # noqa: S606 - this very command again, no shell

    def _children(self, env, role, host, port, workers, web_workers, maintenance) -> list[Child]:
        """The web processes, the maintenance loop and the workers, each run in a fork of this
        process once it has loaded what they run (editfactory/forking.py). `argv` is what each
        would run as a process of its own (`--check` shows it)."""
        children = []
        if role.web:
            web = WebServer(host=host, port=port, access_log=False)
            argv = roles.web_argv(host=host, port=port, web_workers=1)
            names = ["web"] if web_workers == 1 else [f"web-{n}" for n in range(1, web_workers + 1)]
            children += [Child(name, argv, env, target=web) for name in names]
        if maintenance:
            command = ManagementCommand("maintenance")
            children.append(Child("maintenance", roles.maintenance_argv(), env, target=command))
        for families, count in workers:
            group = "+".join(families)
            queues = worker_queue_names(families)
            argv = roles.worker_argv(queues)
            worker = ManagementCommand(
                "rqworker", *queues, worker_class="jobs.worker.EngineWorker",
                preload=("jobs.worker", *RUN_TIME_IMPORTS), warm=warm_for_workers,
            )  # fmt: skip
            children += [
                Child(f"worker-{group}-{n}", argv, env, target=worker) for n in range(1, count + 1)
            ]
        if role.workers:
            served = {name for families, count in workers if count for name in families}
            for name in QUEUES:
                if name not in served:
                    self.stdout.write(
                        self.style.WARNING(
                            f"No worker serves the {name} queue: its jobs stay queued."
                        )
                    )
        return children

    def _banner(self, role, host, port, workers, web_workers) -> str:
        plan = ", ".join(f"{'+'.join(families)}: {count}" for families, count in workers)
        total = sum(count for _, count in workers)
        base = f"http://{host}:{port}"
        links = (
            f"  Admin:    {base}/admin/\n"
            f"  API docs: {base}/api/v1/docs\n"
            f"  Queues:   {base}/admin/rq/\n"
        )
        if role.name == "worker":
            return (
                f"\nEdit Factory worker host is starting ({total} worker(s): {plan}).\n"
                "Press Ctrl-C to stop everything.\n"
            )
        if role.name == "web":
            return (
                f"\nEdit Factory web host is starting ({web_workers} web process(es); the "
                f"workers run on worker hosts).\n{links}Press Ctrl-C to stop everything.\n"
            )
        return (
            f"\nEdit Factory is starting ({web_workers} web process(es), {total} worker(s): "
            f"{plan}).\n{links}Press Ctrl-C to stop everything.\n"
        )

    def _report_ffmpeg(self) -> None:
        """Which ffmpeg the workers will run and why (they choose the same way, with the same
        environment). None usable: refuse to start (the system check says so first, unless
        checks were skipped)."""
        try:
            choice = choose_ffmpeg()
        except FFmpegUnavailable as exc:
            raise CommandError(f"{exc} (`manage.py ffmpeg_check` shows every candidate)") from None
        self.stdout.write(
            f"ffmpeg {choice.info.version}, {choice.source}: {choice.path} ({choice.reason})."
        )

    def _ensure_admin(self) -> None:
        User = get_user_model()
        if User.objects.exists():
            return
        password = settings.ADMIN_PASSWORD or secrets.token_urlsafe(12)
        User.objects.create_superuser(settings.ADMIN_USERNAME, settings.ADMIN_EMAIL, password)
        shown = "(from EF_ADMIN_PASSWORD)" if settings.ADMIN_PASSWORD else password
        self.stdout.write(
            self.style.WARNING(
                f"Created the first admin user '{settings.ADMIN_USERNAME}' with password {shown}. "
                "It is shown only this once."
            )
        )
