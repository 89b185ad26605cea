"""One JSON error shape for the whole API: {"error": {"code", "message", "details"}, "detail"}.

`detail` repeats the message as a plain string: the web frontend shows `detail` (FastAPI's key).

This is the one place where errors become HTTP: a `DomainError`'s code picks the status
(`STATUS_BY_CODE`); Django, ninja, database and Redis errors have their own handlers below.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DatabaseError, DataError
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from redis.exceptions import RedisError

from core.errors import DomainError, StorageUnavailable, storage_error

logger = logging.getLogger(__name__)

# DomainError.code -> HTTP status. A code missing here is a bug (answered 500 and logged).
STATUS_BY_CODE = {
    "validation_error": 422,
    "invalid_params": 422,
    "invalid_callback_url": 422,
    "unknown_job_type": 422,
    "invalid_media": 422,
    "invalid_srt": 422,
    "invalid_media_link": 422,
    "not_found": 404,
    "conflict": 409,
    "idempotency_conflict": 409,
    "budget_exceeded": 402,
    "rate_limited": 429,
    "payload_too_large": 413,
    "unsupported_media": 415,
    "storage_unavailable": 507,
    "provider_error": 502,
    "provider_unavailable": 503,
    "provider_not_configured": 503,
    "job_still_running": 504,
    "job_failed": 500,
    "not_implemented": 501,
    "auth_unavailable": 503,
}

UNAUTHENTICATED_MESSAGE = "Authentication required: send 'Authorization: Bearer <token>' or log in."
# Every 401 names the scheme to use (RFC 9110 §11.6.1); a credential that was sent and refused
# adds RFC 6750's error="invalid_token".
WWW_AUTHENTICATE = 'Bearer realm="Edit Factory API"'
# A request the session cookie authenticates, without a valid CSRF token (core.auth).
CSRF_FAILED = (
    "CSRF check failed: a request authenticated by the session cookie must come from a trusted "
    "origin and send the csrftoken cookie's value in the X-CSRFToken header (or send an "
    "'Authorization: Bearer <token>' header instead of the cookie)."
)


class ApiError(DomainError):
    """Raise from an endpoint to answer with a specific status, code and message."""

    def __init__(self, status: int, code: str, message: str, details=None, headers=None):
        super().__init__(message, details, headers=headers)
        self.status, self.code = status, code


class CredentialRejected(AuthenticationError):
    """A 401 that says in words what is wrong with the credential sent (expired, wrong audience,
    bad signature...), so a client knows whether to refresh, sign in again or fix its setup.
    The message must never contain a secret."""

    def __init__(self, message: str):
        super().__init__(message=message)


def error_body(code: str, message: str, details=None) -> dict:
    """The one error shape; `detail` repeats the message for clients that show only it."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else [],
        },
        "detail": message,
    }


def www_authenticate(*, credential_sent: bool) -> str:
    return WWW_AUTHENTICATE + (', error="invalid_token"' if credential_sent else "")


def unauthenticated(exc: AuthenticationError, *, credential_sent: bool) -> tuple[int, dict, dict]:
    """(status, body, headers) of a 401: a refused credential says what is wrong with it."""
    message = str(exc) if isinstance(exc, CredentialRejected) else UNAUTHENTICATED_MESSAGE
    headers = {"WWW-Authenticate": www_authenticate(credential_sent=credential_sent)}
    return 401, error_body("unauthenticated", message), headers


def refusal(exc: Exception, *, credential_sent: bool) -> tuple[int, dict, dict]:
    """(status, body, headers) for an error met while checking a request before the API runs
    (editfactory.bodyguard): a refused or missing credential, a domain error (Supabase's keys
    unavailable), the database down. Anything else is a bug and is raised again."""
    if isinstance(exc, AuthenticationError):
        return unauthenticated(exc, credential_sent=credential_sent)
    if isinstance(exc, DomainError) and exc.code in STATUS_BY_CODE:
        body = error_body(exc.code, exc.message, exc.details)
        return STATUS_BY_CODE[exc.code], body, dict(exc.headers)
    if isinstance(exc, DatabaseError):
        logger.error("database_unavailable: %s", exc)
        return 503, error_body("database_unavailable", _DB_DOWN), {"Retry-After": "5"}
    raise exc


def error_response(api, request, status: int, code: str, message: str, details=None, headers=None):
    response = api.create_response(request, error_body(code, message, details), status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _validation_details(errors) -> list[dict]:
    details = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        details.append(
            {"loc": loc, "field": ".".join(loc[1:]) or ".".join(loc), "msg": err.get("msg", "")}
        )
    return details


def validation_message(errors) -> str:
    """What is wrong, in words, from ninja's first error: "'text': Field required", with the
    count of the others (all are in the details). The field is named as the client sent it:
    ninja's loc is (source, [body parameter,] field...), and the body parameter's name (a
    single JSON body is read into one) is ours, not the client's."""
    if not errors:
        return "The request is invalid."
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ())]
    path = loc[2:] if loc[:1] == ["body"] and len(loc) > 2 else loc[1:]
    where = f"'{'.'.join(path)}'" if path else (f"the {loc[0]}" if loc else "the request")
    message = f"{where}: {first.get('msg') or 'invalid'}"
    if len(errors) > 1:
        others = len(errors) - 1
        message += f" (and {others} more problem{'s' if others > 1 else ''}: see details)"
    return message


