"""Status page render time with a large message log (target: <= 100 ms with 1,000,000),
and the message log's recipient search for each kind of input, against the full scan that
every search used to be.

Fills SQLite with N messages of one site (one recipient each, states mixed: mostly
delivered, some failed, a few queued, with attempts for the failures) spread over the last
7 days, and the counters that the same traffic would have recorded; then renders the site's
page and message log through the real app (Flask test client, same process) and prints
the median and worst time of each.

    python bench/status_bench.py [--messages 1000000] [--renders 20] [--keep DIR]

``--keep DIR`` keeps the filled database in DIR and reuses it on the next run (filling a
million messages takes minutes).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import median  # noqa: E402


def fill(engine, site_id: int, n: int, now) -> None:
    from sqlalchemy import insert

    from wpbridge.models import Attempt, Message, Recipient
    from wpbridge.status.metrics import Tally

    rng = random.Random(7)
    domains = ["gmail.com", "outlook.com", "yahoo.com", "web.de", "icloud.com", "example.org"]
    chunk = 20000
    next_rid = 1
    for start in range(0, n, chunk):
        messages, recipients, attempts = [], [], []
        for i in range(start, min(n, start + chunk)):
            created = now - timedelta(seconds=rng.random() * 7 * 86400)
            mid = uuid.uuid4().hex
            domain = domains[i % len(domains)]
            roll = rng.random()
            state = "delivered" if roll < 0.95 else "failed" if roll < 0.99 else "queued"
            messages.append({"id": mid, "site_id": site_id, "created_at": created,
                             "expires_at": created + timedelta(days=4), "mail_from": "shop@example.com",
                             "from_header": "Shop <shop@example.com>", "subject": f"Your order #{i}",
                             "category": "transactional", "reasons": [], "context": {}, "size": 2000,
                             "recipient_count": 1, "raw": b"Subject: x\r\n\r\nbody\r\n"})
            recipients.append({"id": next_rid, "message_id": mid, "site_id": site_id,
                               "address": f"customer{i}@{domain}", "domain": domain, "lane": 0,
                               "provider": "default", "state": state, "attempts": 1,
                               "next_attempt_at": created, "last_code": 550 if state == "failed" else 250,
                               "last_response": "550 5.1.1 no such user" if state == "failed" else "250 ok",
                               "updated_at": created})
            if state == "failed":
                attempts.append({"recipient_id": next_rid, "at": created, "provider": "default",
                                 "outcome": "failed", "code": 550, "response": "550 5.1.1 no such user",
                                 "duration_ms": 40})
            next_rid += 1
        with engine.begin() as conn:
            conn.execute(insert(Message.__table__), messages)
            conn.execute(insert(Recipient.__table__), recipients)
            if attempts:
                conn.execute(insert(Attempt.__table__), attempts)
        # The counters the relay would have recorded, one flush per hour of this chunk.
        by_hour: dict = {}
        for m, r in zip(messages, recipients):
            hour = m["created_at"].replace(minute=0, second=0, microsecond=0)
            t = by_hour.setdefault(hour, Tally())
            t.add(site_id, "transactional", "default", r["domain"], "accepted")
            if r["state"] == "delivered":
                t.add(site_id, "transactional", "default", r["domain"], "delivered", 800)
            elif r["state"] == "failed":
                t.add(site_id, "transactional", "default", r["domain"], "bounced")
        with engine.begin() as conn:
            for hour, t in by_hour.items():
                t.flush(conn, hour)
        print(f"  {min(n, start + chunk):>9,} messages", end="\r", file=sys.stderr)
    print(file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the database in this folder")
    args = parser.parse_args()

    from sqlalchemy import select, text

    from wpbridge import db, settings as settings_mod, sites
    from wpbridge.app import create_app
    from wpbridge.models import Site, utcnow
    from wpbridge.status import access
    from wpbridge.worker import Worker

    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        filled = (tmp / "bench.db").exists()
        s = settings_mod.Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/bench.db",
                                  secret_key="bench")
        db.upgrade(s)
        engine = db.make_engine(s)
        app = create_app(s, engine)
        if not filled:
            with app.extensions["wpbridge"].sessions() as session, session.begin():
                sites.create(session, s.secret_key, "shop.example.com", ["example.com"])
        with engine.connect() as conn:
            site_id = conn.execute(select(Site.id)).scalar()
        if not filled:
            t0 = time.perf_counter()
            fill(engine, site_id, args.messages, utcnow())
            print(f"filled {args.messages:,} messages in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        Worker(s, engine, name="bench").beat()
        client = app.test_client()
        with engine.begin() as conn:
            token, _ = access.issue_embed_token(conn, site_id, utcnow())
        client.get(f"/status/embed/{token}")
        for label, path in (("status page", "/status/s/shop.example.com/"),
                            ("message log", "/status/s/shop.example.com/messages"),
                            ("log, failed", "/status/s/shop.example.com/messages?status=failed"),
                            *((f"search {kind}", "/status/s/shop.example.com/messages?" + urlencode({"recipient": typed}))
                              for kind, typed in SEARCHES)):
            times = []
            for _ in range(args.renders):
                t = time.perf_counter()
                resp = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.status_code
            print(f"{label:<24} {args.messages:>9,} messages: median {median(times):7.1f} ms, "
                  f"worst {max(times):7.1f} ms")
        # Baseline, same database: the substring scan every search used to be.
        times = []
        with engine.connect() as conn:
            for _ in range(3):
                t = time.perf_counter()
                conn.execute(text(SCAN), {"site": site_id, "q": "%customer4711@%"}).all()
                times.append((time.perf_counter() - t) * 1000)
        print(f"{'baseline: LIKE scan':<24} {args.messages:>9,} messages: median {median(times):7.1f} ms "
              "(every recipient, as before migration 0009)")


# What an admin types: how the log's recipient box reads each (status/figures.AddressSearch).
SEARCHES = (("full address", "customer4711@outlook.com"), ("address prefix", "customer4711@"),
            ("start of address", "customer4711"), ("domain, 1 in 6", "@web.de"),
            ("domain, none", "@nowhere.example"), ("fragment", "*4711"))
SCAN = """SELECT r.id FROM messages m JOIN recipients r INDEXED BY ix_recipients_site_state ON m.id = r.message_id
          WHERE m.site_id = :site AND r.site_id = :site AND lower(r.address) LIKE :q
          ORDER BY m.created_at DESC, r.id DESC LIMIT 50"""


if __name__ == "__main__":
    main()
