"""How an attempt ended, as the process that ran its handler tells the one that records it.

Plain data that goes through JSON: a work horse hands it to its worker in a file
(`jobs.handoff`), a direct run keeps it in memory (`jobs.runner`). A failure is put in words
where its exception is (the message a user reads, whether it is permanent, the traceback):
exceptions themselves do not survive a trip between processes.
"""

import json
from dataclasses import asdict, dataclass

from jobs import services
from jobs.errors import is_permanent

COMPLETED = "completed"
STOPPED = "stopped"  # cancelled (or rescued) while it ran: no longer ours to finish
FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    kind: str
    result: dict | None = None
    message: str = ""
    permanent: bool = False
    detail: str = ""

    @classmethod
    def completed(cls, result) -> "Outcome":
        return cls(COMPLETED, result=result)

    @classmethod
    def stopped(cls) -> "Outcome":
        return cls(STOPPED)

    @classmethod
    def failure(cls, exc: BaseException, detail: str = "") -> "Outcome":
        return cls(
            FAILED,
            message=services.error_message(exc),
            permanent=is_permanent(exc),
            detail=detail,
        )

    def dumps(self) -> str:
        """JSON; raises TypeError for a result JSON cannot hold (the row could not either)."""
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> "Outcome":
        return cls(**json.loads(text))
