import pytest


@pytest.fixture
def hook_url(settings) -> str:
    """A callback URL the engine accepts without the network: localhost, explicitly allowed
    (loopback is refused otherwise). No test here runs a job that would call it."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    return "http://localhost:9/hook"
