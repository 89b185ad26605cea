"""Edit Factory settings: everything comes from the environment (see docs/configuration.md).

Defaults give the zero-setup runtime: SQLite and an embedded Redis under the data dir.
"""

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from editfactory.storage_settings import default_storage_from_env, storage_kind

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DATA_DIR = Path(env.str("EF_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
MEDIA_ROOT = Path(env.str("EF_MEDIA_DIR", default=str(DATA_DIR / "media"))).resolve()
JOB_TEMP_DIR = Path(env.str("EF_TEMP_DIR", default=str(DATA_DIR / "tmp"))).resolve()
MEDIA_URL = "/media/"
for _dir in (DATA_DIR, MEDIA_ROOT, JOB_TEMP_DIR / "uploads"):
    _dir.mkdir(parents=True, exist_ok=True)

# Production mode refuses to run on generated secrets or DEBUG.
PRODUCTION = env.bool("EF_PRODUCTION", default=False)
# Off unless asked for (DEBUG=1, a development flag): Django's debug pages list every URL
# pattern and settings, which no one reaching `up` should see.
DEBUG = env.bool("DEBUG", default=False) and not PRODUCTION


def _local_secret_key() -> str:
    """A key generated once and kept in the data dir, for local (non-production) use."""
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")  # required: ImproperlyConfigured when missing
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
# Frontends on other origins (django-cors-headers). Only these may call the API from a browser
# with credentials; they are also trusted for CSRF so session-authenticated POSTs work.
# No default here (production must name its origins): `manage.py up` outside production gives
# its web processes the frontend's dev server origins when EF_CORS_ORIGINS is unset (see up.py).
CORS_ALLOWED_ORIGINS = env.list("EF_CORS_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/"
# Spelled out rather than left to the library's defaults: the web frontend preflights every PUT,
# PATCH, DELETE and JSON request and sends Authorization (a `*` would not cover it).
CORS_ALLOW_METHODS = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",  # job creation (docs/api.md, "Starting jobs")
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
]
CORS_EXPOSE_HEADERS = [
    "Retry-After",
    "Deprecation",
    "Link",
    "Content-Range",
    "Accept-Ranges",
    "WWW-Authenticate",  # error="invalid_token": a refused credential, not a missing one
]
CSRF_TRUSTED_ORIGINS = [*env.list("CSRF_TRUSTED_ORIGINS", default=[]), *CORS_ALLOWED_ORIGINS]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "django_rq",
    "corsheaders",
    "editfactory",
    "core",
    "jobs",
    "media_pipeline",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "editfactory.bodyguard.RefusedBodyMiddleware",  # before anything that reads a body
    "editfactory.middleware.ApiJsonErrorsMiddleware",
    "editfactory.middleware.ApiHeadMiddleware",
    "editfactory.legacy.DeprecationMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "editfactory.middleware.OneHopMiddleware",  # keep last: see its docstring
]

ROOT_URLCONF = "editfactory.urls"
ASGI_APPLICATION = "editfactory.asgi.application"
WSGI_APPLICATION = "editfactory.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and several worker processes share one SQLite file: WAL lets readers run
    # beside the writer, IMMEDIATE takes the write lock up front (no deadlocking upgrades) and
    # the busy timeout makes writers wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env.int("EF_SQLITE_BUSY_TIMEOUT", default=30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Reuse connections across requests (the web server's ORM thread keeps one open).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("EF_CONN_MAX_AGE", default=600)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("EF_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind pgbouncer in transaction mode (one server connection per transaction, not per
    # client), a server-side cursor could be split across connections: Django then needs them off.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("EF_DB_POOLER", default=False)
    # The statements every job and every poll runs (core.plainsql.statement_cursor) are prepared
    # from their 5th run on a connection: parsed and planned once. A transaction pooler hands a
    # client another server connection, which lacks them: off behind one.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "prepare_threshold", None if env.bool("EF_DB_POOLER", default=False) else 5
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / RQ ---------------------------------------------------------------------------------
# Unset REDIS_URL means "embedded": `manage.py up` (and the test suite) start a private Redis
# on a unix socket under the data dir; every process finds it at this address.
EMBEDDED_REDIS = not env.str("REDIS_URL", default="")
EMBEDDED_REDIS_DIR = DATA_DIR / "redis"


def _embedded_redis_socket() -> Path:
    path = EMBEDDED_REDIS_DIR / "redis.sock"
    if len(str(path)) < 100:  # unix socket paths are limited to ~107 bytes
        return path
    digest = hashlib.sha256(str(DATA_DIR).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"editfactory-redis-{digest}.sock"


EMBEDDED_REDIS_SOCKET = _embedded_redis_socket()
REDIS_URL = env.str("REDIS_URL", default="") or f"unix://{EMBEDDED_REDIS_SOCKET}"
RQ_QUEUE = "default"  # the engine's own RQ queue (webhook deliveries)
# One RQ queue per queue family (jobs.queues.QUEUES) carries its wake-up tokens; listed here for
# the queue dashboard (/admin/rq/).
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600} for name in (RQ_QUEUE, "renders", "light")
}
RQ_SHOW_ADMIN_LINK = True

