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
from jobs.queues import DEFAULT_QUEUE, QUEUES


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
    # The queue family it runs in (jobs.queues): `renders` for ffmpeg-heavy work, else `light`.
    queue: str = DEFAULT_QUEUE

    def __post_init__(self):
        if self.queue not in QUEUES:
            raise ValueError(
                f"job type {self.name}: unknown queue {self.queue!r} (known: {QUEUES})"
            )

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
    JobType fields (max_attempts, timeout, label, estimate_cost, on_change, queue)."""

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


def job_types_of(queue: str) -> list[str]:
    """The names of the job types that run in `queue`."""
    return sorted(name for name, jt in _REGISTRY.items() if jt.queue == queue)


def queue_of(job_type: str) -> str | None:
    """The queue a job type runs in; None for a type no longer installed."""
    jt = _REGISTRY.get(job_type)
    return jt.queue if jt else None


def queue_timeout(queue: str) -> int:
    """The longest timeout of the queue's types (a wake-up token may start any of them)."""
    return max((jt.timeout for jt in _REGISTRY.values() if jt.queue == queue), default=3600)


def load_job_types(package: str) -> None:
    """Import every module of `package`: each registers its job types when imported (apps call
    this from `AppConfig.ready()`)."""
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module.name}")
