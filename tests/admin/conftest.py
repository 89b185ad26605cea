"""Fixtures for the admin tests: a superuser client, staff users with partial permissions, jobs
in every state and jobs with stored files."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.status import JobStatus


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-123")


@pytest.fixture
def staff_client(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def staff_with(django_user_model, username: str, *codenames: str):
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-123456")
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def operator_client(django_user_model):
    """Staff who may view and change (retry, cancel) jobs but not delete them."""
    client = Client()
    client.force_login(staff_with(django_user_model, "operator", "view_job", "change_job"))
    return client


@pytest.fixture
def viewer_client(django_user_model):
    """Staff who may only look at jobs."""
    client = Client()
    client.force_login(staff_with(django_user_model, "viewer", "view_job"))
    return client


@pytest.fixture
def make_job(user):
    def make(status=JobStatus.QUEUED, *, job_type="noop", owner=user, age_days=0, **fields):
        now = timezone.now()
        created = now - timedelta(days=age_days)
        if status in (JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED):
            fields.setdefault("started_at", created + timedelta(seconds=1))
            fields.setdefault("attempts", 1)
        if status == JobStatus.PROCESSING:
            fields.setdefault("heartbeat_at", now)
        if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
            fields.setdefault("completed_at", created + timedelta(seconds=5))
        return Job.objects.create(
            job_type=job_type, owner=owner, status=status, created_at=created, **fields
        )

    return make


@pytest.fixture
def store_file(tmp_path):
    """Register a real stored output file on a job; returns the JobFile."""

    def store(job, name="out.txt", content=b"hello from a job"):
        local = Path(tmp_path) / f"{job.id}-{name}"
        local.write_bytes(content)
        return services.job_file_store(
            job_id=job.id, local_path=local, role="output", label="result", filename=name
        )

    return store