# --- Job engine timings (seconds unless stated) -------------------------------------------------
JOB_HEARTBEAT_INTERVAL = env.float("EF_HEARTBEAT_INTERVAL", default=5.0)
JOB_HEARTBEAT_TIMEOUT = env.float("EF_HEARTBEAT_TIMEOUT", default=30.0)
JOB_CANCEL_POLL_INTERVAL = env.float("EF_CANCEL_POLL_INTERVAL", default=0.5)
JOB_PROGRESS_MIN_INTERVAL = env.float("EF_PROGRESS_MIN_INTERVAL", default=0.3)
JOB_RETRY_BACKOFF_BASE = env.float("EF_RETRY_BACKOFF_BASE", default=5.0)
JOB_RETRY_BACKOFF_MAX = env.float("EF_RETRY_BACKOFF_MAX", default=600.0)
JOB_RETENTION_DAYS = env.float("EF_JOB_RETENTION_DAYS", default=14.0)
# Jobs brought in by import_jobs are history: retention keeps them unless this is set.
EXPIRE_IMPORTED_JOBS = env.bool("EF_EXPIRE_IMPORTED_JOBS", default=False)
JOB_RECONCILE_GRACE = env.float("EF_RECONCILE_GRACE", default=10.0)
MAINTENANCE_INTERVAL = env.float("EF_MAINTENANCE_INTERVAL", default=5.0)
# One maintenance loop runs at a time across all hosts: it holds a lease in the database for this
# many seconds and renews it before each pass; another host's loop takes over this long after
# the holder stopped (crashed) renewing it. At least twice the interval.
MAINTENANCE_LEASE_SECONDS = env.float("EF_MAINTENANCE_LEASE_SECONDS", default=30.0)
# The role `manage.py up --role` gave the processes it started (all, web or worker): /health and
# the maintenance lease's holder name say it. Set by `up`, not by hand.
ROLE = env.str("EF_ROLE", default="")
# A queue's figures behind the places of its queued jobs are shared this long by the polls of
# one process (jobs.services.positions.queue_snapshot); 0 counts them for every poll.
QUEUE_SNAPSHOT_TTL = env.float("EF_QUEUE_SNAPSHOT_TTL", default=1.0)
# A worker beats in RQ's worker registry this often, idle (its wait for a job is this long) or
# busy; one that finds its registration gone (Redis flushed or restarted) writes it again at its
# next beat, and /health counts a worker live for three beats. Whole seconds (Redis timeouts).
WORKER_HEARTBEAT_INTERVAL = max(1, env.int("EF_WORKER_HEARTBEAT_INTERVAL", default=5))
SSE_POLL_INTERVAL = env.float("EF_SSE_POLL_INTERVAL", default=0.5)
SSE_KEEPALIVE_INTERVAL = 15.0
DB_WRITE_RETRY_SECONDS = env.float("EF_DB_WRITE_RETRY_SECONDS", default=60.0)

