"""import_jobs and import_costs on realistic dumps of the prototype, with the real DB and Redis."""

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from jobs import legacy_common, legacy_jobs
from jobs.management.output import Progress
from jobs.models import CostEntry, Job
from jobs.queue import get_queue
from jobs.status import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"
MEMORY_UUID = uuid.UUID("9b1f6a3e-2c4d-4e8f-a1b2-c3d4e5f60718")


def run(command: str, *args) -> str:
    out = io.StringIO()
    call_command(command, *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def legacy(legacy_id: str) -> Job:
    return Job.objects.get(id=legacy_common.legacy_job_uuid(legacy_id))


def by_status() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Job.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


# --- import_jobs --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "source", "expected", "skipped"),
    [
        (
            "memory_store.json",
            "memory",
            {"completed": 1, "failed": 2, "cancelled": 3},
            ["row 5: unknown status 'paused'", "row 6: bad created_at 'yesterday'",
             "row 7: not a JSON object but NoneType"],
        ),
        (
            "supabase_jobs.json",
            "supabase",
            {"completed": 2, "failed": 2, "cancelled": 1},
            ["row 6: missing id", "row 7: unknown status 'archived'",
             "row 8: data is not valid JSON"],
        ),
        (
            "supabase_jobs.csv",
            "supabase",
            {"completed": 1, "failed": 1, "cancelled": 1},
            ["row 4 (line 5): missing id", "row 5 (line 6): data is not valid JSON",
             "row 6 (line 7): bad created_at '2024-13-45 25:00:00+00'"],
        ),
        (
            "jobs_list.json",
            "list",
            {"completed": 1, "failed": 2, "cancelled": 1},
            ["row 4: duplicate of an earlier row (id list-001)", "row 5: missing job_type",
             "row 6: not a JSON object but str"],
        ),
    ],
)  # fmt: skip
def test_each_format_imports_maps_and_reports_skips(name, source, expected, skipped):
    out = run("import_jobs", FIXTURES / name)
    assert f"source '{source}'" in out
    assert by_status() == expected
    for line in skipped:
        assert line in out
    read = sum(expected.values()) + len(skipped)
    assert f"skipped: {len(skipped)}" in out
    assert f"check: read {read} = {sum(expected.values())} imported + 0 already imported" in out
    assert all(job.result["legacy"]["source"] == source for job in Job.objects.all())
    assert get_queue().count == 0  # nothing enqueued without --enqueue-pending


def test_memory_store_mapping(user):
    run("import_jobs", FIXTURES / "memory_store.json", "--owner", "alice")
    done = Job.objects.get(id=MEMORY_UUID)  # a UUID legacy id is kept as the job id
    assert (done.job_type, done.status, done.progress) == ("process", "completed", 100.0)
    assert done.owner == user and done.stage_label == "Done! 3 variants ready"
    assert done.params == {
        "video_path": "uploads/9b1f6a3e_beach.mp4",
        "variant_count": 3,
        "target_duration": 20,
    }
    assert done.result["output_paths"][0] == "output/9b1f6a3e_v1.mp4"
    assert done.result["result"] == {"variants": 3, "best_score": 0.82}
    assert done.result["legacy"] == {
        "id": str(MEMORY_UUID),
        "source": "memory",
        "status": "completed",
        "job_type": "video_processing",
        "progress": "Done! 3 variants ready",
    }
    # timestamps kept (naive = UTC); imported history is kept, unless it is asked to expire:
    # then its age counts from the end of the job
    assert done.created_at == datetime(2024, 5, 1, 10, 15, 0, 412233, tzinfo=UTC)
    assert done.completed_at == datetime(2024, 5, 1, 10, 21, 47, 902100, tzinfo=UTC)
    assert done.updated_at == done.completed_at
    assert done.imported and done.expires_at is None
    with override_settings(EXPIRE_IMPORTED_JOBS=True):
        assert done.expires_at == done.completed_at + timedelta(days=14)

    interrupted = legacy("job_20240501_101500")  # non-UUID id: a stable uuid5
    assert interrupted.id == uuid.uuid5(legacy_common.LEGACY_NAMESPACE, "job_20240501_101500")
    assert interrupted.status == JobStatus.FAILED and interrupted.error == legacy_jobs.INTERRUPTED
    assert interrupted.stage_label == "Processing segment 3/10" and interrupted.progress == 0

    failed = legacy("job_20240501_104500")
    assert (failed.job_type, failed.progress) == ("mute_voice", 45.0)
    assert failed.error == "ffmpeg exited with status 1" and "error" not in failed.params

    pending = legacy("job_20240501_103000")
    assert pending.status == JobStatus.CANCELLED and pending.error == legacy_jobs.NOT_RUN
    assert pending.params["text"] == "Three tips for a better morning routine."


