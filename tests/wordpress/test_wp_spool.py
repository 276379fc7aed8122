"""Bridge down, slow or back: wp_mail() returns true at once, nothing is lost, and each
message reaches the provider exactly once."""

from __future__ import annotations

import time

from tests.wordpress import wp_harness as h
from tests.wordpress.conftest import subject_is, unique, wait_received


def send_spooled(env, count: int, label: str) -> list[str]:
    subjects = [unique(f"{label} {i}") for i in range(count)]
    for subject in subjects:
        result = env.wp.send(to=["alice@example.net", "Bob <bob@example.net>"],
                             subject=subject, message="Your order is on its way.")
        assert result["result"] is True, result
        assert result["succeeded"] == 1 and not result["failed"] and not result["queued"], result
        assert len(result["spooled"]) == 1, result
        # A refused connection costs about a millisecond; the request must not wait for SMTP.
        assert result["ms"] < 250, f"wp_mail() took {result['ms']:.0f} ms with the bridge down"
    return subjects


def deliveries(env, subjects: list[str], settle: float = 1.0) -> dict[str, int]:
    """How many copies of each subject the provider got, once the bridge had time to relay."""
    for subject in subjects:
        wait_received(env.bridge_sink, subject_is(subject), timeout=15)
    time.sleep(settle)  # a duplicate would arrive within the same worker poll or two
    received = list(env.bridge_sink.received)
    return {s: sum(1 for r in received if r.message["Subject"] == s) for s in subjects}


def test_bridge_down_mail_waits_in_spool_and_wp_cron_delivers_each_once(env):
    env.bridge.stop()
    subjects = send_spooled(env, 3, "cron")
    state = env.wp.driver("state")
    assert [row["subject"] for row in state["spool"]] == subjects
    assert all("could not be reached" in row["last_error"] for row in state["spool"])
    assert len({row["idempotency_key"] for row in state["spool"]}) == 3
    assert state["cron_next"], "a WP-Cron retry must be scheduled"
    assert state["state"]["reachable"] is False

    # While the bridge is down, a cron run changes nothing and loses nothing.
    env.wp.driver("make-due")
    status, _, _ = h.http("GET", env.wp.url + "/wp-cron.php")
    assert status == 200
    # The first retry found the bridge down; the run stopped there instead of waiting on each.
    assert [int(r["attempts"]) for r in env.wp.driver("state")["spool"]] == [2, 1, 1]

    env.bridge.start()
    env.wp.driver("make-due")  # let the backoff run out
    status, _, _ = h.http("GET", env.wp.url + "/wp-cron.php")
    assert status == 200
    assert deliveries(env, subjects) == {s: 1 for s in subjects}
    for subject in subjects:
        [copy] = [r for r in env.bridge_sink.received if r.message["Subject"] == subject]
        assert sorted(copy.rcpt_tos) == ["alice@example.net", "bob@example.net"]
    state = env.wp.driver("state")
    assert state["spool"] == []
    assert state["cron_next"] is False, "the retry event unschedules itself once the spool is empty"
    assert state["state"]["reachable"] is True


def test_flush_delivers_each_once_and_a_repeated_retry_is_not_a_duplicate(env):
    env.bridge.stop()
    subjects = send_spooled(env, 2, "flush")
    rows = env.wp.driver("spool-export")
    assert len(rows) == 2

    out = env.wp.cli("wpbridge", "flush")
    assert out.returncode == 1, "flush must fail while the bridge is down"
    assert "could not be reached" in out.stderr
    assert len(env.wp.driver("state")["spool"]) == 2

    env.bridge.start()
    out = env.wp.cli("wpbridge", "flush")
    assert out.returncode == 0, out.stderr
    assert "Handed to the bridge 2, refused by the bridge 0, still waiting 0." in out.stdout
    assert deliveries(env, subjects) == {s: 1 for s in subjects}

    # The same rows again, as if the bridge had stored them but its answers were lost:
    # the retry reuses each message's Idempotency-Key and body, so nothing is sent twice.
    env.wp.driver("spool-import", rows)
    out = env.wp.cli("wpbridge", "flush")
    assert "Handed to the bridge 2" in out.stdout, out.stdout + out.stderr
    assert deliveries(env, subjects, settle=2.0) == {s: 1 for s in subjects}


def test_a_hanging_bridge_costs_at_most_the_timeout_then_the_mail_is_spooled(env, hung_server):
    env.wp.set_constants({**env.default_constants(), "WPBRIDGE_URL": f"http://127.0.0.1:{hung_server.port}",
                          "WPBRIDGE_TIMEOUT": 0.5})
    subject = unique("hung")
    result = env.wp.send(to="alice@example.net", subject=subject, message="Still here.")
    assert result["result"] is True and len(result["spooled"]) == 1, result
    assert 400 < result["ms"] < 2000, f"wp_mail() took {result['ms']:.0f} ms with a 0.5 s timeout"
    assert "timed out" in result["spooled"][0]["error"].lower() or "timeout" in result["spooled"][0]["error"].lower()

    env.wp.set_constants(env.default_constants())
    out = env.wp.cli("wpbridge", "flush")
    assert out.returncode == 0, out.stderr
    assert deliveries(env, [subject]) == {subject: 1}


def test_fallback_mode_hands_mail_back_to_wordpress_instead_of_spooling(env):
    env.wp.set_constants({**env.default_constants(), "WPBRIDGE_FALLBACK": True})
    env.bridge.stop()
    subject = unique("fallback")
    result = env.wp.send(to="alice@example.net", subject=subject, message="Sent by core.")
    assert result["result"] is True and not result["spooled"] and not result["queued"], result
    assert len(wait_received(env.stock_sink, subject_is(subject))) == 1
    assert env.wp.driver("state")["spool"] == []
