"""core.leases on the real database (SQLite and PostgreSQL): one holder at a time, renewal,
expiry on the database's clock, release, and racing takers. The maintenance loop's use of it,
with real processes, is in tests/jobs/test_maintenance_lease.py."""

import threading

import pytest
from django.db import connection

from core.leases import lease_acquire, lease_holder_id, lease_release, lease_state
from core.models import Lease

pytestmark = pytest.mark.django_db


def test_the_first_taker_holds_it_and_another_is_refused_until_release():
    assert lease_state("m").holder == ""  # no row yet: free
    assert lease_acquire(name="m", holder="a", ttl=60)
    assert not lease_acquire(name="m", holder="b", ttl=60)
    state = lease_state("m")
    assert state.holder == "a" and 0 < state.expires_in <= 60
    assert lease_acquire(name="m", holder="a", ttl=60)  # renewed
    assert lease_release(name="m", holder="a")
    assert lease_state("m").holder == ""
    assert not lease_release(name="m", holder="a")  # released once
    assert lease_acquire(name="m", holder="b", ttl=60)
    assert Lease.objects.count() == 1


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew_it():
    assert lease_acquire(name="m", holder="a", ttl=0)  # expires at once
    assert lease_state("m").holder == ""  # an expired holder holds nothing
    assert lease_acquire(name="m", holder="b", ttl=60)
    assert not lease_acquire(name="m", holder="a", ttl=60)
    assert not lease_release(name="m", holder="a")  # nor release it
    assert lease_state("m").holder == "b"


def test_renewal_keeps_the_start_and_a_takeover_starts_again():
    lease_acquire(name="m", holder="a", ttl=0)
    first = Lease.objects.get(name="m")
    lease_acquire(name="m", holder="a", ttl=60)
    renewed = Lease.objects.get(name="m")
    assert renewed.acquired_at == first.acquired_at
    assert renewed.renewed_at >= first.renewed_at
    assert renewed.expires_at > first.expires_at
    lease_release(name="m", holder="a")
    lease_acquire(name="m", holder="b", ttl=60)
    assert Lease.objects.get(name="m").acquired_at >= renewed.renewed_at


def test_leases_are_independent_by_name():
    assert lease_acquire(name="m", holder="a", ttl=60)
    assert lease_acquire(name="other", holder="b", ttl=60)
    assert lease_state("other").holder == "b" and lease_state("m").holder == "a"


def test_holder_ids_name_the_host_process_and_role_and_differ_per_call():
    one, two = lease_holder_id("worker"), lease_holder_id("worker")
    assert one != two and " worker #" in one and "pid " in one


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("existing", [False, True], ids=["first-ever", "expired"])
def test_racing_takers_one_wins(existing):
    """Eight threads (eight database connections) released at once: exactly one holds it,
    whether the row is yet to be created or holds an expired lease."""
    if existing:
        lease_acquire(name="m", holder="old", ttl=0)
    barrier = threading.Barrier(8)
    won: list[str] = []

    def take(n: int) -> None:
        try:
            barrier.wait()
            if lease_acquire(name="m", holder=f"h{n}", ttl=60):
                won.append(f"h{n}")
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert lease_state("m").holder == won[0]
