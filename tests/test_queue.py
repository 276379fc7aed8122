"""Queue semantics: retry formula, lane order, leases, and the schema Alembic builds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.conftest import message
from wpbridge import queue
from wpbridge.models import Base, utcnow
from wpbridge.queue import RetryPolicy


@pytest.mark.parametrize("failures, u, expected", [
    (1, 0.0, 60.0),
    (2, 0.0, 120.0),
    (3, 0.0, 240.0),
    (6, 0.0, 1920.0),
    (7, 0.0, 3600.0),  # capped at max_delay
    (30, 0.0, 3600.0),
    (1, 1.0, 45.0),  # full jitter takes off a quarter
    (7, 0.5, 3150.0),
])
def test_retry_delay_formula(failures, u, expected):
    assert RetryPolicy(base=60, factor=2, max_delay=3600, jitter=0.25).delay(failures, u) == pytest.approx(expected)


def test_retry_jitter_spreads_but_never_exceeds_the_cap():
    policy = RetryPolicy(base=60, factor=2, max_delay=3600, jitter=0.25)
    delays = {policy.delay(10) for _ in range(200)}
    assert len(delays) > 150 and all(2700 <= d <= 3600 for d in delays)


def test_transactional_lane_is_claimed_before_bulk(app, site, engine):
    bulk = message(headers={"List-Unsubscribe": "<mailto:unsub@example.com>"}, context={})
    bulk_ids = [site.post("/api/v1/messages", bulk).json["id"] for _ in range(5)]
    receipt = site.post("/api/v1/messages", message()).json["id"]
    claimed = queue.claim(engine, "w1", 1, 60, utcnow())
    assert [c.message_id for c in claimed] == [receipt]
    rest = queue.claim(engine, "w1", 10, 60, utcnow())
    assert sorted(c.message_id for c in rest) == sorted(bulk_ids)


def test_claimed_rows_are_not_claimed_twice_until_the_lease_expires(app, site, engine):
    site.post("/api/v1/messages", message(to=["a@example.org", "b@example.org"]))
    now = utcnow()
    first = queue.claim(engine, "w1", 10, 30, now)
    assert queue.claim(engine, "w2", 10, 30, now) == []
    assert queue.reap_expired_leases(engine, now + timedelta(seconds=10)) == 0
    assert queue.reap_expired_leases(engine, now + timedelta(seconds=31)) == 2
    again = queue.claim(engine, "w2", 10, 30, now + timedelta(seconds=31))
    assert sorted(c.id for c in again) == sorted(c.id for c in first)
    # The first worker lost its lease: its late report does not overwrite the new owner's row.
    from wpbridge.relay import Reply
    queued = queue.messages_for(engine, [first[0].message_id])[first[0].message_id]
    queue.record(engine, "w1", [queue.Outcome(first[0], queued, Reply("delivered", 250, "250 ok"), 5)],
                 RetryPolicy(), now)
    from wpbridge.models import Recipient
    with app.extensions["wpbridge"].sessions() as s:
        row = s.get(Recipient, first[0].id)
    assert row.state.value == "sending" and row.leased_by == "w2"


def test_released_rows_are_due_again(app, site, engine):
    site.post("/api/v1/messages", message())
    claimed = queue.claim(engine, "w1", 10, 300, utcnow())
    queue.release(engine, "w1", [c.id for c in claimed], utcnow())
    assert len(queue.claim(engine, "w2", 10, 300, utcnow())) == 1


def test_migrated_schema_equals_the_models(engine):
    """Alembic's migrations build exactly what models.py declares (SQLite and PostgreSQL)."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
