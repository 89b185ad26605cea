"""Workers retry their status writes while the database is unreachable (a real outage: the
connection is pointed at a database that cannot be opened, then restored)."""

import threading

import pytest
from django.db import OperationalError

from jobs.dbretry import with_db_retry
from jobs.models import Job
from tests.conftest import database_down

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_status_write_waits_for_the_database_to_come_back():
    job = Job.objects.create(job_type="noop")
    with database_down() as restore:
        threading.Timer(1.0, restore).start()
        changed = with_db_retry(
            lambda: Job.objects.filter(id=job.id).update(progress=42),
            what="test write",
            deadline_seconds=20,
        )
    assert changed == 1
    assert Job.objects.get(id=job.id).progress == 42


def test_it_gives_up_after_the_deadline_with_the_database_error():
    with database_down(), pytest.raises(OperationalError):
        with_db_retry(lambda: Job.objects.count(), what="test read", deadline_seconds=0.5)
