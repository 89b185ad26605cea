"""No silent drops: a request field an operation does not declare is a 422 that names it.

`forbid_unknown_fields(api)` is applied once where a NinjaAPI is assembled. Every operation the
API ever gets (routes added later included: the check is attached when ninja binds its routers)
learns from its own parameter models what it accepts, and refuses the rest, after
authentication and before its parameters are parsed:

- query parameters (`?name=`), form fields and uploaded files (multipart or url-encoded), and
  the top-level keys of a JSON object body. A field sent several times is one field (a repeated
  multipart field is a list). Path parameters are the route itself; headers and cookies are not
  fields. Keys nested inside a JSON body are their schema's business (`extra="forbid"`).
- The `Idempotency-Key` header is a promise only the operations marked `@idempotent_route`
  keep (those that start one job): sent to any other, it is a 422 rather than ignored.
- Media routes (those that accept a signed URL, `core.media_urls.SignedUrlAuth`, or are marked
  with `@media_route`) also take `download` (`true`: served as an attachment, by
  core.downloads) and ignore `v`, the cache-buster browsers' pages add. A query parameter an
  authentication reads (the signature `sig`) is declared by that authentication.

The answer is a `422 validation_error` saying, in words, "Unknown field 'foo' (this endpoint
takes: a, b, c)", with one detail per unknown field (`loc`, `field`, `msg`) in the same path
convention as ninja's own validation errors.

No NUL characters either: text holding one (U+0000) is refused here, before anything stores it,
as a `422` naming the field ("'name': contains a NUL character"), in path parameters, query
parameters, form fields (JSON text inside a form field, `params`, included) and any string or
key of a JSON body, at any depth (Django drops unprintable characters from file names). PostgreSQL cannot store it in text, SQLite can:
checking here makes both databases answer alike.
"""

import json
import types
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

import pydantic
from ninja import Schema
from ninja.operation import Operation
from ninja.security import APIKeyQuery

from core.errors import Invalid
from core.media_urls import SignedUrlAuth

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MEDIA_PARAMS = ("download",)  # honoured by core.downloads.stream_stored_file
IGNORED_MEDIA_PARAMS = ("v",)  # a page's cache-buster (`?v=<clip id>`): meaningless here
_MARK = "_ef_media_route"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENT_MARK = "_ef_idempotent_route"


def media_route(view_func):
    """Mark a view as serving a file that browsers load by URL (see the module doc)."""
    setattr(view_func, _MARK, True)
    return view_func


def idempotent_route(view_func):
    """Mark a view that honours the Idempotency-Key header; any other refuses it (422): a client
    that believes a repeat is safe must not get a second job silently."""
    setattr(view_func, _IDEMPOTENT_MARK, True)
    return view_func


class InputSchema(Schema):
    """A JSON body's schema: an unknown key, at any depth, is a 422 naming it (pydantic's
    `extra="forbid"`; the OpenAPI document says `additionalProperties: false`)."""

    model_config = pydantic.ConfigDict(extra="forbid")


class UnknownFields(Invalid):
    """A request carried fields the endpoint does not take."""


class NulCharacter(Invalid):
    """Text in the request holds a NUL character."""


NUL = "\x00"
NUL_MESSAGE = "contains a NUL character (\\u0000), which text cannot hold"


@dataclass(frozen=True)
class Accepted:
    """What one operation takes, by where it comes from."""

    query: frozenset[str]
    form: frozenset[str]  # url-encoded or multipart fields, JSON-encoded body parts included
    files: frozenset[str]
    json_body: bool  # the operation reads a JSON body
    json_keys: frozenset[str] | None  # its top-level keys; None: not checkable (a dict, a list)
    body_attr: str | None  # the parameter a single JSON body is read into (ninja's loc)
    names: tuple[str, ...]  # everything it takes, in declaration order, for the message
    idempotent: bool = False  # it honours the Idempotency-Key header

    def takes(self) -> str:
        if not self.names:
            return "this endpoint takes no fields"
        return f"this endpoint takes: {', '.join(self.names)}"


def forbid_unknown_fields(api) -> None:
    """Refuse undeclared fields on every operation of `api` (call before `api.urls`)."""
    api.add_decorator(_install, mode="view")