# Paid-API pricing: "<service>.<unit_name>" -> USD per unit (CostEntry rows use it).
COST_RATES = {
    "elevenlabs.characters": env.float("EF_COST_ELEVENLABS_PER_CHAR", default=0.00022),
    "edge.characters": 0,  # free: recorded for the volume (characters, audio seconds)
    "offline.characters": 0,
    "gemini.frames": env.float("EF_COST_GEMINI_PER_FRAME", default=0.02),
    "gemini.requests": env.float("EF_COST_GEMINI_PER_REQUEST", default=0.01),
}

# --- Limits, budgets and webhooks ---------------------------------------------------------------
# Job creations per user: "<count>/<second|minute|hour|day>" (e.g. "30/minute"); "0" or "" = off.
RATE_LIMIT_JOBS = env.str("EF_RATE_LIMIT_JOBS", default="30/minute")
# Default monthly spend limit (USD) on paid APIs for users without a UsageBudget row; a hard limit.
# Empty: unlimited.
MONTHLY_BUDGET_USD = env.str("EF_MONTHLY_BUDGET_USD", default="")
# A Bearer token for GET /metrics (a Prometheus scraper), besides staff users' API tokens and
# staff sessions. Empty: only those.
METRICS_TOKEN = env.str("EF_METRICS_TOKEN", default="")


def _local_webhook_secret() -> str:
    """Like the secret key: generated once into the data dir for a single-host install."""
    key_file = DATA_DIR / "webhook_secret"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


