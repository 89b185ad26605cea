"""`manage.py up`: the whole product in one command (migrations, embedded Redis, web, workers,
maintenance loop, first admin user)."""

import os
import secrets
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from editfactory.embedded_redis import EmbeddedRedisError, embedded_redis_from_settings
from editfactory.forking import ManagementCommand, WebServer, preload
from editfactory.supervisor import Child, Supervisor
from jobs.queue import worker_queue_names
from jobs.queues import QUEUES, worker_plan
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
    help = "Run Edit Factory: migrations, embedded Redis (when REDIS_URL is unset), web server, workers and the maintenance loop."

    def add_arguments(self, parser):
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

    def handle(self, *args, host, port, workers, web_workers, **options):
        try:
            workers = worker_plan(workers)
        except ValueError as exc:
            raise CommandError(f"--workers: {exc}") from None
        env = child_env(os.environ, production=settings.PRODUCTION)
        self._run_with(env)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready (migrations applied).")
        self._report_ffmpeg()
        self._ensure_admin()
        redis_server = None
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
        if settings.EMBEDDED_REDIS:
            redis_server = embedded_redis_from_settings()
            try:
                env["REDIS_URL"] = redis_server.start()
            except EmbeddedRedisError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Embedded Redis running at {redis_server.url}")
        try:
            os.environ.update(env)
            children = self._children(env, host, port, workers, web_workers)
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

    def _run_with(self, env) -> None:
        """Run with the environment of the children: they are forked from this process
        (editfactory/forking.py), so its settings are theirs. Started from the command line
        without it (the development CORS origins, unbuffered output), `up` starts again with it,
        in the same process (exec: the same pid), its system checks already passed."""
        if all(os.environ.get(key) == value for key, value in env.items()):
            return
        if Path(sys.argv[0]).name != "manage.py":  # called from code: nothing to start again
            return
        argv = [sys.executable, *sys.orig_argv[1:]]
        if "--skip-checks" not in argv:
            argv.append("--skip-checks")
        os.execve(sys.executable, argv, env)  # noqa: S606 - this very command again, no shell

    def _children(self, env, host, port, workers, web_workers) -> list[Child]:
        """The web processes, the maintenance loop and the workers, each run in a fork of this
        process once it has loaded what they run (editfactory/forking.py)."""
        web = WebServer(host=host, port=port, access_log=False)
        names = ["web"] if web_workers == 1 else [f"web-{n}" for n in range(1, web_workers + 1)]
        children = [Child(name, env=env, target=web) for name in names]
        children.append(Child("maintenance", env=env, target=ManagementCommand("maintenance")))
        for families, count in workers:
            group = "+".join(families)
            worker = ManagementCommand(
                "rqworker",
                *worker_queue_names(families),
                worker_class="jobs.worker.EngineWorker",
                preload=("jobs.worker",),
            )
            children += [
                Child(f"worker-{group}-{n}", env=env, target=worker) for n in range(1, count + 1)
            ]
        served = {name for families, count in workers if count for name in families}
        for name in QUEUES:
            if name not in served:
                self.stdout.write(
                    self.style.WARNING(f"No worker serves the {name} queue: its jobs stay queued.")
                )
        plan = ", ".join(f"{'+'.join(families)}: {count}" for families, count in workers)
        total = sum(count for _, count in workers)
        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nEdit Factory is starting ({web_workers} web process(es), {total} worker(s): "
                f"{plan}).\n"
                f"  Admin:    {base}/admin/\n"
                f"  API docs: {base}/api/v1/docs\n"
                f"  Queues:   {base}/admin/rq/\n"
                "Press Ctrl-C to stop everything.\n"
            )
        )
        return children

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
