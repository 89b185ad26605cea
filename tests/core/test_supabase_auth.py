"""Supabase Auth access tokens (JWTs) as API credentials: signed here with real keys, checked by the
API over HTTP with the real database. The project's JWKS endpoint is third-party HTTP: respx
serves it (its host is reserved and unresolvable, so nothing leaves the machine)."""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth import get_user_model
from django.db import connection

from core import supabase_auth
from core.models import ExternalIdentity
from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.models import Project

pytestmark = pytest.mark.django_db(transaction=True)

SUPABASE_URL = "https://efauth-project.supabase.invalid"
ISSUER = SUPABASE_URL + "/auth/v1"
JWKS_URL = SUPABASE_URL + "/auth/v1/.well-known/jwks.json"
SECRET = "super-secret-jwt-token-with-at-least-32-characters"
ASYNC_ENDPOINT = "/api/v1/jobs"  # ASYNC_API_AUTH: resolved in the ORM thread
SYNC_ENDPOINT = "/api/v1/library/projects"  # API_AUTH: checked by the authenticator
ENDPOINTS = [ASYNC_ENDPOINT, SYNC_ENDPOINT]


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key, kid: str, alg: str) -> dict:
    algorithm = jwt.algorithms.ECAlgorithm if alg == "ES256" else jwt.algorithms.RSAAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {
        "sub": "8a1f3c52-4f0e-4c7b-9d3e-2b6a1c9e0f11",
        "aud": "authenticated",
        "iss": ISSUER,
        "exp": now + 3600,
        "iat": now,
        "email": "Dana.Frontend@example.com",
        "role": "authenticated",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(secret=SECRET, **overrides) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def signed(private_key, kid="key-1", alg="ES256", **overrides) -> str:
    return jwt.encode(claims(**overrides), private_key, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, payload: dict, signature: bytes = b"") -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(signature)}"


def get(client, path, token, **extra):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}", **extra)


