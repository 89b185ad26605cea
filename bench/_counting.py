"""What a worker costs per job in database statements and Redis round trips, counted in the
worker's processes (its own and every work horse it forks).

`bench/engine.py` starts one worker through this file (`python bench/_counting.py COUNTS_FILE
rqworker ...`): the counters live in COUNTS_FILE, mapped shared, so a work horse adds to the same
counters as its worker although it ends with `os._exit`; the benchmark reads the file between
its phases (`read_counts`). Counted:
- statements: every SQL statement sent through Django (BEGIN of SQLite's IMMEDIATE transactions
  included; PostgreSQL's BEGIN is sent by psycopg and COMMIT by the connection, so on PostgreSQL
  a transaction adds two round trips to its statements);
- transactions: commits;
- connections: database connections opened;
- redis round trips: one per command sent alone, one per pipeline; redis commands: every command.
"""

import mmap
import os
import struct
import sys
import threading
from pathlib import Path

FIELDS = ("statements", "transactions", "connections", "redis_round_trips", "redis_commands")
_GROUPS = 2  # the worker's own counters, then its horses' (never written at the same time)
_SIZE = 8 * len(FIELDS) * _GROUPS


class Counters:
    def __init__(self, path: Path):
        path.write_bytes(b"\0" * _SIZE)
        self._fh = path.open("r+b")
        self._map = mmap.mmap(self._fh.fileno(), _SIZE)
        self._owner = os.getpid()
        self._lock = threading.Lock()  # a horse's watcher thread counts beside its main thread

    def add(self, field: str, n: int = 1) -> None:
        group = 0 if os.getpid() == self._owner else 1
        offset = 8 * (group * len(FIELDS) + FIELDS.index(field))
        with self._lock:
            (value,) = struct.unpack_from("q", self._map, offset)
            struct.pack_into("q", self._map, offset, value + n)


def read_counts(path: Path) -> dict[str, int]:
    """The counters summed over the worker and its horses."""
    data = path.read_bytes()
    values = struct.unpack(f"{len(FIELDS) * _GROUPS}q", data[:_SIZE])
    return {
        f: sum(values[i + g * len(FIELDS)] for g in range(_GROUPS)) for i, f in enumerate(FIELDS)
    }


def install(counters: Counters) -> None:
    import redis.client
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.signals import connection_created

    def count_statement(execute, sql, params, many, context):
        counters.add("statements")
        return execute(sql, params, many, context)

    def on_connection(sender, connection, **kwargs):
        counters.add("connections")
        if count_statement not in connection.execute_wrappers:
            connection.execute_wrappers.append(count_statement)

    connection_created.connect(on_connection, weak=False)
    commit = BaseDatabaseWrapper._commit

    def counted_commit(self):
        counters.add("transactions")
        return commit(self)

    BaseDatabaseWrapper._commit = counted_commit
    command = redis.client.Redis.execute_command
    immediate = redis.client.Pipeline.immediate_execute_command
    pipeline_execute = redis.client.Pipeline.execute

    def counted_command(self, *args, **options):
        counters.add("redis_round_trips")
        counters.add("redis_commands")
        return command(self, *args, **options)

    def counted_immediate(self, *args, **options):
        counters.add("redis_round_trips")
        counters.add("redis_commands")
        return immediate(self, *args, **options)

    def counted_pipeline(self, *args, **kwargs):
        if self.command_stack:
            counters.add("redis_round_trips")
            counters.add("redis_commands", len(self.command_stack))
        return pipeline_execute(self, *args, **kwargs)

    redis.client.Redis.execute_command = counted_command
    redis.client.Pipeline.immediate_execute_command = counted_immediate
    redis.client.Pipeline.execute = counted_pipeline


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    install(Counters(Path(sys.argv[1])))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editfactory.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([str(root / "manage.py"), *sys.argv[2:]])


if __name__ == "__main__":
    main()
