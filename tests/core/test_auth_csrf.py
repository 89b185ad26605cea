"""Issue 14.3: a state-changing request without credentials is a 401 JSON with a
WWW-Authenticate header (it used to be a 403 "CSRF check Failed"); CSRF applies only to a request
the session cookie authenticates. Checked on every state-changing operation of both APIs, with a
client that enforces CSRF as browsers' requests are checked."""

import json

import pytest
from django.test import Client

from tests.api_operations import state_changing_operations

pytestmark = pytest.mark.django_db

OPERATIONS = state_changing_operations()


def _send(client, method: str, url: str, **extra):
    return client.generic(method, url, json.dumps({}), content_type="application/json", **extra)


def _json_error(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert body["detail"] == body["error"]["message"]
    return body


def test_the_operations_are_all_there():
    assert len(OPERATIONS) > 50
    assert ("POST", "/api/v1/library/videos/info") in OPERATIONS
    assert ("POST", "/api/v1/video-info") in OPERATIONS  # an alias of the prototype
    assert ("PUT", "/api/frontend/v1/library/clips/x1/content") in OPERATIONS


@pytest.fixture
def browser():
    """A client whose requests are CSRF-checked (Django's test client skips it by default)."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize("method, url", OPERATIONS)
def test_no_credentials_is_a_401_naming_the_scheme(browser, method, url):
    response = _send(browser, method, url)
    assert response.status_code == 401, (method, url, response.content[:300])
    assert response["WWW-Authenticate"] == 'Bearer realm="Edit Factory API"'
    assert _json_error(response)["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("method, url", OPERATIONS)
def test_a_session_cookie_without_the_csrf_token_is_a_403(browser, user, method, url):
    browser.force_login(user)
    response = _send(browser, method, url)
    assert response.status_code == 403, (method, url, response.content[:300])
    assert _json_error(response)["detail"].startswith("CSRF check failed: a request authenticated")


@pytest.mark.parametrize("method, url", OPERATIONS)
def test_a_session_cookie_with_the_csrf_token_passes(browser, user, method, url):
    browser.force_login(user)
    browser.get("/admin/login/")  # sets the csrftoken cookie, as the admin's pages do
    token = browser.cookies["csrftoken"].value
    response = _send(browser, method, url, HTTP_X_CSRFTOKEN=token)
    # Past authentication and CSRF: the operation itself answers (the ids are made up).
    assert response.status_code not in (401, 403, 500), (method, url, response.content[:300])


def test_a_bearer_token_needs_no_csrf_token_even_beside_a_session(browser, user, api):
    browser.force_login(user)
    browser.defaults["HTTP_AUTHORIZATION"] = api.defaults["HTTP_AUTHORIZATION"]
    response = _send(browser, "POST", "/api/v1/library/projects")
    assert response.status_code == 422, response.content  # 'name' is required: past auth


def test_a_refused_token_is_a_401_with_invalid_token(browser):
    response = _send(browser, "POST", "/api/v1/library/projects", HTTP_AUTHORIZATION="Bearer ef_no")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="Edit Factory API", error="invalid_token"'


def test_a_stale_session_cookie_is_a_401(browser, user):
    browser.force_login(user)
    browser.logout()
    browser.cookies["sessionid"] = "no-such-session"
    response = _send(browser, "POST", "/api/v1/library/projects")
    assert response.status_code == 401 and "WWW-Authenticate" in response


def test_a_get_without_credentials_is_a_401_too(browser):
    response = browser.get("/api/v1/jobs")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="Edit Factory API"'
