"""How well bounce handling generalises: in-sample and leave-one-source-out, with the misses.

    python bench/bounce_eval.py [--misses] [--corpus DIR] [--own DIR]

Scores :func:`wpbridge.events.bounces.parse` over the development corpus
(``shared/corpora/bounces``: sisimai's verdict per recipient) and over the messages written
for this project (``tests/corpus/bounces_own``: written from MTA and provider documentation,
labelled by what they mean), and prints, per source and overall:

- **hard/soft**: is the recipient judged a hard bounce exactly when the label says the
  address is permanently invalid;
- **group**: the recipient's group (hard, soft, block, complaint, autoreply; for a delay
  notice or ordinary mail, the report's type) and, where the label names one, its address,
  so every recipient must be found in its order;
- **detection**: bounce, complaint, auto-reply, delay notice or ordinary mail told apart.

A *source* is the MTA or provider that wrote a file: the engine part of its name
(``lhost-postfix-07.eml`` -> ``lhost-postfix``; the own corpus' ``own-exim-03.eml`` ->
``own-exim``, its own source).

The model is hand-written rules, nothing is trained, so leaving a source out cannot mean
refitting. What can be fitted to one source is a phrase: a row of
:mod:`~wpbridge.events.diagnostics` written after reading one MTA's bounces. So,
leave-one-source-out is computed like this: every phrase of the diagnostics tables (one
alternative of a row, and the one-provider tables: recipient domains, PowerMTA categories,
Yahoo's after-DATA wording, and the phrases that name the SMTP command a refusal answered)
is matched against every message of both corpora; a phrase found
in the messages of the held-out source and of no other source is treated as fitted to that
source and is switched off while that source is scored. Phrases seen in several sources, or
in none, stay: they were not learnt from the held-out files. This is conservative (a phrase
that is general but happens to occur in one source only is also dropped). The structure
rules of :mod:`~wpbridge.events.formats` (where a report's parts are) and the RFC status
code tables are not held out: they come from the RFCs and vendors' documentation.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import email
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wpbridge.events import Group  # noqa: E402
from wpbridge.events import bounces, diagnostics, formats  # noqa: E402
from wpbridge.events.bounces import ReportType, parse  # noqa: E402

OWN = ROOT / "tests" / "corpus" / "bounces_own"
HARD_FLOOR, GROUP_FLOOR = 0.95, 0.90   # leave-one-source-out targets (issue 16)


def find_corpus() -> Path | None:
    """``shared/corpora/bounces`` beside the checkout or in any parent directory."""
    for base in ROOT.parents:
        candidate = base / "shared" / "corpora" / "bounces"
        if (candidate / "labels.csv").exists():
            return candidate
    return None


# sisimai reason -> our group. Hard is only "the address itself is permanently invalid";
# whatever is the sender's doing is block, even with a 5xx; the rest is soft. The own corpus
# uses the same names, plus "delayed" (a delay notice) and "notbounce" (ordinary mail).
SISIMAI_GROUPS: dict[str, Group] = {
    "userunknown": Group.HARD,        # no such mailbox
    "hostunknown": Group.HARD,        # no such domain
    "hasmoved": Group.HARD,           # mailbox moved, no forwarding
    "notaccept": Group.HARD,          # domain accepts no mail (null MX); soft if only a 4xx
    "mailboxfull": Group.SOFT,
    "suspend": Group.SOFT,            # mailbox disabled or suspended for now
    "expired": Group.SOFT,            # gave up after retrying
    "systemerror": Group.SOFT,        # trouble at the receiving system
    "systemfull": Group.SOFT,         # the receiving system's disk is full
    "networkerror": Group.SOFT,       # DNS or connection trouble, loops
    "mesgtoobig": Group.SOFT,         # this message is too big
    "exceedlimit": Group.SOFT,        # this message exceeds a size limit
    "toomanyconn": Group.SOFT,        # too many connections or recipients: rate
    "speeding": Group.SOFT,           # rate limited
    "mailererror": Group.SOFT,        # the receiving side's delivery program failed
    "onhold": Group.SOFT,             # failed, cause not decided
    "undefined": Group.SOFT,          # failed, cause unknown
    "blocked": Group.BLOCK,           # sending IP or host refused (blocklist, rDNS, reputation)
    "spamdetected": Group.BLOCK,      # content judged spam
    "policyviolation": Group.BLOCK,   # receiver's policy
    "authfailure": Group.BLOCK,       # SPF, DKIM, DMARC
    "requireptr": Group.BLOCK,        # no reverse DNS for the sending IP
    "norelaying": Group.BLOCK,        # relaying denied
    "contenterror": Group.BLOCK,      # malformed message
    "virusdetected": Group.BLOCK,
    "securityerror": Group.BLOCK,     # authentication or TLS required, not authorised
    "badreputation": Group.BLOCK,     # sending IP or domain reputation
    "notcompliantrfc": Group.BLOCK,   # message not RFC 5322 compliant
    "syntaxerror": Group.BLOCK,       # the sending MTA broke the SMTP dialogue
    "rejected": Group.BLOCK,          # the envelope sender was refused
    "filtered": Group.BLOCK,          # the recipient's filter refused this sender/message
    "feedback": Group.COMPLAINT,      # ARF report
    "vacation": Group.AUTOREPLY,      # auto-reply
    "delivered": Group.DELIVERED,
}
# Labels that are about the whole message, not a recipient: the report type expected.
MESSAGE_LABELS = {"delayed": ReportType.DELAYED, "notbounce": ReportType.NOT_BOUNCE}


def expected_group(row: dict) -> Group | None:
    if row["reason"] in MESSAGE_LABELS:
        return None
    group = SISIMAI_GROUPS[row["reason"]]
    if row["reason"] == "notaccept" and row["hardbounce"] != "true":
        return Group.SOFT
    return group


def expected_type(row: dict) -> ReportType:
    if row["reason"] in MESSAGE_LABELS:
        return MESSAGE_LABELS[row["reason"]]
    return {"feedback": ReportType.ARF, "vacation": ReportType.AUTOREPLY}.get(row["reason"],
                                                                            ReportType.DSN)


_ENGINE = re.compile(r"^(.*?)-\d+\.eml$")


def source_of(file: str) -> str:
    m = _ENGINE.match(file)
    return m.group(1) if m else file.rsplit(".", 1)[0]


@dataclass
class Sample:
    path: Path
    rows: list[dict]
    source: str
    raw: bytes = b""


def load(corpus: Path | None, own: Path | None = OWN) -> list[Sample]:
    samples: dict[str, Sample] = {}
    for base in (corpus, own):
        if base is None or not (base / "labels.csv").exists():
            continue
        with open(base / "labels.csv", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                path = base / ("samples" if (base / "samples").is_dir() else "messages") / row["file"]
                sample = samples.setdefault(str(path), Sample(path, [], source_of(row["file"])))
                sample.rows.append(row)
    for s in samples.values():
        s.raw = s.path.read_bytes()
    return list(samples.values())


@dataclass
class Score:
    rows: int = 0
    hard: int = 0
    group: int = 0
    files: int = 0
    detected: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, other: "Score") -> None:
        self.rows += other.rows
        self.hard += other.hard
        self.group += other.group
        self.files += other.files
        self.detected += other.detected
        self.misses += other.misses

    def figures(self) -> tuple[float, float, float]:
        return (self.hard / max(self.rows, 1), self.group / max(self.rows, 1),
                self.detected / max(self.files, 1))


def score(samples: list[Sample]) -> Score:
    total = Score()
    for s in samples:
        try:
            report = parse(s.raw)
        except Exception as exc:  # a crash is a miss of every row, and shown
            report = None
            total.misses.append(f"{s.path.name}: parse raised {exc!r}")
        total.files += 1
        want_types = {expected_type(r) for r in s.rows}
        total.detected += report is not None and report.type in want_types
        for row in s.rows:
            total.rows += 1
            want_group, want_type = expected_group(row), expected_type(row)
            want_hard = row["hardbounce"] == "true"
            i = int(row["rcpt_index"] or 0)
            got = report.recipients[i] if report and i < len(report.recipients) else None
            if want_group is None:  # a delay notice or ordinary mail: no bounce at all
                hard_ok = group_ok = report is not None and report.type is want_type
            else:
                hard_ok = (got is not None and got.group is Group.HARD) == want_hard
                group_ok = got is not None and got.group is want_group and \
                    (not row.get("address") or got.address == row["address"].lower())
            total.hard += hard_ok
            total.group += group_ok
            if not (hard_ok and group_ok):
                seen = (f"{report.type} {got.address} {got.status} {got.group}/{got.reason}: "
                        f"{got.diagnostic[:90]}" if got else
                        f"{report.type if report else 'crash'}, "
                        f"{len(report.recipients) if report else 0} recipients")
                want = want_type if want_group is None else want_group
                total.misses.append(f"{s.path.name}#{i}: want {want} ({row['reason']} "
                                    f"{row.get('status', '')} {row.get('address', '')}), got {seen}")
    return total


# --- phrases and the sources they occur in ------------------------------------------------

_ALT = re.compile(r"\(\?:(.*)\)")


def phrases() -> list[tuple[str, str, str]]:
    """Every phrase of the diagnostics tables: (table, reason, pattern)."""
    out = []
    for table, rows in (("specific", diagnostics._SPECIFIC_ROWS),
                        ("generic", diagnostics._GENERIC_ROWS)):
        for reason, patterns in rows:
            out += [(table, str(reason), p) for p in patterns]
    for command, patterns in formats.SMTP_COMMAND_ROWS:
        out += [("commands", str(command), p) for p in patterns]
    return out


def _folded_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=compat32)
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace")
                         if _known_charset(part.get_content_charset()) else
                         payload.decode("utf-8", "replace"))
        elif isinstance(part.get_payload(), str):
            texts.append(part.get_payload())
    texts.append(str(msg.get("subject", "")))
    return bounces._fold("\n".join(texts))


def _known_charset(name: str | None) -> bool:
    import codecs
    try:
        codecs.lookup(name or "utf-8")
        return True
    except LookupError:
        return False


def phrase_sources(samples: list[Sample]) -> dict[tuple[str, str, str], set[str]]:
    texts = [(s.source, _folded_text(s.raw)) for s in samples]
    # the recipient-domain table is about addresses, which headers name too
    addressed = [(s.source, s.raw.partition(b"\n\n")[0].decode("utf-8", "replace").lower() + text)
                 for s, (_, text) in zip(samples, texts)]
    support: dict[tuple[str, str, str], set[str]] = {}
    for phrase in phrases():
        pattern = re.compile(phrase[2], re.I if phrase[0] == "commands" else 0)
        support[phrase] = {src for src, text in texts if pattern.search(text)}
    for domain in diagnostics.RECIPIENT_DOMAINS:
        support[("domains", "", domain)] = {src for src, text in addressed if domain in text}
    for category in diagnostics.BOUNCE_CATEGORIES:
        support[("categories", "", category)] = {src for src, text in texts
                                                 if f"x-powermta-bouncecategory: {category}" in text}
    for phrase in diagnostics._AFTER_DATA_ROWS:
        after = re.compile(phrase)
        support[("after-data", "", phrase)] = {src for src, text in texts if after.search(text)}
    return support


@contextlib.contextmanager
def without(dropped: set[tuple[str, str, str]]):
    """The parser with the ``dropped`` phrases switched off (for scoring only; it swaps
    module globals, so it is not for use while the bridge is running)."""
    def rows(table, name):
        return tuple((reason, tuple(p for p in patterns if (name, str(reason), p) not in dropped))
                     for reason, patterns in table)
    saved = (bounces.SPECIFIC, bounces.GENERIC, bounces.RECIPIENT_DOMAINS,
             bounces.BOUNCE_CATEGORIES, bounces.USER_UNKNOWN_AFTER_DATA, formats.SMTP_COMMAND)
    formats.SMTP_COMMAND = formats.compile_commands(
        (command, tuple(p for p in patterns if ("commands", str(command), p) not in dropped))
        for command, patterns in formats.SMTP_COMMAND_ROWS)
    bounces.SPECIFIC = diagnostics._compile(
        [r for r in rows(diagnostics._SPECIFIC_ROWS, "specific") if r[1]])
    bounces.GENERIC = diagnostics._compile(
        [r for r in rows(diagnostics._GENERIC_ROWS, "generic") if r[1]])
    bounces.RECIPIENT_DOMAINS = {k: v for k, v in diagnostics.RECIPIENT_DOMAINS.items()
                                 if ("domains", "", k) not in dropped}
    bounces.BOUNCE_CATEGORIES = {k: v for k, v in diagnostics.BOUNCE_CATEGORIES.items()
                                 if ("categories", "", k) not in dropped}
    bounces.USER_UNKNOWN_AFTER_DATA = diagnostics.after_data(
        [p for p in diagnostics._AFTER_DATA_ROWS if ("after-data", "", p) not in dropped])
    try:
        yield
    finally:
        (bounces.SPECIFIC, bounces.GENERIC, bounces.RECIPIENT_DOMAINS,
         bounces.BOUNCE_CATEGORIES, bounces.USER_UNKNOWN_AFTER_DATA, formats.SMTP_COMMAND) = saved


@dataclass
class Evaluation:
    in_sample: dict[str, Score]
    held_out: dict[str, Score]
    dropped: dict[str, int]

    @staticmethod
    def overall(scores: dict[str, Score], prefix: str = "") -> Score:
        total = Score()
        for source, s in scores.items():
            if source.startswith(prefix):
                total.add(s)
        return total

    @staticmethod
    def development(scores: dict[str, Score]) -> Score:
        """The development corpus alone (every source but the own messages')."""
        total = Score()
        for source, s in scores.items():
            if not source.startswith("own-"):
                total.add(s)
        return total


def evaluate(samples: list[Sample]) -> Evaluation:
    by_source: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_source[s.source].append(s)
    support = phrase_sources(samples)
    in_sample, held_out, dropped = {}, {}, {}
    for source, group in sorted(by_source.items()):
        in_sample[source] = score(group)
        fitted = {p for p, srcs in support.items() if srcs == {source}}
        dropped[source] = len(fitted)
        with without(fitted):
            held_out[source] = score(group)
    return Evaluation(in_sample, held_out, dropped)


def _line(name: str, a: Score, b: Score) -> str:
    (h1, g1, d1), (h2, g2, d2) = a.figures(), b.figures()
    return (f"{name:<28} {a.rows:>5} {h1:>8.1%} {g1:>7.1%} {d1:>7.1%}   "
            f"{h2:>8.1%} {g2:>7.1%} {d2:>7.1%}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--own", type=Path, default=OWN)
    ap.add_argument("--sources", action="store_true", help="print every source's figures")
    ap.add_argument("--misses", action="store_true", help="print the in-sample misses too")
    args = ap.parse_args()
    corpus = args.corpus or find_corpus()
    samples = load(corpus, args.own)
    if not samples:
        print("no labelled bounces found (shared/corpora/bounces, tests/corpus/bounces_own)",
              file=sys.stderr)
        return 1
    ev = evaluate(samples)
    head = (f"{'':<28} {'rows':>5} {'hard/soft':>8} {'group':>7} {'detect':>7}   "
            f"{'hard/soft':>8} {'group':>7} {'detect':>7}")
    print(f"{'':<34}{'in-sample':^26}   {'leave-one-source-out':^26}")
    print(head)
    if args.sources:
        for source in ev.in_sample:
            print(_line(f"{source} (-{ev.dropped[source]})", ev.in_sample[source],
                        ev.held_out[source]))
    own = {s for s in ev.in_sample if s.startswith("own-")}
    dev = set(ev.in_sample) - own
    for name, keys in (("development corpus", dev), ("own corpus", own),
                       ("all", dev | own)):
        a, b = Score(), Score()
        for k in sorted(keys):
            a.add(ev.in_sample[k])
            b.add(ev.held_out[k])
        print(_line(f"{name} ({len(keys)} sources)", a, b))
    total_out = Evaluation.overall(ev.held_out)
    total_in = Evaluation.overall(ev.in_sample)
    if args.misses:
        print(f"\nin-sample misses ({len(total_in.misses)}):")
        print("\n".join("  " + m for m in total_in.misses))
    extra = [m for m in total_out.misses if m not in total_in.misses]
    print(f"\nleave-one-source-out misses ({len(total_out.misses)}; "
          f"{len(extra)} more than in-sample):")
    print("\n".join("  " + m for m in total_out.misses))
    ok = True
    print()
    for name, total in (("development corpus", Evaluation.development(ev.held_out)),
                        ("with own messages", total_out)):
        hard, group, _ = total.figures()
        fine = hard >= HARD_FLOOR and group >= GROUP_FLOOR
        ok = ok and fine
        print(f"leave-one-source-out, {name}: hard/soft {hard:.1%} (floor {HARD_FLOOR:.0%}), "
              f"group {group:.1%} (floor {GROUP_FLOOR:.0%}): {'ok' if fine else 'BELOW FLOOR'}")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
