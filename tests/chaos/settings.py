"""Settings of the processes a chaos test starts (web server, workers, maintenance): the test
settings (test job types, fast engine timings) plus a test-only endpoint to start any job type."""

from editfactory.settings_test import *  # noqa: F403

ROOT_URLCONF = "tests.chaos.urls"
