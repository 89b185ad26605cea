"""`manage.py create_job`: start any registered job type from the server (for operators, and
for job types the API does not expose yet)."""

import json
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from core.errors import Invalid
from jobs import options, services
from jobs.errors import InvalidJobParams, UnknownJobType
from jobs.models import Job
from jobs.registry import job_type_names


def _input(spec: str) -> tuple[str, Path]:
    label, sep, path = spec.partition("=")
    if not sep or not label.isidentifier():
        raise CommandError(f"--input must be LABEL=PATH with a plain label, got '{spec}'")
    file = Path(path).expanduser()
    if not file.is_file():
        raise CommandError(f"--input {label}: '{path}' is not a file")
    return label, file


class Command(BaseCommand):
    help = (
        "Create a job of any registered type, with JSON params and input files; --wait follows it."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_type", help=f"one of: {', '.join(job_type_names()) or 'none'}")
        parser.add_argument("--params", default="{}", help="the job's params as a JSON object")
        parser.add_argument(
            "--input",
            action="append",
            default=[],
            metavar="LABEL=PATH",
            help="an input file (repeatable)",
        )
        parser.add_argument("--owner", help="username owning the job (default: none, a system job)")
        parser.add_argument(
            "--run-at",
            metavar="WHEN",
            help="start no earlier than this ISO 8601 time with a zone, e.g. 2030-01-31T08:00Z "
            "(the job stays queued until then)",
        )
        parser.add_argument("--metadata", help="your own JSON object, kept on the job")
        parser.add_argument(
            "--wait", action="store_true", help="wait for the job to end and print its result"
        )

    def handle(self, *args, job_type, params, input, owner, wait, run_at, metadata, **rest):
        try:
            params = json.loads(params)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not valid JSON: {exc}") from None
        try:
            run_at = options.parse_run_at(run_at, field="--run-at")
            metadata = options.parse_metadata(metadata)
        except Invalid as exc:
            raise CommandError(exc.message) from None
        user = self._owner(owner)
        inputs = dict(_input(spec) for spec in input)
        handles = {label: path.open("rb") for label, path in inputs.items()}
        try:
            files = {label: File(fh, name=inputs[label].name) for label, fh in handles.items()}
            job = services.job_create(
                job_type=job_type,
                params=params,
                owner=user,
                inputs=files,
                run_at=run_at,
                metadata=metadata,
            )
        except (UnknownJobType, InvalidJobParams) as exc:
            details = "; ".join(
                f"{'.'.join(d['loc'])}: {d['msg']}" for d in getattr(exc, "details", [])
            )
            raise CommandError(f"{exc}{': ' + details if details else ''}") from None
        finally:
            for fh in handles.values():
                fh.close()
        when = f", scheduled for {job.scheduled_for.isoformat()}" if job.scheduled_for else ""
        self.stdout.write(f"job {job.id} ({job_type}) queued{when}")
        if wait:
            self._follow(job)

    def _owner(self, username):
        if not username:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named '{username}'") from None

    def _follow(self, job: Job) -> None:
        last = None
        while not job.is_terminal:
            time.sleep(0.5)
            job.refresh_from_db()
            line = f"{job.status} {job.progress:.0f}% {job.stage_label}"
            if line != last:
                self.stdout.write(line)
                last = line
        if job.status != "completed":
            raise CommandError(f"job {job.id} {job.status}: {job.error}")
        self.stdout.write(json.dumps(job.result, indent=2))
        for jf in job.files.exclude(role="input"):
            self.stdout.write(f"file {jf.label}: {jf.name} ({jf.size} bytes)")