def test_supabase_and_list_mapping():
    run("import_jobs", FIXTURES / "supabase_jobs.csv")
    csv_failed = Job.objects.get(id="8400c182-e295-43db-b6f6-91a2b3c4d5e8")
    assert csv_failed.progress == 50.0 and csv_failed.stage_label == "50%"
    assert csv_failed.error == "ElevenLabs API error 401: invalid api key"
    assert csv_failed.params == {"text": "Top five travel hacks"}
    assert csv_failed.created_at == datetime(2024, 5, 3, 10, 0, tzinfo=UTC)

    run("import_jobs", FIXTURES / "supabase_jobs.json", "--format", "supabase-json")
    tts = Job.objects.get(id="0c7e4f0a-6a1d-4b53-9d4e-1f2a3b4c5d60")
    assert tts.result["output_path"] == "output/tts_0c7e4f0a.mp3"
    assert tts.params == {
        "text": "Welcome back to the channel!",
        "voice_id": "pNInz6obpgDQGcFmaJgB",
        "characters": 28,
    }
    multi = Job.objects.get(id="1d8f5a1b-7b2e-4c64-8e5f-2a3b4c5d6e71")
    assert multi.error == "Gemini quota exceeded" and multi.job_type == "multi_video"
    cancelled = Job.objects.get(id="3fab7c3d-9d40-4e86-a071-4c5d6e7f8093")
    assert (cancelled.status, cancelled.progress) == ("cancelled", 12.0)
    running = Job.objects.get(id="40bc8d4e-ae51-4f97-b182-5d6e7f8091a4")
    assert running.error == legacy_jobs.INTERRUPTED

    run("import_jobs", FIXTURES / "jobs_list.json", "--format", "list")
    custom = legacy("list-007")  # unknown type: kept as it is, terminal, never run
    assert (custom.job_type, custom.status, custom.progress) == ("custom_export", "failed", 80.0)
    assert custom.error == legacy_jobs.NO_ERROR
    assert custom.params == {"target": "s3://old-bucket/exports/list-007.zip"}
    assert legacy("list-002").job_type == "process"
    assert legacy("list-001").params == {"text": "Subscribe for more!"}


def test_second_run_imports_nothing_twice():
    run("import_jobs", FIXTURES / "memory_store.json")
    rows = {job.id: (job.status, job.updated_at) for job in Job.objects.all()}
    out = run("import_jobs", FIXTURES / "memory_store.json")
    assert "imported: 0 job(s)" in out and "already imported: 6" in out
    assert "check: read 9 = 0 imported + 6 already imported + 3 skipped + 0 failed" in out
    assert {job.id: (job.status, job.updated_at) for job in Job.objects.all()} == rows


def test_dry_run_writes_nothing_but_reports_the_same_counts():
    out = run("import_jobs", FIXTURES / "memory_store.json", "--dry-run", "--enqueue-pending")
    assert "would import: 6 job(s) (1 completed, 4 failed, 1 queued)" in out
    assert "would enqueue: 1" in out and "dry run: nothing was written" in out
    assert "retention: imported jobs are kept (EF_EXPIRE_IMPORTED_JOBS is off)" in out
    assert Job.objects.count() == 0 and get_queue().count == 0
    with override_settings(EXPIRE_IMPORTED_JOBS=True):
        out = run("import_jobs", FIXTURES / "memory_store.json", "--dry-run")
    assert (
        "retention: imported jobs expire like the others (EF_EXPIRE_IMPORTED_JOBS=1, "
        "EF_JOB_RETENTION_DAYS=14): 3 of these ended longer ago and the next cleanup deletes them"
    ) in out


def test_enqueue_pending_puts_exactly_the_runnable_pending_jobs_on_the_queue():
    out = run("import_jobs", FIXTURES / "memory_store.json", "--enqueue-pending")
    queued = legacy("job_20240501_103000")
    assert queued.status == JobStatus.QUEUED and queued.completed_at is None
    # params reduced to what the tts schema accepts (voice_id was the prototype's)
    assert queued.params["text"] == "Three tips for a better morning routine."
    assert "voice_id" not in queued.params and queued.expires_at is None
    assert get_queue().job_ids == [str(queued.id)]
    assert "enqueued: 1" in out
    unknown = legacy("job_20240501_114500")
    assert unknown.status == JobStatus.FAILED
    assert "job type 'thumbnail_batch' does not exist here" in unknown.error
    invalid = legacy("job_20240501_120000")
    assert invalid.status == JobStatus.FAILED and "text: Value error" in invalid.error
    # the terminal ones are never enqueued, also on a second run
    run("import_jobs", FIXTURES / "memory_store.json", "--enqueue-pending")
    assert get_queue().job_ids == [str(queued.id)]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("{not json", [], "is not valid JSON"),
        ('"a string"', [], "expected a JSON object"),
        ("[]", ["--format", "memory"], "memory-store dump is a JSON object"),
        ("a,b\n1,2\n", ["--format", "supabase-csv"], "header row with an 'id' column"),
        ("[]", ["--owner", "ghost"], "no user named 'ghost'"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path, content, args, message):
    path = tmp_path / "dump.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        run("import_jobs", path, *args)
    assert Job.objects.count() == 0


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        run("import_jobs", tmp_path / "nope.json")