# Key of the webhooks' HMAC-SHA256 signatures. Set it when workers run on several hosts.
WEBHOOK_SECRET = env.str("EF_WEBHOOK_SECRET", default="") or _local_webhook_secret()
# Callback hosts allowed although they resolve to a private/loopback address (e.g. "127.0.0.1").
WEBHOOK_ALLOWED_HOSTS = [h.lower() for h in env.list("EF_WEBHOOK_ALLOWED_HOSTS", default=[])]
WEBHOOK_MAX_ATTEMPTS = env.int("EF_WEBHOOK_MAX_ATTEMPTS", default=5)
WEBHOOK_TIMEOUT = env.float("EF_WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_BACKOFF_BASE = env.float("EF_WEBHOOK_BACKOFF_BASE", default=10.0)
# job.progress webhooks (jobs created with webhook_progress): at most one per this many seconds.
WEBHOOK_PROGRESS_INTERVAL = env.float("EF_WEBHOOK_PROGRESS_INTERVAL", default=10.0)

# --- Supabase Auth (the web frontend's logins) -------------------------------------------------
# Access tokens of a Supabase project are accepted besides API tokens once its JWT secret
# (HS256) and/or its URL (public keys from its JWKS: ES256/RS256) is set; see core.supabase_auth.
SUPABASE_JWT_SECRET = env.str("EF_SUPABASE_JWT_SECRET", default="")
SUPABASE_URL = env.str("EF_SUPABASE_URL", default="").rstrip("/")
SUPABASE_JWT_AUDIENCE = env.str("EF_SUPABASE_JWT_AUDIENCE", default="authenticated")
SUPABASE_JWT_LEEWAY = env.float("EF_SUPABASE_JWT_LEEWAY", default=10.0)  # clock skew, seconds
SUPABASE_JWKS_CACHE_SECONDS = env.float("EF_SUPABASE_JWKS_CACHE_SECONDS", default=600.0)

# --- Third-party media services (empty key: the provider is disabled) --------------------------
ELEVENLABS_API_KEY = env.str("ELEVENLABS_API_KEY", default="")
ELEVENLABS_MODEL = env.str("ELEVENLABS_MODEL", default="eleven_multilingual_v2")
ELEVENLABS_BASE_URL = env.str("ELEVENLABS_BASE_URL", default="https://api.elevenlabs.io")
GEMINI_API_KEY = env.str("GEMINI_API_KEY", default="")
GEMINI_MODEL = env.str("GEMINI_MODEL", default="gemini-2.5-flash")
GEMINI_BASE_URL = env.str("GEMINI_BASE_URL", default="https://generativelanguage.googleapis.com")
# The longest a status check of a paid service (the frontend's usage page: ElevenLabs' quota,
# Gemini's key and model) waits for its answer, in seconds.
PROVIDER_CHECK_TIMEOUT = env.float("EF_PROVIDER_CHECK_TIMEOUT", default=5.0)
TTS_DEFAULT_PROVIDER = env.str("EF_TTS_DEFAULT_PROVIDER", default="edge")
# When the chosen TTS provider is unreachable: speak with the offline provider and say so in the
# result (True, the default: offline first), or fail the job naming the remedy (False).
TTS_OFFLINE_FALLBACK = env.bool("EF_TTS_OFFLINE_FALLBACK", default=True)
TTS_MAX_CHARS = 5000

# --- Media --------------------------------------------------------------------------------------
FFMPEG_BINARY = env.str("EF_FFMPEG", default="")  # empty: PATH, then imageio-ffmpeg's binary
UPLOAD_MAX_BYTES = env.int("EF_UPLOAD_MAX_BYTES", default=2 * 1024**3)
# Threads of one ffmpeg run (x264's, the filter graphs', each input's decoder's up to 2) and
# x264's rate-control lookahead: an encode's memory grows with both (media_pipeline.ops.encoder),
# so they are bounded whatever the core count. Raise the threads for faster renders on a larger
# machine: above 2, x264 runs sliced threads, whose memory does not grow with their number
# (frame threads cost ~20 MB each at 1080x1920). A lookahead of 5 frames instead of 10:
# 34 MB less at 1080x1920 for ~1% more bits at equal quality (docs/benchmarks.md, Memory).
ENCODER_THREADS = env.int("EF_ENCODER_THREADS", default=min(2, os.cpu_count() or 1))
ENCODER_LOOKAHEAD = env.int("EF_ENCODER_LOOKAHEAD", default=5)
if not 1 <= ENCODER_THREADS <= 64:
    raise ImproperlyConfigured("EF_ENCODER_THREADS must be between 1 and 64")
if not 0 <= ENCODER_LOOKAHEAD <= 250:
    raise ImproperlyConfigured("EF_ENCODER_LOOKAHEAD must be between 0 and 250 (frames)")
# Lifetime in seconds of the signed media links the API hands out (core.media_urls).
MEDIA_URL_TTL = env.int("EF_MEDIA_URL_TTL", default=24 * 3600)
# How long the frontend API's synchronous answers (video info, analyze, remove-audio) wait for
# their job before answering 504 with the job to poll.
FRONTEND_SYNC_WAIT = env.float("EF_FRONTEND_SYNC_WAIT", default=60.0)
FILE_UPLOAD_TEMP_DIR = str(JOB_TEMP_DIR / "uploads")
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# EF_STORAGE: local files under MEDIA_ROOT (the default) or an S3-compatible object store.
STORAGE_KIND = storage_kind(env)
STORAGES = {
    "default": default_storage_from_env(env),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# ServeStatic (an async-capable WhiteNoise) serves the admin's static files from the ASGI server; locally straight from the
# apps (no collectstatic needed), in production from STATIC_ROOT after `collectstatic`.
SERVESTATIC_USE_FINDERS = not PRODUCTION
SERVESTATIC_AUTOREFRESH = DEBUG

# --- First admin user (created by `manage.py up` when no user exists) ---------------------------
ADMIN_USERNAME = env.str("EF_ADMIN_USERNAME", default="admin")
ADMIN_PASSWORD = env.str("EF_ADMIN_PASSWORD", default="")
ADMIN_EMAIL = env.str("EF_ADMIN_EMAIL", default="admin@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("EF_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
