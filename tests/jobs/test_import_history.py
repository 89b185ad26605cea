"""Imported history is kept: retention is decided at cleanup time from the current settings and
spares imported jobs unless asked; a re-import after a cleanup follows one stated rule (no
resurrection by surprise); cost entries find their jobs whatever the order of the imports."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from jobs import services
from jobs.models import CostEntry, DeletedImport, Job
from jobs.status import JobStatus
from tests.jobs.test_import_commands import FIXTURES, legacy, run

pytestmark = pytest.mark.django_db(transaction=True)
MEMORY = FIXTURES / "memory_store.json"
OLD = {"job_20240501_101500", "job_20240501_114500", "9b1f6a3e-2c4d-4e8f-a1b2-c3d4e5f60718"}


def _old_local_job(user) -> Job:
    ended = timezone.now() - timedelta(days=30)
    return Job.objects.create(
        job_type="noop", owner=user, status=JobStatus.COMPLETED, completed_at=ended
    )


def test_retention_keeps_imported_jobs_unless_the_current_setting_says_otherwise(user):
    run("import_jobs", MEMORY)
    local = _old_local_job(user)
    imported = Job.objects.filter(imported=True).count()
    assert imported == 6
    assert services.jobs_cleanup_expired()["jobs"] == 1  # the maintenance loop's pass
    assert not Job.objects.filter(pk=local.pk).exists()
    assert Job.objects.filter(imported=True).count() == imported
    # Settings changed after the import decide: a retention longer than their age keeps them...
    with override_settings(EXPIRE_IMPORTED_JOBS=True, JOB_RETENTION_DAYS=36500):
        assert services.jobs_cleanup_expired()["jobs"] == 0
    # ...and the usual one deletes exactly those that ended longer ago.
    with override_settings(EXPIRE_IMPORTED_JOBS=True):
        assert services.jobs_cleanup_expired()["jobs"] == 3
    assert Job.objects.filter(imported=True).count() == 3
    assert DeletedImport.objects.count() == 3


def test_cleanup_command_deletes_imported_jobs_only_when_asked():
    run("import_jobs", MEMORY)
    out = run("cleanup_jobs", "--older-than-days", "30")
    assert "cleanup: 0 job(s) older than 30 day(s)" in out and "imported ones kept" in out
    out = run("cleanup_jobs", "--older-than-days", "30", "--include-imported")
    assert "cleanup: 3 job(s) older than 30 day(s)" in out
    assert Job.objects.count() == 3 and legacy("job_20240501_103000")  # the recent ones stay


def test_a_reimport_after_cleanup_brings_nothing_back_unless_asked():
    run("import_jobs", MEMORY)
    run("cleanup_jobs", "--older-than-days", "30", "--include-imported")
    assert Job.objects.count() == 3
    out = run("import_jobs", MEMORY)
    assert "imported: 0 job(s)" in out
    assert "deleted earlier, not brought back: 3 (imported before and deleted here since" in out
    assert "check: read 9 = 0 imported + 3 already imported + 3 deleted earlier" in out
    assert Job.objects.count() == 3
    out = run("import_jobs", MEMORY, "--restore-deleted")
    assert "imported: 3 job(s)" in out and Job.objects.count() == 6
    assert DeletedImport.objects.count() == 0
    # Deleted by an operator (not only by cleanup): the same rule.
    services.job_delete(job=legacy("job_20240501_101500"))
    assert "deleted earlier, not brought back: 1" in run("import_jobs", MEMORY)


def test_costs_imported_before_their_jobs_are_linked_when_the_jobs_come(user):
    out = run("import_costs", FIXTURES / "cost_log.json")
    assert "imported: 5 cost entr(ies) (5 unlinked)" in out
    assert "total: $1.292400 imported (linked $0.000000, unlinked $1.292400)" in out
    out = run("import_jobs", MEMORY, "--owner", "alice")
    assert "costs: linked 3 cost entr(ies) imported before their job" in out
    tts = CostEntry.objects.get(job=legacy("job_20240501_103000"))
    assert tts.owner == user and tts.cost_usd == Decimal("0.026400")
    assert CostEntry.objects.filter(job__isnull=False).count() == 3
    # A job deleted and imported again: its costs lost their link; re-running links them.
    services.job_delete(job=legacy("job_20240501_103000"))
    assert CostEntry.objects.filter(job__isnull=False).count() == 2
    run("import_jobs", MEMORY, "--owner", "alice", "--restore-deleted")
    assert CostEntry.objects.filter(job__isnull=False).count() == 3
    # Links lost earlier (an import made before this rule): re-running import_costs links them.
    CostEntry.objects.update(job=None)
    again = run("import_costs", FIXTURES / "cost_log.json")
    assert "already imported: 6" in again
    assert "linked 3 cost entr(ies) imported earlier to their jobs, imported since" in again
    assert CostEntry.objects.filter(job__isnull=False).count() == 3


def test_the_api_says_an_imported_job_is_kept(api, user):
    run("import_jobs", MEMORY, "--owner", "alice")
    job = legacy("job_20240501_101500")
    answer = api.get(f"/api/v1/jobs/{job.id}").json()
    assert (answer["imported"], answer["expires_at"]) == (True, None)
    with override_settings(EXPIRE_IMPORTED_JOBS=True):
        answer = api.get(f"/api/v1/jobs/{job.id}").json()
    assert answer["expires_at"] is not None and answer["imported"] is True
