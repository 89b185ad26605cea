"""Idempotency keys on job creation: the same key and request from the same owner answer the
same job (200, no second row), another request with the key is a 409 naming what differs, even
when the requests race (the unique constraint decides; tested on SQLite and PostgreSQL)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from jobs import services
from jobs.errors import IdempotencyConflict
from jobs.models import Job, JobEvent

pytestmark = pytest.mark.django_db(transaction=True)

TTS = "/api/v1/library/audio/tts"


def _tts(client, key=None, **body):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    payload = {"text": "Hello there.", "provider": "offline", **body}
    return client.post(TTS, payload, content_type="application/json", **headers)


def test_the_same_key_answers_the_same_job(api, user):
    first = _tts(api, "order-1042", metadata={"order": 1042})
    assert first.status_code == 202, first.content
    again = _tts(api, "order-1042", metadata={"order": 1042})
    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert Job.objects.filter(owner=user).count() == 1
    job = Job.objects.get(owner=user)
    assert job.idempotency_key == "order-1042"
    detail = api.get(f"/api/v1/jobs/{job.id}").json()
    assert detail["idempotency_key"] == "order-1042" and detail["metadata"] == {"order": 1042}
    # Another key, or none, is another job.
    assert _tts(api, "order-1043", metadata={"order": 1042}).status_code == 202
    assert _tts(api).status_code == 202
    assert Job.objects.filter(owner=user).count() == 3


def test_a_replay_answers_the_job_as_it_is_now(api, user):
    job_id = _tts(api, "k-now").json()["job_id"]
    services.job_cancel(job=Job.objects.get(id=job_id))
    again = _tts(api, "k-now")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"text": "Something else."}, "params"),
        ({"metadata": {"order": 1}}, "metadata"),
        ({"callback_url": "http://127.0.0.1:9/h"}, "callback_url"),
        ({"webhook_progress": True, "callback_url": "http://127.0.0.1:9/h"}, "callback_url"),
        ({"run_at": "tomorrow"}, "the input files, schedule or options"),
    ],
)
def test_the_same_key_with_another_request_is_a_409_naming_it(api, user, settings, change, named):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    first = _tts(api, "k1")
    assert first.status_code == 202
    if change.get("run_at") == "tomorrow":
        change = {"run_at": (timezone.now() + timedelta(days=1)).isoformat()}
    conflict = _tts(api, "k1", **change)
    assert conflict.status_code == 409, conflict.content
    error = conflict.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert "Idempotency-Key 'k1' was already used for a different request" in error["message"]
    assert f"differs in {named}" in error["message"]
    assert error["details"][0]["job_id"] == first.json()["job_id"]
    assert Job.objects.filter(owner=user).count() == 1


def test_a_different_upload_with_the_same_key_is_a_409(api, user, media):
    first_file, second_file = media.video(seconds=1), media.video(seconds=2)
    url = "/api/v1/library/videos/info"
    with first_file.open("rb") as fh:
        first = api.post(url, {"file": fh}, HTTP_IDEMPOTENCY_KEY="upload-1")
    with first_file.open("rb") as fh:
        same = api.post(url, {"file": fh}, HTTP_IDEMPOTENCY_KEY="upload-1")
    with second_file.open("rb") as fh:
        other = api.post(url, {"file": fh}, HTTP_IDEMPOTENCY_KEY="upload-1")
    assert (first.status_code, same.status_code, other.status_code) == (202, 200, 409)
    assert same.json()["job_id"] == first.json()["job_id"]
    assert "differs in the input files" in other.json()["error"]["message"]
    job = Job.objects.get(owner=user)
    assert job.files.count() == 1, "a replay stores no second copy of the upload"


def test_keys_are_per_owner_and_freed_with_their_job(api, other_api, user, other_user):
    mine = _tts(api, "shared-key").json()["job_id"]
    theirs = _tts(other_api, "shared-key")
    assert theirs.status_code == 202 and theirs.json()["job_id"] != mine
    services.job_delete(job=Job.objects.get(id=mine))
    again = _tts(api, "shared-key")
    assert again.status_code == 202 and again.json()["job_id"] != mine


def test_a_replay_is_not_counted_by_the_rate_limit(api, user, settings):
    settings.RATE_LIMIT_JOBS = "2/minute"
    assert _tts(api, "rl").status_code == 202
    assert [_tts(api, "rl").status_code for _ in range(3)] == [200, 200, 200]
    assert _tts(api, "rl-2").status_code == 202
    assert _tts(api, "rl-3").status_code == 429


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "with space", "tab\tkey"])
def test_bad_keys_are_a_422_naming_the_header(api, user, key):
    response = _tts(api, key)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["details"][0]["field"] == "Idempotency-Key"
    assert "Idempotency-Key must be 1 to 255 visible ASCII characters" in error["message"]
    assert not Job.objects.exists()


def test_a_request_racing_an_uncommitted_one_answers_its_job(user):
    """The second request checks before the first has committed (it sees no job), inserts, meets
    the unique constraint once the first commits, and answers the first's job: one row."""
    inserted, release = threading.Event(), threading.Event()
    results: dict = {}

    def first():
        try:
            with transaction.atomic():
                results["first"] = services.job_create(
                    job_type="noop", owner=user, idempotency_key="race"
                )
                inserted.set()
                release.wait(10)  # hold the insert uncommitted while the second one runs
        finally:
            connection.close()

    def second():
        inserted.wait(10)
        try:
            results["second"] = services.job_create(
                job_type="noop", owner=user, idempotency_key="race"
            )
        except Exception as exc:  # the assertion below names it
            results["second"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inserted.wait(10)
    threading.Timer(1.0, release.set).start()  # the second is blocked on the first by then
    for thread in threads:
        thread.join(30)
    assert not isinstance(results["second"], Exception), results["second"]
    assert results["second"].id == results["first"].id
    assert results["second"].replayed and not results["first"].replayed
    assert Job.objects.filter(idempotency_key="race").count() == 1
    assert JobEvent.objects.filter(job_id=results["first"].id).count() == 1


def test_a_racing_request_with_other_params_gets_the_conflict(user):
    services.job_create(job_type="test_flaky", params={"fail_times": 1}, owner=user,
                        idempotency_key="p")  # fmt: skip
    with pytest.raises(IdempotencyConflict, match="differs in params"):
        services.job_create(
            job_type="test_flaky", params={"fail_times": 2}, owner=user, idempotency_key="p"
        )


def test_an_endpoint_that_cannot_honour_a_key_refuses_it(api, user):
    # A project generation does not take the key: a client believing a repeat is safe is told.
    project = api.post(
        "/api/v1/library/projects", {"name": "p"}, content_type="application/json"
    ).json()
    response = api.post(
        f"/api/v1/library/projects/{project['id']}/generate",
        {"variant_count": 1},
        HTTP_IDEMPOTENCY_KEY="gen-1",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("The Idempotency-Key header is not supported by this endpoint")
    assert body["error"]["details"][0]["field"] == "Idempotency-Key"
    assert Job.objects.count() == 0
    # The same header on every route that starts one job is honoured (marked), aliases included.
    assert _tts(api, "ok-1").status_code == 202
    alias = api.post("/api/v1/jobs", {"params": "{}"}, HTTP_IDEMPOTENCY_KEY="x-1")
    assert alias.status_code != 422 or "Idempotency-Key" not in alias.json()["detail"]