def error_of(response, status=401) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["detail"] == body["error"]["message"]
    return body["error"]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def fresh_jwks_cache(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(supabase_auth, "_clock", clock)
    supabase_auth._jwks.clear()
    yield clock
    supabase_auth._jwks.clear()


@pytest.fixture
def hs_configured(settings):
    settings.SUPABASE_JWT_SECRET = SECRET
    settings.SUPABASE_URL = ""


class Jwks:
    """The project's JWKS endpoint: the keys it publishes can change (rotation) or it can fail."""

    def __init__(self, route, keys):
        self.route, self.keys, self.down = route, keys, False

    def respond(self, request):
        if self.down:
            return httpx.Response(503, text="upstream unavailable")
        return httpx.Response(200, json={"keys": self.keys})

    @property
    def fetches(self) -> int:
        return self.route.call_count


@pytest.fixture
def jwks(settings, ec_key, rsa_key):
    """Only EF_SUPABASE_URL configured (asymmetric keys), publishing an ES256 and an RS256 key."""
    settings.SUPABASE_URL = SUPABASE_URL
    settings.SUPABASE_JWT_SECRET = ""
    with respx.mock(assert_all_called=False) as mock:
        server = Jwks(mock.get(JWKS_URL), [])
        server.keys = [public_jwk(ec_key, "key-1", "ES256"), public_jwk(rsa_key, "rsa-1", "RS256")]
        server.route.side_effect = server.respond
        yield server


# --- accepted tokens --------------------------------------------------------------------------


def test_valid_hs256_token_creates_the_user_once_then_finds_them(client, hs_configured):
    token = hs256()
    first = get(client, ASYNC_ENDPOINT, token)
    assert first.status_code == 200, first.content
    identity = ExternalIdentity.objects.get()
    user = identity.user
    assert (identity.provider, identity.subject) == ("supabase", claims()["sub"])
    assert user.email == "Dana.Frontend@example.com"
    assert user.username == "dana.frontend@example.com"
    assert not user.has_usable_password() and not user.is_staff
    # The next requests (a new token of the same user, both endpoint kinds) find the same user.
    Job.objects.create(job_type="noop", owner=user, status=JobStatus.COMPLETED)
    assert get(client, ASYNC_ENDPOINT, hs256(exp=int(time.time()) + 1800)).json()["total"] == 1
    assert get(client, SYNC_ENDPOINT, token).status_code == 200
    assert ExternalIdentity.objects.count() == 1
    assert get_user_model().objects.count() == 1


def test_es256_and_rs256_tokens_from_the_jwks_work_on_sync_and_async_endpoints(
    client, jwks, ec_key, rsa_key
):
    for token in (signed(ec_key), signed(rsa_key, kid="rsa-1", alg="RS256")):
        for path in ENDPOINTS:
            response = get(client, path, token)
            assert response.status_code == 200, (path, response.content)
    assert ExternalIdentity.objects.count() == 1
    assert jwks.fetches == 1  # cached


def test_jobs_of_a_jwt_user_work_and_another_users_stay_404(client, hs_configured, other_user):
    token = hs256()
    get(client, ASYNC_ENDPOINT, token)
    me = ExternalIdentity.objects.get().user
    mine = Job.objects.create(job_type="noop", owner=me, status=JobStatus.FAILED)
    theirs = Job.objects.create(job_type="noop", owner=other_user, status=JobStatus.FAILED)
    foreign_project = Project.objects.create(owner=other_user, name="Not yours")

    async_detail = get(client, f"/api/v1/jobs/{mine.id}", token)
    assert async_detail.status_code == 200 and async_detail.json()["id"] == str(mine.id)
    assert get(client, ASYNC_ENDPOINT, token).json()["items"][0]["id"] == str(mine.id)
    assert error_of(get(client, f"/api/v1/jobs/{theirs.id}", token), 404)["code"] == "not_found"
    project = get(client, f"/api/v1/library/projects/{foreign_project.id}", token)
    assert error_of(project, 404)["code"] == "not_found"
    retry = client.post(f"/api/v1/jobs/{theirs.id}/retry", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert error_of(retry, 404)["code"] == "not_found"
    assert Job.objects.get(id=theirs.id).status == JobStatus.FAILED


def test_a_small_clock_skew_is_tolerated(client, hs_configured, settings):
    settings.SUPABASE_JWT_LEEWAY = 10
    assert get(client, ASYNC_ENDPOINT, hs256(exp=int(time.time()) - 3)).status_code == 200
    settings.SUPABASE_JWT_LEEWAY = 0
    assert get(client, ASYNC_ENDPOINT, hs256(exp=int(time.time()) - 3)).status_code == 401


# --- refused tokens: a 401 that says what is wrong ---------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"aud": "anon"}, "audience"),
        ({"exp": None}, "'exp'"),
        ({"sub": None}, "'sub'"),
        ({"sub": ""}, "subject"),
    ],
)
def test_hs256_claims_are_checked(client, hs_configured, path, overrides, says):
    error = error_of(get(client, path, hs256(**overrides)))
    assert error["code"] == "unauthenticated" and says in error["message"]
    assert not ExternalIdentity.objects.exists()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_wrong_secret_is_a_bad_signature_and_the_secret_is_never_shown(
    client, hs_configured, path
):
    response = get(client, path, hs256(secret="another-projects-secret-of-32-characters-min"))
    error = error_of(response)
    assert "signature" in error["message"]
    assert SECRET not in response.content.decode()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_jwks_tokens_are_checked(client, jwks, ec_key, other_ec_key, path):
    cases = [
        (signed(ec_key, iss="https://someone-else.supabase.invalid/auth/v1"), "issuer"),
        (signed(ec_key, iss=None), "'iss'"),
        (signed(ec_key, aud="anon"), "audience"),
        (signed(ec_key, exp=int(time.time()) - 120), "expired"),
        (signed(other_ec_key, kid="key-1"), "signature"),  # a forged token under a known kid
        (signed(ec_key, kid="rsa-1"), "does not match"),  # ES256 header, RSA key
        (jwt.encode(claims(), ec_key, algorithm="ES256"), "(kid)"),  # no kid at all
        (unsigned({"alg": "ES256", "kid": ["key-1"]}, claims()), "malformed"),
    ]
    for token, says in cases:
        assert says in error_of(get(client, path, token))["message"], says
    assert not ExternalIdentity.objects.exists()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_alg_none_is_never_accepted(client, jwks, settings, path):
    settings.SUPABASE_JWT_SECRET = SECRET  # every kind of key configured
    token = unsigned({"alg": "none", "typ": "JWT"}, claims())
    assert "'none'" in error_of(get(client, path, token))["message"]
    assert not ExternalIdentity.objects.exists()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_hs256_is_refused_when_only_the_jwks_is_configured(client, jwks, ec_key, path):
    # The classic algorithm confusion: HMAC "signed" with the public key that anyone can fetch.
    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    signing_input = unsigned(header, claims()).rsplit(".", 1)[0]
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    for token in (f"{signing_input}.{b64(mac)}", hs256()):
        assert (
            "HS256 access tokens are not accepted" in error_of(get(client, path, token))["message"]
        )
    assert not ExternalIdentity.objects.exists()


