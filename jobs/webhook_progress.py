"""When a running job's progress is worth a `job.progress` webhook (jobs created with
`webhook_progress`): at each new step of PROGRESS_STEP percent (10 %, 20 %... 90 %; 100 % is the
terminal event's), and at most every settings.WEBHOOK_PROGRESS_INTERVAL seconds. A step reached
sooner is sent with the next progress write after the interval (its body carries the progress of
that moment). Decided in the worker, on the progress writes it makes anyway; the delivery itself
is an RQ job signed and retried like the terminal event's (jobs.webhooks).
"""

import time

from django.conf import settings

from jobs import webhooks

PROGRESS_STEP = 10


def progress_step(percent: float) -> int:
    """The last whole step `percent` has reached (0 below the first)."""
    return int(percent // PROGRESS_STEP) * PROGRESS_STEP


class ProgressWebhooks:
    """One attempt's progress webhooks (each attempt's progress starts from 0 at its claim: its
    steps are sent again). Steps already passed when it is made are not sent."""

    def __init__(self, job, *, clock=time.monotonic):
        self.enabled = bool(job.webhook_progress and job.callback_url)
        self.job_id = job.id
        self.sent_step = progress_step(job.progress)
        self.sent_at: float | None = None
        self._clock = clock

    def progress(self, percent: float) -> bool:
        """Called after each progress write; True when a delivery was queued."""
        step = progress_step(percent)
        if not self.enabled or step <= self.sent_step or step >= 100:
            return False
        now = self._clock()
        if self.sent_at is not None and now - self.sent_at < settings.WEBHOOK_PROGRESS_INTERVAL:
            return False
        if not webhooks.webhook_progress_schedule(job_id=self.job_id, step=step):
            return False  # Redis refused it: the next write tries again
        self.sent_step, self.sent_at = step, now
        return True
