"""Job types: job_type -> handler, params schema, default max_attempts and timeout.

Apps register their types in `AppConfig.ready()`; the engine refuses any type not registered.
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pydantic

from jobs.errors import InvalidJobParams, UnknownJobType


class EmptyParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


@dataclass(frozen=True)
class JobType:
    name: str
    handler: Callable[..., dict | None]
    params_schema: type[pydantic.BaseModel] = EmptyParams
    max_attempts: int = 3
    timeout: int = 3600
    label: str = ""
    # params -> estimated USD spent on paid APIs (budgets refuse jobs that would pass a hard
    # limit); None: the type costs nothing.
    estimate_cost: Callable[[pydantic.BaseModel], Decimal | float] | None = None
    # (job, jobs.status.JobChange) -> None: called inside the transaction of every status change
    # of a job of this type (and of its deletion), so rows that follow the job (a project, an
    # export) change with it or not at all. An exception undoes the change.
    on_change: Callable[[Any, str], None] | None = None

    def estimated_cost(self, params: pydantic.BaseModel) -> Decimal:
        if self.estimate_cost is None:
            return Decimal(0)
        return Decimal(str(self.estimate_cost(params) or 0))

    def parse_params(self, params: dict | None) -> pydantic.BaseModel:
        """Validate params; raise InvalidJobParams with field paths on failure."""
        try:
            return self.params_schema.model_validate(params or {})
        except pydantic.ValidationError as exc:
            details = [
                {"loc": ["params", *map(str, err["loc"])], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
            raise InvalidJobParams(f"invalid params for job type '{self.name}'", details) from None


_REGISTRY: dict[str, JobType] = {}


def register(name: str, **options: Any) -> Callable:
    """Decorator: `@register("probe", params_schema=ProbeParams, timeout=120)`; options are the
    JobType fields (max_attempts, timeout, label, estimate_cost, on_change)."""

    def decorator(handler: Callable) -> Callable:
        _REGISTRY[name] = JobType(name=name, handler=handler, **options)
        return handler

    return decorator


def get_job_type(name: str) -> JobType:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownJobType(f"unknown job type '{name}' (known: {known})") from None


def job_type_names() -> list[str]:
    return sorted(_REGISTRY)


def load_job_types(package: str) -> None:
    """Import every module of `package`: each registers its job types when imported (apps call
    this from `AppConfig.ready()`)."""
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module.name}")
