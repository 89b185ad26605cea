"""Fixtures of the engine tests."""

import pytest

from tests.jobs.webhook_receiver import SECRET, Receiver


@pytest.fixture
def receiver_factory(settings):
    settings.WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_BACKOFF_BASE = 0.3
    made = []

    def make(statuses=(200,)):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()
