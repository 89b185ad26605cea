"""The create_job command: any job type from the command line, with clear errors."""

import io

import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job
from jobs.status import JobStatus
from tests.conftest import run_burst_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_creates_a_job_with_params_inputs_and_owner(user, media):
    out = io.StringIO()
    call_command(
        "create_job",
        "probe",
        "--input",
        f"source={media.video()}",
        "--owner",
        user.username,
        stdout=out,
    )
    job = Job.objects.get()
    assert f"job {job.id} (probe) queued" in out.getvalue()
    assert job.owner == user and job.files.get().label == "source"
    run_burst_worker()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.result["width"] == 320


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown job type 'nope'"),
        (["test_sleep", "--params", "{bad"], "--params is not valid JSON"),
        (["test_sleep", "--params", '{"seconds": -1}'], "params.seconds"),
        (["probe", "--input", "source=/nonexistent/file.mp4"], "is not a file"),
        (["probe", "--input", "../x=/etc/hostname"], "LABEL=PATH"),
        (["noop", "--owner", "ghost"], "no user named 'ghost'"),
    ],
)
def test_bad_arguments_are_clear_errors_and_create_nothing(args, message):
    with pytest.raises(
        CommandError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        call_command("create_job", *args)
    assert Job.objects.count() == 0


def test_wait_follows_the_job_and_prints_its_result(worker_process):
    worker_process()
    out = io.StringIO()
    call_command(
        "create_job",
        "test_sleep",
        "--params",
        '{"seconds": 0.5, "write_file": true}',
        "--wait",
        stdout=out,
    )
    text = out.getvalue()
    assert '"slept": 0.5' in text and "file partial:" in text


def test_wait_reports_a_failed_job_as_an_error(worker_process):
    worker_process()
    with pytest.raises(CommandError, match="failed: the input is bad: no retry"):
        call_command("create_job", "test_flaky", "--params", '{"permanent": true}', "--wait")
