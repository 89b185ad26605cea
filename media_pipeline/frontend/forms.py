"""Request checks the Library pages' routes share: the user's rows by frontend id, no unknown
multipart field goes unnoticed (ninja reads only the fields it declares), JSON bodies refuse
unknown keys."""

from ninja import Schema
from pydantic import ConfigDict

from core.errors import Invalid, NotFound
from media_pipeline.frontend.common import pk_of


class StrictBody(Schema):
    """A JSON body of the contract: a key it does not name is a 422 naming the key."""

    model_config = ConfigDict(extra="forbid")


def refuse_unknown_fields(request, *, fields: set[str] = frozenset(), files=frozenset()) -> None:
    """422 naming every multipart field or file the contract does not list for this call."""
    unknown = sorted((set(request.POST) - set(fields)) | (set(request.FILES) - set(files)))
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        raise Invalid(
            f"unknown field(s) {names}: this call takes "
            + ", ".join(f"'{name}'" for name in sorted({*fields, *files})),
            [{"field": name, "msg": "unknown field"} for name in unknown],
        )


def owned_row(queryset, user, text_id: str, *, what: str):
    """The user's row of that frontend id; another user's or an unknown one is a 404."""
    pk = pk_of(text_id, what=what)
    row = queryset.for_owner(user).filter(id=pk).first()
    if row is None:
        raise NotFound(f"{what} {text_id!r} not found")
    return row
