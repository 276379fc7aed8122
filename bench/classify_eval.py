"""Classifier accuracy on the labelled corpus: in-sample and leave-one-plugin-out, with the misses.

    python bench/classify_eval.py [--corpus DIR]

The classifier is hand-written rules; nothing is trained. What it knows about one plugin is
data: the plugin's slug in :data:`~wpbridge.classify.PLUGINS`, its header marks, its link
formats (:data:`~wpbridge.classify.BODY_MARKS`), and for WooCommerce and WordPress core their
email ids and template. Leave-one-plugin-out scores the messages of each plugin family (the
first word of the file name: ``wc``, ``mailpoet``, ``cf7``, ...) with that family's entries
removed from every table, as if the bridge had never heard of the plugin: only the generic
evidence (list headers, order totals, account words, who the mail is for, utm_ links...) is
left to decide. It measures how the weighed evidence carries mail from plugins the tables do
not know.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wpbridge import classify as C  # noqa: E402
from wpbridge.classify_cli import read_eml  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "classify"

# family -> what the tables hold about it: plugin slugs, header names (lower case), body-mark
# meanings containing this word, and whether the WooCommerce / core tables are its own.
FAMILIES: dict[str, dict] = {
    "wc": {"slugs": {"woocommerce", "woocommerce-subscriptions", "woocommerce-memberships"},
           "woocommerce": True},
    "core": {"core": True},
    "mailpoet": {"slugs": {"mailpoet"}, "marks": "MailPoet"},
    "tnp": {"slugs": {"newsletter"}, "headers": {"x-newsletter-email-id"}, "marks": "Newsletter Plugin"},
    "mailster": {"slugs": {"mailster", "mailster-pro"}, "headers": {"x-mailster", "x-mailster-id",
                                                                    "x-mailster-campaign"}},
    "fluentcrm": {"marks": "FluentCRM"},
    "cf7": {"slugs": {"contact-form-7"}},
    "wpforms": {"slugs": {"wpforms", "wpforms-lite"}},
    "gravityforms": {"slugs": {"gravityforms"}},
    "memberpress": {"slugs": {"memberpress"}},
    "pmpro": {"slugs": {"paid-memberships-pro"}},
    "lms": {"slugs": {"sfwd-lms", "lifterlms", "tutor"}},
    "edd": {"slugs": {"easy-digital-downloads"}},
    "wordfence": {"slugs": {"wordfence"}},
    "solid": {"slugs": {"solid-security", "better-wp-security", "ithemes-security-pro"}},
    "updraftplus": {"slugs": {"updraftplus"}},
}


def family_of(file: str) -> str:
    return file.split("-", 2)[1]


@contextlib.contextmanager
def without(family: str):
    """The classifier with everything it knows about ``family`` removed (for scoring only:
    it swaps module globals)."""
    spec = FAMILIES.get(family, {})
    names = ("PLUGINS", "HEADER_MARKS", "BODY_MARKS", "WOOCOMMERCE_EMAILS", "WOOCOMMERCE_ID_PREFIXES",
             "WOOCOMMERCE_TEMPLATE", "WORDPRESS_CORE_MAILS", "_ADMIN_SUBJECT")
    saved = {n: getattr(C, n) for n in names}
    C.PLUGINS = {k: v for k, v in C.PLUGINS.items() if k not in spec.get("slugs", ())}
    C.HEADER_MARKS = tuple(m for m in C.HEADER_MARKS if m[0].lower() not in spec.get("headers", ()))
    if spec.get("marks"):
        C.BODY_MARKS = tuple(m for m in C.BODY_MARKS if spec["marks"] not in m[2])
    if spec.get("woocommerce"):
        C.WOOCOMMERCE_EMAILS, C.WOOCOMMERCE_ID_PREFIXES, C.WOOCOMMERCE_TEMPLATE = {}, (), ()
    if spec.get("core"):
        C.WORDPRESS_CORE_MAILS, C._ADMIN_SUBJECT = {}, re.compile(r"(?!)")
    try:
        yield
    finally:
        for n, v in saved.items():
            setattr(C, n, v)


def load(corpus: Path) -> list[tuple[str, str, str, tuple]]:
    with open(corpus / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [(r["file"], r["category"], r["note"], read_eml((corpus / "messages" / r["file"]).read_bytes()))
            for r in rows]


def score(items) -> tuple[int, list[str]]:
    ok, misses = 0, []
    for file, want, note, (headers, context, body) in items:
        got = C.classify(headers, context, body=body)
        if got.category == want:
            ok += 1
        else:
            misses.append(f"{file}: want {want}, got {got.category} ({'; '.join(got.reasons)})")
    return ok, misses


def evaluate(corpus: Path = CORPUS):
    items = load(corpus)
    by_family = defaultdict(list)
    for item in items:
        by_family[family_of(item[0])].append(item)
    in_sample, held_out = {}, {}
    for family, group in sorted(by_family.items()):
        in_sample[family] = score(group) + (len(group),)
        with without(family):
            held_out[family] = score(group) + (len(group),)
    return in_sample, held_out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--families", action="store_true", help="print every family's figures")
    args = ap.parse_args()
    in_sample, held_out = evaluate(args.corpus)
    total = sum(n for _, _, n in in_sample.values())
    ok_in = sum(ok for ok, _, _ in in_sample.values())
    ok_out = sum(ok for ok, _, _ in held_out.values())
    print(f"{'family':<16} {'messages':>8} {'in-sample':>10} {'leave-one-plugin-out':>22}")
    if args.families:
        for family in in_sample:
            (a, _, n), (b, _, _) = in_sample[family], held_out[family]
            print(f"{family:<16} {n:>8} {a / n:>10.1%} {b / n:>22.1%}")
    print(f"{'all':<16} {total:>8} {ok_in / total:>10.1%} {ok_out / total:>22.1%}")
    print(f"\nin-sample misses ({total - ok_in}):")
    for _, misses, _ in in_sample.values():
        print("\n".join("  " + m for m in misses)) if misses else None
    print(f"leave-one-plugin-out misses ({total - ok_out}):")
    for _, misses, _ in held_out.values():
        print("\n".join("  " + m for m in misses)) if misses else None
    return 0 if ok_in / total >= 0.99 else 2


if __name__ == "__main__":
    sys.exit(main())
