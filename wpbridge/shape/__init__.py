"""shape: respect every limit between the queue and the providers.

Between claim and relay the worker hands each batch to the :class:`Shaper`, which holds
back what may not go now and spaces out what may:

- **rates** (``rates.py``) per provider account and per destination (Gmail, Microsoft,
  Yahoo, or any other recipient domain, per sending provider): short periods as GCRA
  without burst, long periods as counting windows; shared by all workers in the database
  (``limits.py``); concurrent connections and messages per connection per provider;
- **reactions** (``rules.py``): replies such as Gmail's 421 4.7.28 or SES's 454 Throttling
  throttle or suspend a destination or a provider for a while;
- **warm-up**: daily caps for a new sending domain's bulk mail;
- **failover** (``health.py``): a failing provider is marked down and its routes' next
  provider takes the traffic until a probe finds it back;
- **reputation guard** (``guard.py``): a site whose bulk mail bounces or draws complaints
  too often has its bulk lane paused;
- **sending windows** for bulk mail in the site's time zone.

Rows that may not go now go back to the queue with the time they may, and the reason in
``last_response`` ("held: provider ses rate 14/s"); they do not count as attempts.
"""

from wpbridge.shape import models  # noqa: F401  (the tables, for Alembic)
from wpbridge.shape.config import ShapingConfig, destination_of
from wpbridge.shape.shaper import Held, Job, Sent, Shaper, shaper_for

__all__ = ["Held", "Job", "Sent", "Shaper", "ShapingConfig", "destination_of", "shaper_for"]