def _install(run):
    """A "view" decorator, applied by ninja to each operation it binds to the API: the bound
    `run` tells which operation. The check goes in front of the operation's parameter parsing
    (`_get_values`): after authentication and throttling (a stranger gets a 401, not our field
    list), inside ninja's error handling (the API's handlers answer), before the view."""
    operation = getattr(run, "__self__", None)
    if not isinstance(operation, Operation):
        raise TypeError("forbid_unknown_fields must be the API's first view decorator")
    accepted = accepted_fields(operation)
    get_values = operation._get_values

    def checked_get_values(request, path_params, temporal_response):
        check_request(request, accepted, path_params)
        return get_values(request, path_params, temporal_response)

    operation._get_values = checked_get_values
    operation.accepted_fields = accepted  # for tests and the curious
    return run


def _model_of(annotation: Any):
    """The pydantic model in `annotation` (`Model`, `Model | None`), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        models = [a for a in get_args(annotation) if a is not type(None)]
        return _model_of(models[0]) if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return None


def _field_names(model) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names.append(alias or field.alias or name)
        if model.model_config.get("populate_by_name") and name not in names:
            names.append(name)
    return names


def _json_keys(body_model) -> tuple[frozenset[str] | None, str | None]:
    """Top-level keys of the JSON body `body_model` (ninja's BodyModel) reads."""
    attr = getattr(body_model, "__read_from_single_attr__", None)
    if not attr:  # several body parameters: one top-level key each
        return frozenset(_field_names(body_model)), None
    model = _model_of(body_model.model_fields[attr].annotation)
    if model is None or model.model_config.get("extra") == "allow":
        return None, attr
    return frozenset(_field_names(model)), attr


def _auth_params(operation: Operation) -> list[str]:
    return [c.param_name for c in operation.auth_callbacks if isinstance(c, APIKeyQuery)]


def is_media_route(operation: Operation) -> bool:
    return getattr(operation.view_func, _MARK, False) or any(
        isinstance(c, SignedUrlAuth) for c in operation.auth_callbacks
    )


def accepted_fields(operation: Operation) -> Accepted:
    query: list[str] = []
    form: list[str] = []
    files: list[str] = []
    json_body, json_keys, body_attr = False, frozenset(), None
    for model in operation.models:
        source = model.__ninja_param_source__
        if source == "query":
            query += list(model.__ninja_flatten_map__)
        elif source == "form":
            form += list(model.__ninja_flatten_map__)
        elif source == "file":
            files += _field_names(model)
        elif source == "body" and hasattr(model, "__ninja_body_params__"):
            form += list(model.__ninja_body_params__)  # JSON-encoded parts of a multipart body
        elif source == "body":
            json_body = True
            json_keys, body_attr = _json_keys(model)
    query += _auth_params(operation)
    if is_media_route(operation):
        query += [p for p in MEDIA_PARAMS if p not in query]
    names = [*query, *form, *files, *sorted(json_keys or ())]
    return Accepted(
        query=frozenset([*query, *(IGNORED_MEDIA_PARAMS if is_media_route(operation) else ())]),
        form=frozenset(form),
        files=frozenset(files),
        json_body=json_body,
        json_keys=json_keys,
        body_attr=body_attr,
        names=tuple(dict.fromkeys(names)),
        idempotent=getattr(operation.view_func, _IDEMPOTENT_MARK, False),
    )


_NOT_JSON = object()


def _json_value(request):
    """The request's body decoded as JSON, or _NOT_JSON (empty, or not JSON: the operation's
    own parsing says so, if it reads a body)."""
    body = request.body  # past DATA_UPLOAD_MAX_MEMORY_SIZE: the API's 413 says the limit
    if not body:
        return _NOT_JSON
    try:
        return json.loads(body)
    except ValueError:
        return _NOT_JSON


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _reads_json(request, accepted: Accepted) -> bool:
    content_type = request.content_type or ""
    return content_type not in FORM_TYPES and (accepted.json_body or _is_json(content_type))


def unknown_fields(
    request, accepted: Accepted, data=_NOT_JSON
) -> list[tuple[tuple[str, ...], str]]:
    """(ninja-style loc, name) of each field of `request` that `accepted` does not cover;
    `data` is the decoded JSON body, when the operation reads one."""
    unknown = [(("query", k), k) for k in request.GET if k not in accepted.query]
    if (request.content_type or "") in FORM_TYPES:
        if not accepted.json_body:  # else ninja refuses the encoding itself
            unknown += [(("form", k), k) for k in request.POST if k not in accepted.form]
            unknown += [(("file", k), k) for k in request.FILES if k not in accepted.files]
    elif isinstance(data, dict) and accepted.json_keys is not None:
        prefix = ("body", accepted.body_attr) if accepted.body_attr else ("body",)
        unknown += [((*prefix, k), k) for k in data if k not in accepted.json_keys]
    return unknown


def _nul_paths(value, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Paths of the strings (and keys) holding a NUL inside a decoded JSON value."""
    if isinstance(value, str):
        return [path] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += [(*path, key)] if NUL in key else _nul_paths(item, (*path, key))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _nul_paths(item, (*path, str(i)))]
    return []


def _form_value_paths(name: str, value: str) -> list[tuple[str, ...]]:
    if NUL in name or NUL in value:
        return [(name,)]
    if "\\u0000" in value:  # JSON text in a form field (`params`): NUL once decoded
        try:
            return _nul_paths(json.loads(value), (name,))
        except ValueError:
            return []  # not JSON: the field's own parsing says so
    return []


def _shown(path: tuple[str, ...]) -> str:
    """A field's path as the message names it (a NUL in a name shown as \\u0000)."""
    return ".".join(path).replace(NUL, "\\u0000")


def nul_fields(request, path_params, data=_NOT_JSON) -> list[tuple[tuple[str, ...], str]]:
    """(ninja-style loc, field path as the client names it) of each text holding a NUL."""
    found = [(("path", k),) for k, v in (path_params or {}).items() if NUL in str(v)]
    found += [
        (("query", k),)
        for k, values in request.GET.lists()
        if NUL in k or any(NUL in v for v in values)
    ]
    if (request.content_type or "") in FORM_TYPES:
        for name, values in request.POST.lists():
            paths = [p for v in values for p in _form_value_paths(name, v)]
            found += [(("form", *p),) for p in dict.fromkeys(paths)]
    elif data is not _NOT_JSON:
        found += [(("body", *p),) for p in _nul_paths(data, ())]
    return [(loc, _shown(loc[1:])) for (loc,) in found]


def check_request(request, accepted: Accepted, path_params=None) -> None:
    if IDEMPOTENCY_HEADER in request.headers and not accepted.idempotent:
        raise Invalid(
            f"The {IDEMPOTENCY_HEADER} header is not supported by this endpoint: a repeat of "
            "the request would not be recognised. Send the request without it.",
            [
                {
                    "loc": ["header", IDEMPOTENCY_HEADER],
                    "field": IDEMPOTENCY_HEADER,
                    "msg": "not supported here",
                }
            ],
        )
    data = _json_value(request) if _reads_json(request, accepted) else _NOT_JSON
    nul = nul_fields(request, path_params, data)
    if nul:
        fields = list(dict.fromkeys(field for _, field in nul))
        others = f" (and {len(fields) - 1} more: see details)" if len(fields) > 1 else ""
        raise NulCharacter(
            f"'{fields[0]}': {NUL_MESSAGE}{others}",
            [{"loc": list(loc), "field": field, "msg": NUL_MESSAGE} for loc, field in nul],
        )
    unknown = unknown_fields(request, accepted, data)
    if not unknown:
        return
    names = list(dict.fromkeys(name for _, name in unknown))
    quoted = ", ".join(f"'{n}'" for n in names)
    word = "field" if len(names) == 1 else "fields"
    message = f"Unknown {word} {quoted} ({accepted.takes()})"
    if not accepted.json_body and (accepted.form or accepted.files):
        if any(loc[0] == "body" for loc, _ in unknown):  # the right names, the wrong encoding?
            message += "; send them as form fields (multipart/form-data), not as JSON"
    raise UnknownFields(
        message,
        [
            {"loc": list(loc), "field": ".".join(loc[1:]), "msg": "unknown field"}
            for loc, _ in unknown
        ],
    )