def test_progress_reports_on_stderr_every_n_rows(tmp_path):
    rows = {
        f"bulk-{n}": {"job_type": "tts", "status": "done", "created_at": "2024-01-01T00:00:00"}
        for n in range(450)
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(rows))
    err = io.StringIO()
    call_command("import_jobs", str(path), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "import_jobs: 200/450",
        "import_jobs: 400/450",
        "import_jobs: 450/450",
    ]
    assert Job.objects.filter(status=JobStatus.COMPLETED).count() == 450


def test_progress_counter_is_quiet_on_small_inputs():
    stream = io.StringIO()
    progress = Progress(stream, "x", 3, every=200)
    for _ in range(3):
        progress.step()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50%", (50.0, "50%")),
        ("Uploading 150 %", (100.0, "Uploading 150 %")),
        ("Processing segment 3/10", (None, "Processing segment 3/10")),
        (73.5, (73.5, "")),
        (-4, (0.0, "")),
        ("12", (12.0, "12")),
        (None, (None, "")),
    ],
)
def test_parse_progress(value, expected):
    assert legacy_jobs.parse_progress(value) == expected


# --- import_costs -------------------------------------------------------------------------------
def test_costs_are_imported_linked_and_idempotent(user):
    run("import_jobs", FIXTURES / "memory_store.json", "--owner", "alice")
    out = run("import_costs", FIXTURES / "cost_log.json")
    assert "imported: 5 cost entr(ies) (3 linked, 2 unlinked)" in out
    assert "already imported: 1" in out  # the duplicated line of the log
    for reason in [
        "entry 7: missing cost_usd",
        "entry 8: cost_usd is not a number: 'abc'",
        "entry 9: bad timestamp 'not a time'",
        "entry 10: input_units out of range: -5",
        "entry 11: not a JSON object but int",
    ]:
        assert reason in out
    assert "check: read 11 = 5 imported + 1 already imported + 5 skipped + 0 failed" in out

    tts = CostEntry.objects.get(job=legacy("job_20240501_103000"))
    assert (tts.units, tts.unit_name, tts.cost_usd) == (
        Decimal("120.000"),
        "characters",
        Decimal("0.026400"),
    )
    assert tts.owner == user  # the linked job's owner
    assert tts.created_at == datetime(2024, 5, 1, 10, 30, 5, 500000, tzinfo=UTC)
    assert tts.details["model"] == "eleven_multilingual_v2" and len(tts.details["legacy_key"]) == 64
    gemini = CostEntry.objects.get(job_id=MEMORY_UUID)
    assert gemini.unit_name == "frames" and gemini.cost_usd == Decimal("0.84")
    other = CostEntry.objects.get(service="openai")
    assert other.unit_name == "units" and other.job is None and other.owner is None
    assert other.details["legacy_job_id"] == "job_gone_20240603"

    assert "total: $1.292400 imported (linked $1.086400, unlinked $0.206000)" in out
    again = run("import_costs", FIXTURES / "cost_log.json")
    assert "imported: 0 cost entr(ies)" in again and "already imported: 6" in again
    assert "total: $0.000000 imported" in again
    assert CostEntry.objects.count() == 5


def test_costs_owner_option_and_dry_run(user):
    out = run("import_costs", FIXTURES / "cost_log.json", "--owner", "alice", "--dry-run")
    assert "would import: 5 cost entr(ies) (5 unlinked)" in out  # no jobs imported yet
    assert CostEntry.objects.count() == 0
    run("import_costs", FIXTURES / "cost_log.json", "--owner", "alice")
    assert CostEntry.objects.filter(owner=user).count() == 5


def test_cost_log_must_be_a_list(tmp_path):
    path = tmp_path / "costs.json"
    path.write_text('{"total": 3}')
    with pytest.raises(CommandError, match="JSON list of entries"):
        run("import_costs", path)
