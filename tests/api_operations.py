"""Every state-changing operation of /api/v1 and /api/frontend/v1, from their OpenAPI documents
(the v1 document lists the prototype's aliases too), as (method, url) with path parameters
filled in: an operation added later is covered without touching the tests."""

import uuid

from editfactory.api import api as v1_api
from media_pipeline.frontend.api import PREFIX as FRONTEND
from media_pipeline.frontend.api import frontend_api

STATE_CHANGING = ("post", "put", "patch", "delete")
APIS = ((v1_api, "/api/v1/"), (frontend_api, FRONTEND + "/"))


def _value(parameter: dict) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.UUID(int=1))
    return "1" if schema.get("type") == "integer" else "x1"


def state_changing_operations() -> list[tuple[str, str]]:
    found = []
    for api, prefix in APIS:
        schema = api.get_openapi_schema(path_prefix=prefix)
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if method not in STATE_CHANGING:
                    continue
                url = path
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path":
                        url = url.replace("{" + parameter["name"] + "}", _value(parameter))
                found.append((method.upper(), url))
    return sorted(found)
