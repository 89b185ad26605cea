"""The maintenance loop runs once across hosts: real `manage.py maintenance` processes share the
test database (PostgreSQL in CI's second run) and its lease. Only the holder makes passes; a
SIGKILLed holder's lease is taken over once it expires, never before; a clean stop releases it."""

import os
import re
import signal
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from core.leases import lease_state
from core.models import Lease
from jobs.management.commands.maintenance import LEASE
from tests.chaos.servers import MANAGE_PY, ProductProcess, stop_all
from tests.conftest import kill_tree, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
LEASE_SECONDS = 3


def _loop(name: str, tmp_path) -> ProductProcess:
    env = dict(
        os.environ,
        EF_USE_TEST_DB="1",
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
        EF_MAINTENANCE_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    argv = [sys.executable, MANAGE_PY, "maintenance", "--interval", "0.3", "-v", "2"]
    return ProductProcess(name, argv, env=env, log_dir=tmp_path)


def _cron_pass(name: str, tmp_path) -> ProductProcess:
    """`manage.py maintenance --once` (a cron job's pass), run to its end."""
    once = ProductProcess(
        name,
        [sys.executable, MANAGE_PY, "maintenance", "--once", "-v", "2"],
        env=dict(os.environ, EF_USE_TEST_DB="1", REDIS_URL=settings.REDIS_URL),
        log_dir=tmp_path,
    )
    assert once.process.wait(timeout=90) == 0
    once.stop()
    return once


def _passes(loop: ProductProcess) -> int:
    return len(re.findall(r"^maintenance pass by ", loop.output(), re.MULTILINE))


def _holder_process(loops: list[ProductProcess]) -> ProductProcess | None:
    holder = lease_state(LEASE).holder
    found = [p for p in loops if f" pid {p.process.pid} " in holder]
    return found[0] if found else None


def test_one_loop_makes_passes_and_the_other_takes_over_after_the_holder_is_killed(tmp_path):
    loops = [_loop("maintenance-a", tmp_path), _loop("maintenance-b", tmp_path)]
    try:
        holder = wait_for(lambda: _holder_process(loops), timeout=90, message="a lease holder")
        standby = next(p for p in loops if p is not holder)
        wait_for(lambda: "this loop stands by" in standby.output(), message="the standby's word")
        # Sampled: each time the holder has made more passes, the standby has made none and the
        # lease still names the same holder.
        for _ in range(5):
            done = _passes(holder)
            wait_for(lambda d=done: _passes(holder) > d, timeout=60, message="another pass")
            assert _passes(standby) == 0, standby.output()
            assert _holder_process(loops) is holder
        last_seen = Lease.objects.get(name=LEASE)
        kill_tree(holder.process)  # a host lost: no release
        after_kill = Lease.objects.get(name=LEASE)
        if after_kill.holder == last_seen.holder:  # the holder's last renewal, when seen
            last_seen = after_kill
        wait_for(
            lambda: _holder_process(loops) is standby,
            timeout=LEASE_SECONDS + 60,
            message="the standby to take the lease over",
        )
        taken = Lease.objects.get(name=LEASE)
        assert taken.acquired_at >= last_seen.expires_at  # not before the dead lease expired
        wait_for(lambda: _passes(standby) >= 2, timeout=60, message="the new holder's passes")
        print(
            f"lease taken over {(taken.acquired_at - last_seen.expires_at).total_seconds():.2f} s after expiry"
        )
        # A clean stop releases it at once: the row names no holder (an expired one would).
        standby.process.send_signal(signal.SIGTERM)
        standby.process.wait(timeout=30)
        assert Lease.objects.get(name=LEASE).holder == ""
        assert "maintenance stopped." in standby.output()
    finally:
        stop_all(loops)


def test_a_cron_pass_stands_aside_while_a_loop_holds_the_lease(tmp_path):
    loop = _loop("maintenance", tmp_path)
    try:
        wait_for(lambda: _holder_process([loop]), timeout=90, message="the loop to hold the lease")
        once = _cron_pass("once", tmp_path)
        assert "this loop stands by" in once.output() and _passes(once) == 0
    finally:
        stop_all([loop])
    # With the loop stopped (its lease released), the cron pass runs.
    once = _cron_pass("once-alone", tmp_path)
    assert _passes(once) == 1 and Lease.objects.get(name=LEASE).holder == ""


def test_a_lease_shorter_than_two_intervals_is_refused_in_words(settings):
    settings.MAINTENANCE_LEASE_SECONDS = 3
    with pytest.raises(CommandError) as refused:
        call_command("maintenance", interval=2)
    assert str(refused.value) == (
        "EF_MAINTENANCE_LEASE_SECONDS (3) must be at least twice the interval (2 s): "
        "the lease would lapse between two passes"
    )