def test_asymmetric_tokens_are_refused_when_only_the_secret_is_configured(
    client, hs_configured, ec_key
):
    assert (
        "ES256 access tokens are not accepted"
        in (error_of(get(client, ASYNC_ENDPOINT, signed(ec_key)))["message"])
    )


@pytest.mark.parametrize("path", ENDPOINTS)
def test_without_configuration_a_jwt_is_a_401_saying_so(client, settings, path):
    settings.SUPABASE_JWT_SECRET = settings.SUPABASE_URL = ""
    error = error_of(get(client, path, hs256()))
    assert "not configured" in error["message"]
    assert not ExternalIdentity.objects.exists()


def test_other_bearer_values_keep_the_generic_401(client, hs_configured):
    for token in ("ef_not-a-real-token", "garbage", "a.b"):
        error = error_of(get(client, ASYNC_ENDPOINT, token))
        assert error["message"].startswith("Authentication required")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_deactivated_users_token_is_refused(client, hs_configured, path):
    assert get(client, path, hs256()).status_code == 200
    get_user_model().objects.filter(external_identities__isnull=False).update(is_active=False)
    assert "deactivated" in error_of(get(client, path, hs256()))["message"]


# --- the JWKS: unknown kid, rotation, cache lifetime, outages ---------------------------------


def test_an_unknown_kid_is_refused_after_one_refetch(client, jwks, ec_key):
    assert get(client, ASYNC_ENDPOINT, signed(ec_key)).status_code == 200
    supabase_auth._clock.now += supabase_auth.JWKS_MIN_REFETCH_SECONDS
    error = error_of(get(client, ASYNC_ENDPOINT, signed(ec_key, kid="nobody-knows")))
    assert "unknown kid" in error["message"]
    assert jwks.fetches == 2  # the project may have rotated: it was asked once more
    # Forged kids do not make every request call Supabase: no refetch before the interval.
    for n in range(5):
        get(client, ASYNC_ENDPOINT, signed(ec_key, kid=f"forged-{n}"))
    assert jwks.fetches == 2


def test_a_rotated_key_is_picked_up_and_a_revoked_one_refused(client, jwks, ec_key, other_ec_key):
    old, new = public_jwk(ec_key, "key-1", "ES256"), public_jwk(other_ec_key, "key-2", "ES256")
    assert get(client, ASYNC_ENDPOINT, signed(ec_key)).status_code == 200
    # The project publishes a new key and signs with it: its kid is unknown, so we refetch.
    jwks.keys = [old, new]
    supabase_auth._clock.now += supabase_auth.JWKS_MIN_REFETCH_SECONDS
    assert get(client, ASYNC_ENDPOINT, signed(other_ec_key, kid="key-2")).status_code == 200
    assert jwks.fetches == 2
    # The old key is revoked: tokens signed with it pass until the cached copy expires.
    jwks.keys = [new]
    assert get(client, ASYNC_ENDPOINT, signed(ec_key)).status_code == 200
    supabase_auth._clock.now += 601
    assert "unknown kid" in error_of(get(client, ASYNC_ENDPOINT, signed(ec_key)))["message"]
    assert get(client, ASYNC_ENDPOINT, signed(other_ec_key, kid="key-2")).status_code == 200
    assert jwks.fetches == 3


