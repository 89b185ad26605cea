"""Queue families and priorities: the names and bounds every layer agrees on.

Each job type declares the family it runs in (`jobs.registry.register(..., queue=RENDERS)`):
`renders` holds the ffmpeg-heavy work (renders, clip variants, project generation), `light`
everything short (probes, TTS, analysis). Each family has its own RQ queue and its own workers
(`manage.py up --workers renders=1,light=2`), so a backlog of renders never delays a probe.
Which job of a family runs next is decided by the database at claim time
(`jobs.services.claims`): priority first, then a fair turn across users.
"""

from core.errors import Invalid

RENDERS = "renders"
LIGHT = "light"
# Every family, in the order workers that serve several of them listen to their queues.
QUEUES = (RENDERS, LIGHT)
DEFAULT_QUEUE = LIGHT

# Higher runs first; 0 is the default. Bounded so that "first" keeps a meaning.
PRIORITY_MIN = -10
PRIORITY_MAX = 10
PRIORITY_HELP = (
    f"an integer from {PRIORITY_MIN} to {PRIORITY_MAX}; higher runs first within its queue "
    "(default 0)"
)


def validate_queue(name: str) -> str:
    if name not in QUEUES:
        raise Invalid.field("queue", f"unknown queue '{name}' (known: {', '.join(QUEUES)})")
    return name


def validate_priority(value, *, field: str = "priority") -> int:
    """An int within the bounds, or Invalid (422) saying which bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid.field(field, f"'{field}' must be an integer, got {value!r}")
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise Invalid.field(
            field, f"'{field}' must be from {PRIORITY_MIN} to {PRIORITY_MAX}, got {value}"
        )
    return value


def worker_plan(spec: str) -> list[tuple[tuple[str, ...], int]]:
    """Which queues the workers serve, from `--workers` / EF_QUEUE_WORKERS:
    'renders=1,light=2' -> [(('renders',), 1), (('light',), 2)]; a plain 'N' -> the default
    split: one worker serving every queue when N is 1, otherwise half the workers (rounded
    down) on renders and the rest on light jobs. Raises ValueError with a readable message."""
    spec = (spec or "").strip()
    if spec.isdigit():
        workers = int(spec)
        if workers < 1:
            raise ValueError("at least one worker is needed")
        if workers == 1:
            return [(QUEUES, 1)]
        return [((RENDERS,), workers // 2), ((LIGHT,), workers - workers // 2)]
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, number = (x.strip() for x in part.partition("="))
        if not sep or not number.isdigit():
            raise ValueError(f"'{part}' is not QUEUE=COUNT (e.g. renders=1,light=2)")
        if name not in QUEUES:
            raise ValueError(f"unknown queue '{name}' (known: {', '.join(QUEUES)})")
        if name in counts:
            raise ValueError(f"queue '{name}' is given twice")
        counts[name] = int(number)
    if sum(counts.values()) == 0:
        raise ValueError("at least one worker is needed (e.g. 2, or renders=1,light=2)")
    return [((name,), count) for name, count in counts.items()]