def install(api) -> None:
    def handler(exc_class, fn):
        api.add_exception_handler(exc_class, lambda request, exc: fn(request, exc))

    handler(DomainError, _domain_error(api))
    handler(
        ValidationError,
        lambda r, e: error_response(
            api,
            r,
            422,
            "validation_error",
            validation_message(e.errors),
            _validation_details(e.errors),
        ),
    )
    handler(AuthenticationError, lambda r, e: _unauthenticated(api, r, e))
    handler(
        AuthorizationError,
        lambda r, e: error_response(api, r, 403, "forbidden", str(e) or "Forbidden."),
    )
    handler(Http404, lambda r, e: error_response(api, r, 404, "not_found", str(e) or "Not found."))
    handler(
        HttpError,
        lambda r, e: error_response(api, r, e.status_code, code_for(e.status_code), str(e)),
    )
    # A value the database cannot hold (an id past 64 bits, say) is the client's error, not an
    # outage: SQLite raises OverflowError, PostgreSQL a DataError.
    for exc_class in (OverflowError, DataError):
        handler(exc_class, lambda r, e: _unstorable(api, r, e))
    # Requests past Django's limits (DATA_UPLOAD_MAX_MEMORY_SIZE, ..._NUMBER_FIELDS/FILES) and
    # JSON nested too deeply for the parser: the client's error, said in words.
    handler(RequestDataTooBig, lambda r, e: _too_large(api, r, _BODY_TOO_BIG))
    handler(TooManyFieldsSent, lambda r, e: _too_large(api, r, _TOO_MANY_FIELDS))
    handler(TooManyFilesSent, lambda r, e: _too_large(api, r, _TOO_MANY_FILES))
    handler(
        MultiPartParserError,
        lambda r, e: error_response(
            api, r, 400, "bad_request", f"The multipart body cannot be read: {e}"
        ),
    )
    handler(
        RecursionError,
        lambda r, e: error_response(
            api, r, 422, "validation_error", "The request is nested too deeply to be read."
        ),
    )
    handler(
        DatabaseError,
        _unavailable(api, "database_unavailable", _DB_DOWN),
    )
    handler(
        RedisError,
        _unavailable(api, "queue_unavailable", "The job queue is unavailable; try again shortly."),
    )
    handler(OSError, _storage_or_internal(api))
    handler(Exception, _internal(api))


_DB_DOWN = "The database is unavailable; try again shortly."


def _unauthenticated(api, request, exc):
    credential_sent = "HTTP_AUTHORIZATION" in request.META
    status, body, headers = unauthenticated(exc, credential_sent=credential_sent)
    response = api.create_response(request, body, status=status)
    for key, value in headers.items():
        response[key] = value
    return response


_BODY_TOO_BIG = (
    "The request body is larger than {DATA_UPLOAD_MAX_MEMORY_SIZE} bytes, the most a request "
    "that is not a file upload may carry."
)
_TOO_MANY_FIELDS = "The request has more than {DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
_TOO_MANY_FILES = "The request has more than {DATA_UPLOAD_MAX_NUMBER_FILES} files."


def _limits_message(template: str) -> str:
    limits = {
        name: getattr(settings, name)
        for name in (
            "DATA_UPLOAD_MAX_MEMORY_SIZE",
            "DATA_UPLOAD_MAX_NUMBER_FIELDS",
            "DATA_UPLOAD_MAX_NUMBER_FILES",
        )
    }
    return template.format(**limits)


def body_too_big_message() -> str:
    """Past DATA_UPLOAD_MAX_MEMORY_SIZE (Django's limit, and the body guard's for non-uploads)."""
    return _limits_message(_BODY_TOO_BIG)


def _too_large(api, request, template: str):
    return error_response(api, request, 413, "payload_too_large", _limits_message(template))


def _unstorable(api, request, exc):
    """A value the database refused: a NUL character in text (PostgreSQL refuses it), else a
    number out of range."""
    if "\\x00" in str(exc) or "NUL" in str(exc):
        message = "Text in the request contains a NUL character (\\u0000), which cannot be stored."
    else:
        message = "A number in the request is out of range."
    return error_response(api, request, 422, "validation_error", message)


def _domain_error(api):
    internal = _internal(api)

    def respond(request, exc: DomainError):
        if isinstance(exc, StorageUnavailable):
            return _storage_unavailable(api, request, exc)
        status = getattr(exc, "status", None) or STATUS_BY_CODE.get(exc.code)
        if status is None:
            return internal(request, exc)
        return error_response(api, request, status, exc.code, exc.message, exc.details, exc.headers)

    return respond


def _unavailable(api, code: str, message: str):
    def respond(request, exc):
        logger.error("%s: %s", code, exc)
        return error_response(api, request, 503, code, message, headers={"Retry-After": "5"})

    return respond


def _storage_or_internal(api):
    """A write refused by a full or read-only disk while a request stores an upload (a library
    file, Django's temporary upload file) is a 507 saying so; any other OSError is a bug."""
    internal = _internal(api)

    def respond(request, exc):
        readable = storage_error(exc, storage="media storage", doing="writing the uploaded file")
        if readable is None:
            return internal(request, exc)
        logger.error("storage_unavailable: %s", exc)
        return _storage_unavailable(api, request, readable)

    return respond


def _storage_unavailable(api, request, exc: StorageUnavailable):
    return error_response(
        api, request, 507, exc.code, f"{exc}. The upload was not stored; try again later."
    )


def _internal(api):
    def respond(request, exc):
        logger.exception("unhandled API error on %s %s", request.method, request.path, exc_info=exc)
        return error_response(api, request, 500, "internal_error", "Internal server error.")

    return respond


_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    402: "budget_exceeded",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    507: "storage_unavailable",
    503: "unavailable",
}


def code_for(status: int) -> str:
    return _CODES.get(status, "error")
