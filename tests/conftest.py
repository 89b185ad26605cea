"""Shared fixtures: embedded Redis (when REDIS_URL is unset), real RQ workers, users, tokens and
small generated media. Nothing here mocks the database, Redis or ffmpeg."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from editfactory.embedded_redis import embedded_redis_from_settings
from tests.media import MediaFactory

# Also imported from here by the tests (kill_tree, descendants, pid_alive).
from tests.processes import descendants, kill_tree, pid_alive, stop_process  # noqa: F401
from tests.xdist_worker import check_worker_redis_database

_embedded = None


def pytest_addoption(parser, pluginmanager):
    if pluginmanager.is_blocked("xdist"):
        # `-p no:xdist` (a serial run): pyproject's addopts still hold xdist's options; taken
        # here and ignored, so that they are not an error.
        parser.addoption("--numprocesses", help="ignored: pytest-xdist is disabled (-p no:xdist)")
        parser.addoption("--dist", help="ignored: pytest-xdist is disabled (-p no:xdist)")


def runs_no_test(config) -> bool:
    """The controller of a parallel run (pytest-xdist): its workers run the tests."""
    xdist = config.pluginmanager.has_plugin("xdist") and config.getoption("dist") != "no"
    return xdist and not hasattr(config, "workerinput")


def pytest_configure(config):
    global _embedded
    if config.option.basetemp is None:
        # pytest's own temp dirs (tmp_path, the media fixtures) go inside the run's data dir,
        # which settings_test removes at exit: a run leaves nothing in the system temp dir.
        # (Under xdist each worker's are in <this>/popen-gwN: xdist gives them that.)
        config.option.basetemp = str(settings.DATA_DIR / "pytest")
    if runs_no_test(config):
        return
    if settings.EMBEDDED_REDIS:
        _embedded = embedded_redis_from_settings()
        _embedded.start()
    elif hasattr(config, "workerinput"):
        refused = check_worker_redis_database(settings.REDIS_URL)
        if refused:
            raise pytest.UsageError(refused)


# Under xdist (--dist loadgroup) these run one after the other on one worker: each starts many
# processes and measures recovery times (a job started within 5 s, a horse dead within 1 s, no
# heartbeat-stale rescue), which two of them at once on 2 cores made miss.
SERIAL_GROUPS = {"tests/chaos/": "chaos"}


def pytest_collection_modifyitems(items):
    for item in items:
        for prefix, group in SERIAL_GROUPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))
    _give_schema_fuzz_items_their_ids(items)


def _give_schema_fuzz_items_their_ids(items):
    """schemathesis's `@schema.parametrize()` names its items test[GET /path] but, under pytest
    9.2 (which builds a node id from the function's name and a parametrize callspec, and these
    have none), leaves every one the node id `test`: xdist would run one of the 76 items of the
    schema fuzz test. Each gets its operation back in its node id."""
    for item in items:
        operation = getattr(item, "operation_label", None)
        if operation and item.id.params is None:
            item._id = item.id.with_params(operation)  # pytest's Node keeps its id here


def pytest_unconfigure(config):
    if _embedded is not None:
        _embedded.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings_xdist_suffix():
    """Off: editfactory/settings_test names each xdist worker's test database itself, where the
    processes the worker's tests start (EF_USE_TEST_DB=1) read the same name."""


@pytest.fixture(scope="session", autouse=True)
def close_pooled_connections(django_db_setup, django_db_blocker):
    """The async endpoints' ORM threads keep connections; close them before the test database
    is dropped (PostgreSQL refuses to drop a database that is in use)."""
    yield
    from core.asyncdb import close_pool_connections

    with django_db_blocker.unblock():
        close_pool_connections()


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with an empty queue."""
    from jobs.queue import get_connection

    get_connection().flushdb()
    yield


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> MediaFactory:
    return MediaFactory(tmp_path_factory.mktemp("media"))


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123")


def _token_for(user) -> str:
    from core.auth import api_token_create

    return api_token_create(user=user, name="test")[1]


@pytest.fixture
def api(client, user):
    """A test client authenticated as `user` with a Bearer token."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {_token_for(user)}"
    return client


@pytest.fixture
def other_api(user, other_user):
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {_token_for(other_user)}")


def run_burst_worker(*families) -> None:
    """Process everything on the queues of `families` (default: every family) and the engine's
    own queue with the real worker class (forking), then return."""
    from jobs.queue import get_queue, worker_queue_names
    from jobs.queues import QUEUES
    from jobs.worker import EngineWorker

    queues = [get_queue(name) for name in worker_queue_names(families or QUEUES)]
    EngineWorker(queues, connection=queues[0].connection).work(burst=True)


class WorkerProcess:
    """A real `manage.py rqworker` process on the test database, serving `families` (default:
    every queue family)."""

    def __init__(self, *families):
        from jobs.queue import worker_queue_names
        from jobs.queues import QUEUES

        env = dict(
            os.environ, EF_USE_TEST_DB="1", REDIS_URL=settings.REDIS_URL, PYTHONUNBUFFERED="1"
        )
        self.log = Path(settings.DATA_DIR) / f"worker-{time.monotonic_ns()}.log"
        self._log_fh = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "rqworker",
             *worker_queue_names(families or QUEUES), "--worker-class", "jobs.worker.EngineWorker"],
            env=env, stdout=self._log_fh, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the worker and every process under it (its work horse, ffmpeg): a crashed host."""
        if self.process.poll() is None:
            kill_tree(self.process)

    def stop(self) -> None:
        stop_process(self.process, kill=kill_tree)
        self._log_fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def worker_process():
    """Factory of real worker processes, all stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(*families) -> WorkerProcess:
        worker = WorkerProcess(*families)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@contextlib.contextmanager
def database_down():
    """A real outage of the default database for the duration of the block: the connection is
    pointed at a database that cannot be opened (SQLite) or a closed port (PostgreSQL). Yields
    a function that brings it back early (the settings are restored on exit either way)."""
    from django.db import connection

    from core.asyncdb import close_pool_connections

    settings_dict = connection.settings_dict  # the object itself: `restore` may run in a thread
    saved = dict(settings_dict)
    connection.close()
    close_pool_connections()  # the async endpoints' ORM threads must reconnect too, and fail
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-dir/db.sqlite3"
    else:
        settings_dict["PORT"] = "1"
    try:
        yield lambda: settings_dict.update(saved)
    finally:
        connection.close()
        settings_dict.update(saved)


def wait_for(
    predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
