"""auth: sender authentication. DKIM keys and signing before relay (:mod:`.dkim`), the
SPF, DKIM and DMARC checks that tell an admin which DNS record to add (:mod:`.dns_check`),
and their results kept per sending domain, re-checked as they expire, and used to hold bulk
mail from a domain without DMARC (:mod:`.dns_store`).
"""

from wpbridge.auth import models  # noqa: F401  (the tables, for Alembic)
