"""Fuzz the HTTP doors for longer than the test suite does: the properties of
tests/test_properties.py (exact headers for any accepted structured message; any JSON or bytes
to any endpoint, signed or not, answered without an internal error), run for ``--minutes``.

Prints the answers by status code, and every failure with its reproducer (hypothesis's
minimal example). The bridge runs in-process on a fresh SQLite database.

    python bench/fuzz.py --minutes 10
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import test_properties as props  # noqa: E402
from tests.conftest import make_site  # noqa: E402
from wpbridge import db, settings as settings_mod  # noqa: E402
from wpbridge.app import create_app  # noqa: E402
from wpbridge.ingest.message import InvalidInput, from_json  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="wpbridge-fuzz-"))
    s = settings_mod.Settings(data_dir=data, database_url=f"sqlite:///{data / 'wpbridge.db'}",
                              secret_key="fuzz", dns_recheck_interval=0)
    db.upgrade(s)
    engine = db.make_engine(s)
    app = create_app(s, engine)
    site = make_site(app, s)
    endpoints = sorted(set(props._endpoints(app)))
    deadline = time.monotonic() + args.minutes * 60
    codes: collections.Counter = collections.Counter()
    accepted = collections.Counter()
    failures: list[str] = []
    rounds = 0
    budget = hsettings(max_examples=500, deadline=None, database=None,
                       suppress_health_check=list(HealthCheck))

    @budget
    @given(st.sampled_from(endpoints), props.bodies, st.booleans())
    def endpoint(method_path, body, signed):
        try:
            codes[props.check_every_endpoint(app, site.key_id, site.secret, method_path, body,
                                             signed)] += 1
        except AssertionError:
            codes[500] += 1
            raise

    @budget
    @given(props.structured())
    def headers(payload):
        try:
            from_json(payload, 10_000_000)
            accepted["accepted"] += 1
        except InvalidInput as exc:
            accepted[f"refused {exc.status} {exc.code}"] += 1
        props.test_an_accepted_message_has_exactly_the_submitted_headers.hypothesis.inner_test(payload)

    while time.monotonic() < deadline:
        rounds += 1
        for prop in (endpoint, headers):
            try:
                prop()
            except Exception as exc:  # noqa: BLE001 - a failing property: report it, go on
                found = getattr(exc, "exceptions", [exc])  # an ExceptionGroup: several bugs
                notes = "\n    ".join(f"{type(e).__name__}: {str(e)[:500]} "
                                       + " ".join(getattr(e, "__notes__", [])) for e in found)
                failures.append(f"{prop.__name__}: {type(exc).__name__}: {str(exc)[:2000]}\n    {notes}")
    print(f"fuzz: {args.minutes:g} min, {rounds} rounds of 500 examples per property, "
          f"{len(endpoints)} endpoints")
    print("answers by status code: " + ", ".join(f"{c}: {n:,}" for c, n in sorted(codes.items())))
    print("structured messages: " + ", ".join(f"{k}: {n:,}" for k, n in accepted.most_common()))
    print(f"failures: {len(failures)}")
    for f in failures:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
