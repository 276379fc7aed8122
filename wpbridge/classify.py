"""classify: message + context -> category, with the reasons that decided it. Pure, no I/O.

Order of trust: context from the plugin (the WooCommerce email id) beats headers beats the
default. Subjects are translated and edited by admins, so they are never a signal here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

TRANSACTIONAL, NOTIFICATION, BULK = "transactional", "notification", "bulk"

# WooCommerce email ids (WC_Email::$id) -> category.
WOOCOMMERCE_EMAILS = {
    **dict.fromkeys([
        "customer_processing_order", "customer_completed_order", "customer_refunded_order",
        "customer_partially_refunded_order", "customer_invoice", "customer_note",
        "customer_new_account", "customer_reset_password", "customer_on_hold_order",
        "customer_failed_order", "customer_cancelled_order",
    ], TRANSACTIONAL),
    **dict.fromkeys([
        "new_order", "cancelled_order", "failed_order", "low_stock", "no_stock", "backorder",
    ], NOTIFICATION),
}

# Header -> (predicate on the lower-cased value, category). First match wins.
HEADER_RULES: tuple[tuple[str, str | None, str], ...] = (
    ("List-Unsubscribe", None, BULK),
    ("List-Id", None, BULK),
    ("Precedence", "bulk", BULK),
    ("Precedence", "list", BULK),
)


@dataclass(frozen=True)
class Classification:
    category: str
    reasons: tuple[str, ...]


def classify(headers: Mapping[str, str], context: Mapping[str, object]) -> Classification:
    wc_id = context.get("wc_email_id")
    if isinstance(wc_id, str) and wc_id in WOOCOMMERCE_EMAILS:
        return Classification(WOOCOMMERCE_EMAILS[wc_id], (f"context: WooCommerce email {wc_id}",))
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, value, category in HEADER_RULES:
        have = lowered.get(name.lower())
        if have is not None and (value is None or have.strip().lower() == value):
            return Classification(category, (f"header: {name}" + (f": {value}" if value else ""),))
    return Classification(TRANSACTIONAL, ("default: no bulk marks",))