def test_the_jwks_is_cached_for_its_lifetime_only(client, jwks, ec_key, settings):
    settings.SUPABASE_JWKS_CACHE_SECONDS = 300
    for _ in range(3):
        assert get(client, ASYNC_ENDPOINT, signed(ec_key)).status_code == 200
    assert jwks.fetches == 1
    supabase_auth._clock.now += 299
    get(client, ASYNC_ENDPOINT, signed(ec_key))
    assert jwks.fetches == 1
    supabase_auth._clock.now += 2
    assert get(client, ASYNC_ENDPOINT, signed(ec_key)).status_code == 200
    assert jwks.fetches == 2


def test_jwks_outage_is_a_503_not_a_401_and_stale_keys_bridge_short_ones(client, jwks, ec_key):
    jwks.down = True
    error = error_of(get(client, ASYNC_ENDPOINT, signed(ec_key)), 503)
    assert error["code"] == "auth_unavailable" and SUPABASE_URL not in error["message"]
    jwks.down = False
    supabase_auth._clock.now += supabase_auth.JWKS_MIN_REFETCH_SECONDS
    assert get(client, SYNC_ENDPOINT, signed(ec_key)).status_code == 200
    # Past the cache's lifetime, an unreachable JWKS leaves the last keys in use for a while...
    jwks.down = True
    supabase_auth._clock.now += 601
    assert get(client, ASYNC_ENDPOINT, signed(ec_key)).status_code == 200
    # ... but not forever.
    supabase_auth._clock.now += supabase_auth.JWKS_STALE_IF_ERROR_SECONDS
    assert error_of(get(client, SYNC_ENDPOINT, signed(ec_key)), 503)["code"] == "auth_unavailable"


def test_symmetric_keys_in_the_jwks_are_ignored(client, jwks):
    # A JWKS that (wrongly) publishes an HMAC key must not make HS256 tokens acceptable.
    jwks.keys = [{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(SECRET.encode())}]
    supabase_auth._clock.now += supabase_auth.JWKS_MIN_REFETCH_SECONDS
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "hmac"})
    assert error_of(get(client, ASYNC_ENDPOINT, token))["code"] == "unauthenticated"
    assert supabase_auth._fetch_jwks(JWKS_URL) == {}


# --- the local user -------------------------------------------------------------------------


def test_an_existing_local_account_is_never_taken_over_by_email(client, hs_configured):
    User = get_user_model()
    local = User.objects.create_user("dana.frontend@example.com", "dana.frontend@example.com", "pw")
    assert get(client, ASYNC_ENDPOINT, hs256()).status_code == 200
    mapped = ExternalIdentity.objects.get().user
    assert mapped.pk != local.pk and mapped.username == "dana.frontend@example.com-8a1f3c52"
    # Without an email the username comes from the subject.
    assert get(client, ASYNC_ENDPOINT, hs256(sub=str(uuid.uuid4()), email=None)).status_code == 200
    assert ExternalIdentity.objects.get(user__email="").user.username.startswith("supabase-")


def test_concurrent_first_requests_create_one_user(hs_configured):
    verified = supabase_auth.verify_supabase_token(hs256())
    start = threading.Barrier(6)
    users, errors = [], []

    def first_request():
        try:
            start.wait(timeout=10)
            users.append(supabase_auth.user_for_claims(verified).pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and len(users) == 6 and len(set(users)) == 1
    assert get_user_model().objects.count() == 1 and ExternalIdentity.objects.count() == 1


def test_the_email_follows_supabase(client, hs_configured):
    get(client, ASYNC_ENDPOINT, hs256())
    ExternalIdentity.objects.update(last_seen_at=None)
    get(client, ASYNC_ENDPOINT, hs256(email="dana@new.example"))
    assert get_user_model().objects.get().email == "dana@new.example"
    assert ExternalIdentity.objects.get().last_seen_at is not None
