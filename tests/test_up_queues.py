"""`manage.py up --workers`: worker processes per queue family, and the default split."""

import re

import httpx
import pytest
import redis
from django.core.management import CommandError, call_command
from rq import Worker

from jobs.queues import worker_plan
from tests.conftest import descendants, wait_for
from tests.up_process import running_up


def _worker_queues(up) -> list[list[str]]:
    """The queues of every RQ worker `up` runs: its processes registered in its Redis (they are
    forks of `up`, so their command line is up's own)."""
    url = re.search(r"Embedded Redis running at (\S+)", up.log_path.read_text()).group(1)
    ours = set(descendants(up.process.pid))
    workers = Worker.all(connection=redis.Redis.from_url(url))
    return sorted(worker.queue_names() for worker in workers if worker.pid in ours)


@pytest.mark.slow
def test_up_starts_one_worker_per_queue_as_asked(tmp_path):
    with running_up(tmp_path, workers="renders=1,light=1") as up:
        health = wait_for(
            lambda: (h := httpx.get(f"{up.base}/api/v1/health").json())["workers"] == 2 and h,
            timeout=60, interval=0.5, message="two live workers",
        )  # fmt: skip
        assert health["workers"] == 2
        assert _worker_queues(up) == [
            ["light", "default"],
            ["renders", "default"],
        ]
    assert "2 worker(s): renders: 1, light: 1" in up.log_path.read_text()


@pytest.mark.parametrize(
    ("spec", "plan"),
    [
        ("1", [(("renders", "light"), 1)]),
        ("2", [(("renders",), 1), (("light",), 1)]),
        ("5", [(("renders",), 2), (("light",), 3)]),
        ("renders=1,light=2", [(("renders",), 1), (("light",), 2)]),
        (" light = 3 ", [(("light",), 3)]),
    ],
)
def test_worker_plans(spec, plan):
    assert worker_plan(spec) == plan


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0", "at least one worker is needed"),
        ("renders=0", "at least one worker is needed"),
        ("gpu=1", "unknown queue 'gpu' (known: renders, light)"),
        ("renders=x", "'renders=x' is not QUEUE=COUNT"),
        ("renders=1,renders=2", "queue 'renders' is given twice"),
    ],
)
def test_bad_worker_plans_are_refused_before_anything_starts(spec, message):
    with pytest.raises(CommandError) as refused:
        call_command("up", workers=spec)
    assert str(refused.value).startswith("--workers: ") and message in str(refused.value)
