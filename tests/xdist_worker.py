"""Resources of one pytest-xdist worker (`uv run pytest -n N`): every test process, gw0, gw1...,
runs its tests beside the others, so nothing a test resets or counts may be shared:
- its data dir: <the run's EF_DATA_DIR>/gwN (SQLite test database, media, job temp dirs and the
  embedded Redis, whose socket lives there);
- with REDIS_URL given, a Redis database of its own: the URL's database + 1 + N (.../0 gives gw0
  .../1, gw1 .../2, ...): the base database is the serial run's;
- with EF_TEST_STORAGE=s3, an S3 server and bucket of its own (tests/s3server.py);
- on PostgreSQL, a test database of its own: test_<name>_gwN (worker_test_database_name).

editfactory/settings_test calls this before the settings load. The processes a test starts
(workers, servers, `manage.py up`) inherit PYTEST_XDIST_WORKER with the changed variables:
EF_TEST_XDIST_RESOURCES says they already name this worker's resources.
"""

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DONE = "EF_TEST_XDIST_RESOURCES"  # the worker whose resources the environment names
# The run's S3 server (started by the controller process, which runs no test).
S3_VARIABLES = ("EF_STORAGE", "EF_S3_ENDPOINT_URL", "EF_S3_BUCKET", "EF_S3_REGION")
# Variables a nested pytest run (tests/test_leaves_nothing.py) must not inherit.
XDIST_VARIABLES = (
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
    DONE,
)


def worker_index(worker: str) -> int:
    return int(worker.removeprefix("gw"))


def give_worker_its_own_resources(worker: str) -> None:
    if os.environ.get(DONE) == worker:
        return  # a process started by one of this worker's tests: already its own
    os.environ[DONE] = worker
    data_dir = Path(os.environ["EF_DATA_DIR"]) / worker
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["EF_DATA_DIR"] = str(data_dir)
    if os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"], worker)
    if os.environ.get("EF_TEST_STORAGE", "local") == "s3":
        for name in S3_VARIABLES:  # settings_test then starts this worker's own server
            os.environ.pop(name, None)


def worker_redis_url(url: str, worker: str) -> str:
    """`url` with its database number moved past the base: base + 1 + the worker's index."""
    parts = urlsplit(url)
    offset = 1 + worker_index(worker)
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N
        query = dict(parse_qsl(parts.query))
        query["db"] = str(int(query.get("db", 0)) + offset)
        return urlunsplit(parts._replace(query=urlencode(query)))
    base = int(parts.path.strip("/") or 0)  # redis://host:port/N
    return urlunsplit(parts._replace(path=f"/{base + offset}"))


def worker_test_database_name(database: dict, worker: str) -> str:
    """The worker's PostgreSQL test database, as pytest-django would suffix it for xdist."""
    name = database.get("TEST", {}).get("NAME") or f"test_{database['NAME']}"
    return f"{name}_{worker}"


def check_worker_redis_database(url: str) -> str | None:
    """Why the worker's Redis database cannot be used (None when it can): a Redis server has 16
    databases unless configured otherwise, so base + 1 + N must stay below that."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.ResponseError as exc:
        return (
            f"this xdist worker's Redis database ({url}) is refused: {exc}. Each worker uses "
            "REDIS_URL's database + 1 + its index: run fewer workers (-n) or give a lower "
            "database in REDIS_URL"
        )
    return None
