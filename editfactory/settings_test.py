"""Test settings: a private data dir per run and fast engine timings.

DATABASE_URL and REDIS_URL still come from the environment (`.ci/run` points them at the
machine's PostgreSQL and Redis); unset, tests use SQLite and the embedded Redis. Media goes to
the filesystem, or with EF_TEST_STORAGE=s3 to a moto S3 server started for the run.
"""

import atexit
import os
import shutil
import tempfile

if "EF_DATA_DIR" not in os.environ:
    # A private data dir for this run, removed when the process that made it exits; the
    # processes it starts (workers, servers) inherit the variable and leave it alone.
    os.environ["EF_DATA_DIR"] = tempfile.mkdtemp(prefix="ef-test-")
    atexit.register(shutil.rmtree, os.environ["EF_DATA_DIR"], ignore_errors=True)

# pytest-xdist: each test process (gw0, gw1...) gets resources of its own (tests/xdist_worker.py).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER:
    from tests.xdist_worker import give_worker_its_own_resources

    give_worker_its_own_resources(XDIST_WORKER)
if os.environ.get("EF_TEST_STORAGE", "local") == "s3":
    # The run's media in a bucket of an S3-compatible server started here (tests/s3server.py).
    from tests.s3server import s3_environment

    s3_environment(log_dir=os.environ["EF_DATA_DIR"])
os.environ.setdefault("EF_HEARTBEAT_INTERVAL", "0.5")
os.environ.setdefault("EF_QUEUE_SNAPSHOT_TTL", "0")  # places exact at every step of a test
os.environ.setdefault("EF_HEARTBEAT_TIMEOUT", "3")
os.environ.setdefault("EF_RETRY_BACKOFF_BASE", "0.2")
os.environ.setdefault("EF_RECONCILE_GRACE", "0")
os.environ.setdefault("EF_PROGRESS_MIN_INTERVAL", "0.05")
# A maintenance loop a test SIGKILLs holds the lease this long (twice the default interval).
os.environ.setdefault("EF_MAINTENANCE_LEASE_SECONDS", "10")

from editfactory.settings import *  # noqa: E402,F403
from editfactory.settings import DATA_DIR, DATABASES  # noqa: E402

# Worker processes started by the tests must see the test database, so SQLite's test database
# is a file, never the in-memory default.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif XDIST_WORKER:
    # One PostgreSQL test database per xdist worker, named here for the processes its tests
    # start too (tests/conftest.py turns pytest-django's own suffixing off).
    from tests.xdist_worker import worker_test_database_name

    DATABASES["default"]["TEST"] = {
        "NAME": worker_test_database_name(DATABASES["default"], XDIST_WORKER)
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405  (engine test job types)

# Worker processes started by the tests run with EF_USE_TEST_DB=1: they must use the database
# that pytest-django created, not the development one.
if os.environ.get("EF_USE_TEST_DB"):
    _db = DATABASES["default"]
    _db["NAME"] = _db.get("TEST", {}).get("NAME") or "test_" + _db["NAME"]

# Tests send traffic only to the loopback. In every test process (the workers they start too) the
# real edge-tts service is replaced by a closed local port, so a test that reaches edge-tts without
# its stand-in meets a refused connection (and the offline fallback), never the Internet.
import edge_tts.communicate  # noqa: E402
import edge_tts.voices  # noqa: E402

EDGE_TTS_NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens on it here
edge_tts.communicate.WSS_URL = f"wss://{EDGE_TTS_NOWHERE}/edge/v1?TrustedClientToken=test"
edge_tts.voices.VOICE_LIST = f"https://{EDGE_TTS_NOWHERE}/voices/list?trustedclienttoken=test"
