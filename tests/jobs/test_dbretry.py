"""Workers retry their status writes while the database is unreachable (a real outage: the
connection is pointed at a database that cannot be opened, then restored)."""

import threading

import pytest
from django.db import OperationalError, connection

from jobs.dbretry import with_db_retry
from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def _break_database():
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"
    return saved


def test_a_status_write_waits_for_the_database_to_come_back():
    job = Job.objects.create(job_type="noop")
    saved = _break_database()
    restore = threading.Timer(1.0, lambda: connection.settings_dict.update(saved))
    restore.start()
    try:
        changed = with_db_retry(
            lambda: Job.objects.filter(id=job.id).update(progress=42),
            what="test write",
            deadline_seconds=20,
        )
    finally:
        restore.cancel()
        connection.settings_dict.update(saved)
        connection.close()
    assert changed == 1
    assert Job.objects.get(id=job.id).progress == 42


def test_it_gives_up_after_the_deadline_with_the_database_error():
    saved = _break_database()
    try:
        with pytest.raises(OperationalError):
            with_db_retry(lambda: Job.objects.count(), what="test read", deadline_seconds=0.5)
    finally:
        connection.settings_dict.update(saved)
        connection.close()
