"""DNS checks of a sending domain: SPF, DKIM, DMARC, the bounce domain's MX and reverse DNS,
each a :class:`Finding` with a level and, where one exists, the exact record to add or
change.

What is checked where, as receivers do it:

- SPF (RFC 7208) at the envelope sender's (Return-Path) domain, not at the From domain:
  present once, well formed, authorising each route's provider (:data:`PROVIDERS`), within
  10 DNS-querying terms counted through every include and redirect, ending in ``~all`` or
  ``-all``.
- DKIM (RFC 6376) at ``<selector>._domainkey.<domain>``: published and equal to the
  bridge's key, or delegated by CNAME to a provider that signs.
- DMARC (RFC 7489) at ``_dmarc.<domain>``, else up the tree; the Organizational Domain
  that relaxed alignment compares is found with DMARCbis's DNS tree walk rather than a
  public suffix list. Alignment of the DKIM and Return-Path domains with the From domain.
- MX of each bounce (Return-Path) domain, so that bounces reach the bridge.

Plain dnspython: checkdmarc would bring a dozen dependencies, its own resolver set-up
(no port, so no test server on loopback) and reports shaped for people, not records to add.
Answers are cached by their TTL in the resolver's cache.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

import dns.exception
import dns.name
import dns.resolver
import dns.reversename

OK, WARNING, ERROR = "ok", "warning", "error"
_RANK = {OK: 0, WARNING: 1, ERROR: 2}
SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4


@dataclass(frozen=True)
class ProviderDns:
    spf_include: str  # the include: that authorises the provider's servers
    hosts: tuple[str, ...]  # its SMTP hosts end with one of these
    also: tuple[str, ...] = ()  # older includes that authorise the same servers


# Keyed like relay.providers.PRESETS (``ALIASES`` maps the preset names that differ).
PROVIDERS = {
    "sendgrid": ProviderDns("sendgrid.net", ("sendgrid.net",)),
    "ses": ProviderDns("amazonses.com", ("amazonaws.com",)),
    "mailgun": ProviderDns("mailgun.org", ("mailgun.org",)),
    "google": ProviderDns("_spf.google.com", ("gmail.com", "google.com")),
    "postmark": ProviderDns("spf.mtasv.net", ("postmarkapp.com",)),
    "brevo": ProviderDns("spf.brevo.com", ("brevo.com", "sendinblue.com"), ("spf.sendinblue.com",)),
}
ALIASES = {"google-workspace": "google", "mailgun-eu": "mailgun"}
# Where a DKIM selector delegated by CNAME points -> who signs (for messages only).
DKIM_DELEGATES = {"sendgrid.net": "SendGrid", "amazonses.com": "Amazon SES",
                  "mailgun.org": "Mailgun", "mailgun.com": "Mailgun", "mtasv.net": "Postmark",
                  "brevo.com": "Brevo", "sendinblue.com": "Brevo", "google.com": "Google"}


class LookupFailed(Exception):
    """DNS gave no usable answer (timeout, SERVFAIL): nothing can be said about the record."""


# -- results ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """A DNS record to add (``action="add"``) or to put in place of what is there."""

    name: str
    type: str
    value: str
    action: str = "add"  # add | change

    def zone_line(self) -> str:
        if self.type == "TXT":
            # A TXT string holds at most 255 characters; longer texts are split (RSA keys).
            value = " ".join(f'"{self.value[i:i + 255]}"' for i in range(0, len(self.value), 255))
        else:
            value = self.value
        return f"{self.name}. 3600 IN {self.type} {value}"


@dataclass(frozen=True)
class Finding:
    check: str  # domain | spf | dkim | dmarc | alignment | mx | rdns
    level: str  # ok | warning | error
    message: str
    fix: Record | None = None
    found: str | None = None  # what is published now
    answered: bool = True  # False: DNS did not answer (timeout, SERVFAIL), no verdict


@dataclass(frozen=True)
class CheckResult:
    domain: str
    findings: tuple[Finding, ...]
    # The DMARC policy that applies to mail from the domain; None: no valid DMARC record.
    dmarc_policy: str | None
    # Checks whose records DNS did not answer for (timeout, SERVFAIL): no verdict on them.
    unresolved: frozenset[str] = frozenset()
    checked_at: float = field(default_factory=time.time)
    # How long this result may be reused: the shortest TTL seen, sooner when something
    # needs fixing so that the fix shows up soon.
    ttl: float = 300.0
    # Whether DNS knows the domain at all: False when it answered NXDOMAIN for the name
    # itself (a typo, or a resolver that does not see the Internet's DNS); None: no answer.
    exists: bool | None = True

    @property
    def level(self) -> str:
        return max((f.level for f in self.findings), key=_RANK.__getitem__, default=OK)

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    def to_dict(self) -> dict:
        return {"domain": self.domain, "level": self.level, "dmarc_policy": self.dmarc_policy,
                "unresolved": sorted(self.unresolved), "checked_at": self.checked_at,
                "exists": self.exists,
                "findings": [{**asdict(f), "fix": None if f.fix is None else
                              {**asdict(f.fix), "zone_line": f.fix.zone_line()}}
                             for f in self.findings]}


@dataclass(frozen=True)
class Sending:
    """One way mail of the domain leaves: the envelope sender's domain (Return-Path, where
    SPF is looked up) and the provider whose servers SPF must authorise (a
    :data:`PROVIDERS` key; None when unknown: a plain SMTP server or the outbox)."""

    return_path: str
    provider: str | None = None


@dataclass(frozen=True)
class DkimExpect:
    """A selector to check. With ``public_key`` it must publish exactly that key (the
    bridge's); without, any valid key (a provider's selector)."""

    selector: str
    public_key: str | None = None
    algorithm: str | None = None  # ed25519-sha256 | rsa-sha256
    domain: str | None = None  # the d= domain; default: the checked domain
    pending: bool = False  # not signing yet: a missing record is a step to do, not a failure


def provider_key(name: str | None, host: str | None = None) -> str | None:
    """A preset name or SMTP host -> the :data:`PROVIDERS` key; None when not known."""
    if name:
        name = ALIASES.get(name.lower(), name.lower())
        if name in PROVIDERS:
            return name
    host = (host or "").lower().rstrip(".")
    for key, p in PROVIDERS.items():
        if any(host == h or host.endswith("." + h) for h in p.hosts):
            return key
    return None


def sendings_for(settings, site_name: str, domain: str) -> list[Sending]:
    """The ways the site's routes send mail from ``domain``: every provider of every
    category's route (fallbacks too), with the route's return path."""
    from wpbridge.route import CATEGORIES, route_for

    out: list[Sending] = []
    for category in CATEGORIES:
        route = route_for(settings, site_name, category)
        rp = route.return_path or domain
        rp = rp.rpartition("@")[2].lower().rstrip(".")
        for name in route.providers:
            config = settings.providers.get(name)
            key = provider_key(name if config is None else None, config.host if config else None)
            if Sending(rp, key) not in out:
                out.append(Sending(rp, key))
    return out


# -- DNS --------------------------------------------------------------------------------

def make_resolver(nameservers: Sequence[str] | None = None, port: int = 53,
                  timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver with a TTL cache: the system's configuration, or ``nameservers`` at ``port``.

    :raise LookupFailed: no nameservers given and none configured on this machine.
    """
    try:
        resolver = dns.resolver.Resolver(configure=not nameservers)
    except dns.resolver.NoResolverConfiguration as exc:
        raise LookupFailed(f"this machine has no DNS resolver configured ({exc}); "
                           "give one with --nameserver") from None
    if nameservers:
        resolver.nameservers = list(nameservers)
    resolver.port = port
    resolver.lifetime = timeout
    resolver.cache = dns.resolver.Cache()
    return resolver


class Lookups:
    """One check's DNS queries: answers as text, the shortest TTL seen."""

    def __init__(self, resolver: dns.resolver.Resolver):
        self.resolver = resolver
        self.min_ttl = 3600.0

    def query(self, name: str, rdtype: str) -> tuple[list, str]:
        """(rdatas, canonical name); ([], name) when the name or the type does not exist.

        :raise LookupFailed: timeout, SERVFAIL, refused.
        """
        try:
            answer = self.resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return [], name
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"{rdtype} {name}: {type(exc).__name__}: {exc}") from None
        if answer.rrset is None:
            return [], name
        self.min_ttl = min(self.min_ttl, answer.rrset.ttl)
        return list(answer.rrset), answer.canonical_name.to_text(omit_final_dot=True)

    def exists(self, name: str) -> bool | None:
        """False when DNS says the name does not exist (NXDOMAIN: no record of any type at
        it or below it); None when DNS did not answer."""
        try:
            self.resolver.resolve(name, "A", raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return False
        except dns.exception.DNSException:
            return None
        return True

    def txt(self, name: str) -> tuple[list[str], str]:
        rdatas, canonical = self.query(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", "replace") for r in rdatas], canonical


def _tags(text: str) -> dict[str, str]:
    """A DKIM/DMARC tag list ``a=b; c=d`` -> {"a": "b", "c": "d"} (names lower-cased)."""
    tags = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), "".join(value.split()) if name.strip().lower() == "p"
                            else value.strip())
    return tags


# -- SPF --------------------------------------------------------------------------------

_SPF_MECHANISM = re.compile(r"^([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?:[:/](.*))?$", re.I)
_SPF_MODIFIER = re.compile(r"^([a-z][a-z0-9_.-]*)=(.*)$", re.I)
_QUERYING = {"include", "a", "mx", "ptr", "exists"}


def _spf_records(texts: Iterable[str]) -> list[str]:
    return [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


@dataclass
class _SpfWalk:
    lookups: int = 0
    reached: set[str] = field(default_factory=set)  # domains reached by include/redirect
    problems: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


def _walk_spf(lookups: Lookups, record: str, domain: str, walk: _SpfWalk, path: frozenset[str]) -> None:
    """Count the DNS-querying terms of ``record`` and of everything it includes, as often
    as a receiver evaluates them (an include reached twice counts twice)."""
    redirect, has_all = None, False
    for term in record.split()[1:]:
        m = _SPF_MECHANISM.match(term)
        if m:
            mechanism, arg = m.group(2).lower(), (m.group(3) or "").lower().rstrip(".")
            has_all |= mechanism == "all"
            if mechanism in _QUERYING:
                walk.lookups += 1
            if mechanism == "include":
                if not arg:
                    walk.problems.append(f"{domain}: {term!r} names no domain")
                else:
                    _follow(lookups, arg, walk, path, f"include:{arg}")
            continue
        m = _SPF_MODIFIER.match(term)
        if m:
            if m.group(1).lower() == "redirect":
                redirect = m.group(2).lower().rstrip(".")
            continue  # unknown modifiers are ignored (RFC 7208 6)
        walk.problems.append(f"{domain}: {term!r} is not an SPF term")
    if redirect and not has_all:  # redirect= is ignored when there is an all
        walk.lookups += 1
        _follow(lookups, redirect, walk, path, f"redirect={redirect}")


def _follow(lookups: Lookups, target: str, walk: _SpfWalk, path: frozenset[str], term: str) -> None:
    walk.reached.add(target)
    if target in path:
        walk.problems.append(f"{term} loops back to a record that includes it")
        return
    # Macros expand per message; past the limit, counting further adds nothing.
    if "%" in target or walk.lookups > 2 * SPF_LOOKUP_LIMIT:
        return
    try:
        records = _spf_records(lookups.txt(target)[0])
    except LookupFailed as exc:
        walk.unresolved.append(str(exc))
        return
    if len(records) != 1:
        walk.problems.append(f"{term} points to {target}, which has "
                             f"{'no' if not records else len(records)} SPF record"
                             f"{'' if len(records) == 1 else 's'} (a permanent error for every receiver)")
        return
    _walk_spf(lookups, records[0], target, walk, path | {target})


def _authorises(provider: ProviderDns, walk: _SpfWalk) -> bool:
    return bool({provider.spf_include, *provider.also} & walk.reached)


def _with_includes(record: str, includes: list[str]) -> str:
    """``record`` with ``include:`` terms put before its all (or redirect) term."""
    terms = record.split()
    at = next((i for i, t in enumerate(terms) if i and (
        (_SPF_MECHANISM.match(t) and _SPF_MECHANISM.match(t).group(2).lower() == "all")
        or t.lower().startswith("redirect="))), len(terms))
    return " ".join(terms[:at] + [f"include:{i}" for i in includes] + terms[at:])


def check_spf(lookups: Lookups, domain: str, providers: Sequence[str | None]) -> list[Finding]:
    """Findings for the SPF record of an envelope-sender domain."""
    wanted = [PROVIDERS[p] for p in dict.fromkeys(providers) if p in PROVIDERS]
    includes = [p.spf_include for p in wanted]
    try:
        records = sorted(_spf_records(lookups.txt(domain)[0]))
    except LookupFailed as exc:
        return [Finding("spf", WARNING, f"could not look up the SPF record of {domain} ({exc}); "
                        "checked again later", answered=False)]
    if not records:
        value = " ".join(["v=spf1"] + [f"include:{i}" for i in includes] + ["~all"])
        return [Finding(
            "spf", ERROR, f"{domain} has no SPF record: receivers cannot tell which servers may "
            f"send its mail" + ("" if includes else "; add one naming the servers your mail "
                                "leaves from"),
            Record(domain, "TXT", value) if includes else None)]
    if len(records) > 1:
        terms = [t for r in records for t in r.split()[1:]
                 if not (t.lower().lstrip("+-~?") == "all" or t.lower().startswith("redirect="))]
        merged = " ".join(["v=spf1", *dict.fromkeys(terms), "~all"])
        return [Finding("spf", ERROR, f"{domain} has {len(records)} SPF records; receivers treat "
                        "that as a permanent error (SPF fails for all mail): merge them into one",
                        Record(domain, "TXT", merged, "change"), " | ".join(records))]
    record = records[0]
    walk = _SpfWalk()
    _walk_spf(lookups, record, domain, walk, frozenset({domain}))
    findings = []
    for problem in walk.problems:
        findings.append(Finding("spf", ERROR, f"SPF of {domain}: {problem}", found=record))
    for problem in walk.unresolved:
        findings.append(Finding("spf", WARNING, f"SPF of {domain}: could not follow {problem}; "
                                "checked again later", found=record, answered=False))
    missing = [p.spf_include for p in wanted if not _authorises(p, walk)]
    if missing:
        names = ", ".join(k for k, p in PROVIDERS.items() if p.spf_include in missing)
        findings.append(Finding(
            "spf", ERROR, f"the SPF record of {domain} does not authorise {names}, which sends "
            f"its mail: add include:{' include:'.join(missing)}",
            Record(domain, "TXT", _with_includes(record, missing), "change"), record))
    if walk.lookups > SPF_LOOKUP_LIMIT:
        findings.append(Finding(
            "spf", ERROR, f"the SPF record of {domain} needs {walk.lookups} DNS lookups (counting "
            f"its includes); receivers stop at {SPF_LOOKUP_LIMIT} and fail SPF for all mail: remove "
            "includes of services you no longer use, or replace them by their ip4:/ip6: ranges",
            found=record))
    qualifier = next((t[0] if t[0] in "+-~?" else "+" for t in record.split()[1:]
                      if t.lower().lstrip("+-~?") == "all"), None)
    if qualifier == "+":
        findings.append(Finding("spf", ERROR, f"the SPF record of {domain} ends in +all: every "
                                "server on the Internet may send as it; end it with ~all",
                                Record(domain, "TXT", re.sub(r"(?i)\s\+?all\b", " ~all", record),
                                       "change"), record))
    elif qualifier == "?" or (qualifier is None and "redirect=" not in record.lower()):
        findings.append(Finding("spf", WARNING, f"the SPF record of {domain} says nothing about "
                                "other servers (no ~all or -all); end it with ~all",
                                Record(domain, "TXT", re.sub(r"(?i)\s\?all\b", "", record) + " ~all",
                                       "change"), record))
    if not findings:
        findings.append(Finding("spf", OK, f"SPF of {domain} is valid ({walk.lookups} of "
                                f"{SPF_LOOKUP_LIMIT} DNS lookups)"
                                + (f" and authorises {', '.join(includes)}" if includes else ""),
                                found=record))
    return findings


# -- DKIM -------------------------------------------------------------------------------

def _key_problem(tags: dict[str, str]) -> str | None:
    """Why a published DKIM key record cannot verify anything; None when it can."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    if tags.get("v", "DKIM1") != "DKIM1":
        return f"v={tags['v']} is not DKIM1"
    if "p" not in tags:
        return "it has no p= (public key)"
    if not tags["p"]:
        return "its key is revoked (empty p=)"
    try:
        der = base64.b64decode(tags["p"], validate=True)
    except ValueError:
        return "p= is not base64"
    k = tags.get("k", "rsa").lower()
    if k == "ed25519":
        return None if len(der) == 32 else "p= is not a 32-byte Ed25519 key"
    if k != "rsa":
        return f"k={k} is not a key type receivers know (rsa, ed25519)"
    try:
        key = load_der_public_key(der)
    except ValueError:
        return "p= is not an RSA public key"
    return None if getattr(key, "key_size", 0) >= 1024 else "the RSA key is shorter than 1024 bits"


def _delegate(target: str) -> str:
    return next((who for suffix, who in DKIM_DELEGATES.items()
                 if target == suffix or target.endswith("." + suffix)), target)


def check_dkim(lookups: Lookups, domain: str, expect: DkimExpect) -> Finding:
    from wpbridge.auth.dkim import record_name, txt_record

    d = expect.domain or domain
    name = record_name(expect.selector, d)
    ours = (Record(name, "TXT", txt_record(expect.algorithm, expect.public_key))
            if expect.public_key else None)
    try:
        texts, canonical = lookups.txt(name)
    except LookupFailed as exc:
        return Finding("dkim", WARNING, f"could not look up DKIM selector {expect.selector} "
                       f"({exc}); checked again later", answered=False)
    delegated = canonical.lower() != name.lower()
    via = f" (delegated by CNAME to {canonical}, {_delegate(canonical)})" if delegated else ""
    records = [t for t in texts if "p=" in t]
    if not records:
        if expect.pending:
            return Finding("dkim", WARNING, f"DKIM key {expect.selector} is not published yet: add "
                           f"the record, then 'wpbridge dkim activate' lets it sign", ours)
        return Finding("dkim", ERROR, f"DKIM selector {expect.selector} of {d} is not published"
                       f"{via}: receivers cannot verify mail signed with it", ours)
    found = records[0]
    tags = _tags(found)
    problem = _key_problem(tags)
    if problem:
        return Finding("dkim", ERROR, f"the DKIM record {name}{via} cannot verify signatures: "
                       f"{problem}", ours and Record(**{**asdict(ours), "action": "change"}), found)
    if not expect.public_key:
        return Finding("dkim", OK, f"DKIM selector {expect.selector} of {d} is published{via}", found=found)
    k = tags.get("k", "rsa").lower()
    if tags["p"] == expect.public_key and k == ("ed25519" if expect.algorithm == "ed25519-sha256" else "rsa"):
        return Finding("dkim", OK, f"DKIM selector {expect.selector} of {d} publishes the bridge's "
                       f"key{via}", found=found)
    if delegated:
        return Finding("dkim", ERROR, f"DKIM selector {expect.selector} of {d} is delegated by CNAME "
                       f"to {canonical} ({_delegate(canonical)}), whose key is not the bridge's: "
                       f"replace the CNAME with the record below, or generate a key with another "
                       "selector", Record(name, "TXT", ours.value, "change"), found)
    return Finding("dkim", ERROR, f"DKIM selector {expect.selector} of {d} publishes another key "
                   "than the bridge signs with: receivers fail the signature; replace the record",
                   Record(name, "TXT", ours.value, "change"), found)


# -- DMARC ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dmarc:
    found_at: str  # the domain whose _dmarc record this is
    tags: dict

    @property
    def policy(self) -> str:
        return self.tags["p"]


def _walk_names(domain: str) -> list[str]:
    """DMARCbis tree walk: the domain itself, then its ancestors of at most 7 labels."""
    labels = domain.split(".")
    return [domain] + [".".join(labels[i:]) for i in range(max(1, len(labels) - 7), len(labels))]


def _dmarc_at(lookups: Lookups, domain: str) -> tuple[Dmarc | None, str | None]:
    """(valid record, problem) at ``_dmarc.<domain>``."""
    texts = [t for t in lookups.txt(f"_dmarc.{domain}")[0] if t.lower().startswith("v=dmarc1")]
    if not texts:
        return None, None
    if len(texts) > 1:
        return None, f"_dmarc.{domain} has {len(texts)} DMARC records; receivers then apply none"
    tags = _tags(texts[0])
    if tags.get("p", "").lower() not in ("none", "quarantine", "reject"):
        return None, f"_dmarc.{domain} has no valid p= (none, quarantine or reject): {texts[0]!r}"
    tags = {k: v.lower() if k in ("p", "sp", "adkim", "aspf", "psd") else v for k, v in tags.items()}
    return Dmarc(domain, tags), None


class _Dmarcs:
    def __init__(self, lookups: Lookups):
        self.lookups = lookups
        self._seen: dict[str, tuple[Dmarc | None, str | None]] = {}

    def at(self, domain: str) -> tuple[Dmarc | None, str | None]:
        if domain not in self._seen:
            self._seen[domain] = _dmarc_at(self.lookups, domain)
        return self._seen[domain]

    def policy_record(self, domain: str) -> tuple[Dmarc | None, list[str]]:
        """The record that applies to mail from ``domain``: the first one up the tree."""
        problems = []
        for name in _walk_names(domain):
            record, problem = self.at(name)
            if problem:
                problems.append(problem)
            if record:
                return record, problems
        return None, problems

    def organizational_domain(self, domain: str) -> str:
        """DMARCbis: the highest record found walking up, unless a psd= tag says otherwise."""
        names = _walk_names(domain)
        found = None
        for i, name in enumerate(names):
            record = self.at(name)[0]
            if record is None:
                continue
            if record.tags.get("psd") == "n":
                return name
            if record.tags.get("psd") == "y":
                return names[i - 1] if i else name
            found = name
        return found or domain


def _aligned(a: str, b: str, mode: str, dmarcs: _Dmarcs) -> bool:
    if a == b:
        return True
    return mode != "s" and dmarcs.organizational_domain(a) == dmarcs.organizational_domain(b)


# -- MX and reverse DNS -----------------------------------------------------------------

def check_mx(lookups: Lookups, domain: str, mx_host: str | None = None) -> Finding:
    """Bounces to the Return-Path domain must be able to arrive (at ``mx_host``, if given)."""
    try:
        rdatas, _ = lookups.query(domain, "MX")
    except LookupFailed as exc:
        return Finding("mx", WARNING, f"could not look up the MX of {domain} ({exc}); "
                       "checked again later", answered=False)
    hosts = sorted((r.preference, "" if r.exchange == dns.name.root else
                    r.exchange.to_text(omit_final_dot=True).lower()) for r in rdatas)
    fix = Record(domain, "MX", f"10 {mx_host}.") if mx_host else None
    if not hosts:
        return Finding("mx", WARNING, f"{domain} has no MX record: bounces sent to it may not "
                       "arrive, and some receivers refuse envelope senders without one", fix)
    if hosts == [(0, "")]:
        return Finding("mx", ERROR, f"{domain} refuses all mail (null MX, RFC 7505): bounces to it "
                       "are lost; give it a real MX", fix and Record(**{**asdict(fix), "action": "change"}),
                       "0 .")
    found = ", ".join(f"{p} {h}" for p, h in hosts)
    if mx_host and mx_host.lower().rstrip(".") not in {h for _, h in hosts}:
        return Finding("mx", WARNING, f"the MX of {domain} does not point to {mx_host}: bounces "
                       "go elsewhere and the bridge does not see them",
                       Record(**{**asdict(fix), "action": "change"}), found)
    return Finding("mx", OK, f"bounces to {domain} are received by {found}", found=found)


def check_reverse_dns(lookups: Lookups, ip: str) -> Finding:
    """A sending IP needs a PTR whose name resolves back to it (forward-confirmed)."""
    try:
        address = ipaddress.ip_address(ip)
        rdatas, _ = lookups.query(dns.reversename.from_address(ip).to_text(), "PTR")
    except ValueError:
        return Finding("rdns", ERROR, f"{ip!r} is not an IP address")
    except LookupFailed as exc:
        return Finding("rdns", WARNING, f"could not look up the reverse DNS of {ip} ({exc})",
                       answered=False)
    if not rdatas:
        return Finding("rdns", ERROR, f"{ip} has no reverse DNS (PTR): Gmail, Yahoo and Microsoft "
                       "refuse or junk mail from it; ask whoever runs the address (the hosting "
                       "company) to set a PTR to the server's host name")
    names = [r.target.to_text(omit_final_dot=True) for r in rdatas]
    for name in names:
        try:
            addrs = lookups.query(name, "A" if address.version == 4 else "AAAA")[0]
        except LookupFailed:
            continue
        if any(ipaddress.ip_address(a.address) == address for a in addrs):
            return Finding("rdns", OK, f"{ip} has forward-confirmed reverse DNS: {name}", found=name)
    return Finding("rdns", ERROR, f"{ip} has reverse DNS {', '.join(names)}, but that name does not "
                   f"resolve back to {ip}: point the PTR to the server's host name, and that name "
                   f"to {ip}", found=", ".join(names))


# -- the whole check --------------------------------------------------------------------

def check_domain(domain: str, resolver: dns.resolver.Resolver, *,
                 sendings: Sequence[Sending] = (), dkim: Sequence[DkimExpect] = (),
                 mx_host: str | None = None, ips: Sequence[str] = ()) -> CheckResult:
    """Check everything receivers look up for mail from ``domain``.

    ``sendings`` default to one provider-less sending with ``domain`` as Return-Path; ``dkim``
    are the selectors to check (the bridge's keys of the domain, provider selectors).
    """
    domain = domain.lower().rstrip(".")
    lookups = Lookups(resolver)
    sendings = list(sendings) or [Sending(domain)]
    findings: list[Finding] = []
    exists = lookups.exists(domain)
    if exists is False:
        findings.append(Finding("domain", ERROR, f"DNS says {domain} does not exist (NXDOMAIN): "
                                "receivers refuse mail from a domain they cannot find. Check the "
                                "spelling of the sending domain, that it is registered, and that "
                                "the DNS server the bridge asks sees the Internet's DNS"))

    by_return_path: dict[str, list[str | None]] = {}
    for s in sendings:
        by_return_path.setdefault(s.return_path.lower().rstrip("."), []).append(s.provider)
    for rp, providers in by_return_path.items():
        findings += check_spf(lookups, rp, providers)

    dkim_ok: list[str] = []  # d= domains with a published key that signs
    for expect in dkim:
        finding = check_dkim(lookups, domain, expect)
        findings.append(finding)
        if finding.level == OK and not expect.pending:
            dkim_ok.append(expect.domain or domain)
    signing = [e for e in dkim if e.public_key and not e.pending]
    if signing and all(e.algorithm == "ed25519-sha256" for e in signing):
        findings.append(Finding("dkim", WARNING, f"{domain} is signed with Ed25519 only; not every "
                                "receiver verifies Ed25519 signatures yet (RFC 8463), and to those "
                                "the mail is unsigned: add an RSA key ('wpbridge dkim generate "
                                f"--site SITE --domain {domain} --algorithm rsa')"))
    if not dkim:
        findings.append(Finding("dkim", WARNING, f"the bridge has no DKIM key for {domain}, so its "
                                "mail is signed only if the provider signs it: create one with "
                                f"'wpbridge dkim generate --site SITE --domain {domain}'"))

    dmarcs = _Dmarcs(lookups)
    policy = None
    suggested = Record(f"_dmarc.{domain}", "TXT", f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}")
    try:
        record, problems = dmarcs.policy_record(domain)
    except LookupFailed as exc:
        record, problems = None, []
        findings.append(Finding("dmarc", WARNING, f"could not look up the DMARC record of {domain} "
                                f"({exc}); checked again later", answered=False))
    for problem in problems:
        findings.append(Finding("dmarc", ERROR, problem, Record(**{**asdict(suggested), "action": "change"})
                                if problem.startswith(f"_dmarc.{domain} ") else None))
    if record is None and not problems and all(f.answered for f in findings if f.check == "dmarc"):
        findings.append(Finding(
            "dmarc", ERROR, f"{domain} has no DMARC record: Gmail, Yahoo and Microsoft reject bulk "
            "mail without one. Start with p=none (reports only; rua= is the mailbox that "
            "receives them), then move to quarantine or reject once the reports show your mail "
            "passing", suggested))
    if record is not None:
        inherited = record.found_at != domain
        policy = record.tags.get("sp", record.policy) if inherited else record.policy
        where = f" (from _dmarc.{record.found_at})" if inherited else ""
        raw = "; ".join(f"{k}={v}" for k, v in record.tags.items())
        if policy == "none":
            findings.append(Finding(
                "dmarc", WARNING, f"the DMARC policy of {domain} is p=none{where}: reports only, "
                "mail forged in its name is still delivered; once reports show your mail passing, "
                "move to p=quarantine, then p=reject", found=raw))
        else:
            findings.append(Finding("dmarc", OK, f"the DMARC policy of {domain} is p={policy}{where}",
                                    found=raw))
        adkim, aspf = record.tags.get("adkim", "r"), record.tags.get("aspf", "r")
        try:
            dkim_aligned = [d for d in dkim_ok if _aligned(d, domain, adkim, dmarcs)]
            spf_misaligned = [rp for rp in by_return_path if not _aligned(rp, domain, aspf, dmarcs)]
        except LookupFailed as exc:
            findings.append(Finding("alignment", WARNING, f"could not check alignment ({exc})",
                                    answered=False))
        else:
            mode = {"s": "strict", "r": "relaxed"}
            for rp in spf_misaligned:
                level = WARNING if dkim_aligned else ERROR
                findings.append(Finding(
                    "alignment", level, f"the Return-Path domain {rp} does not align with {domain} "
                    f"({mode.get(aspf, 'relaxed')} SPF alignment), so SPF cannot pass DMARC"
                    + ("; DMARC relies on the DKIM signature alone" if dkim_aligned else
                       " and no aligned DKIM key is published: DMARC fails. Publish the bridge's "
                       f"DKIM key, or use a return path under {domain} in the route")))
            for d in dkim_ok:
                if d not in dkim_aligned:
                    findings.append(Finding(
                        "alignment", ERROR if spf_misaligned and not dkim_aligned else WARNING,
                        f"the DKIM domain {d} does not align with {domain} under adkim=s; sign "
                        f"with a key of {domain} itself ('wpbridge dkim generate --domain {domain}')"))
            if dkim_aligned and not spf_misaligned:
                findings.append(Finding("alignment", OK, f"SPF and DKIM both align with {domain}"))
            elif not spf_misaligned and not dkim_ok:
                findings.append(Finding("alignment", OK, "the Return-Path domain aligns with "
                                        f"{domain}: DMARC passes when SPF passes"))

    for rp in by_return_path:
        findings.append(check_mx(lookups, rp, mx_host))
    for ip in ips:
        findings.append(check_reverse_dns(lookups, ip))

    ttl = lookups.min_ttl
    if any(f.level != OK for f in findings):
        ttl = min(ttl, 300.0)
    unresolved = frozenset(f.check for f in findings if not f.answered)
    return CheckResult(domain, tuple(findings), policy, unresolved, ttl=max(60.0, ttl), exists=exists)


class CheckCache:
    """Check results by key, reused while their TTL lasts: one check of a domain serves
    every message from it until its records may have changed."""

    def __init__(self):
        self._results: dict[object, tuple[float, CheckResult]] = {}

    def get(self, key, compute) -> CheckResult:
        now = time.monotonic()
        hit = self._results.get(key)
        if hit and now < hit[0]:
            return hit[1]
        result = compute()
        self._results[key] = (now + result.ttl, result)
        return result


def hold_reason(check_result: CheckResult, category: str, allow_without_dmarc: bool) -> str | None:
    """Why a message must be held rather than sent; None to send it.

    Bulk mail from a domain without a valid DMARC record is held, since Gmail, Yahoo and
    Microsoft reject it anyway, unless the site allows it. A DMARC lookup that failed (DNS
    trouble) is no verdict: mail is not held for it; nor is a domain DNS says does not
    exist at all, which points to the resolver (or a typo), not to a missing record.
    """
    if category != "bulk" or allow_without_dmarc:
        return None
    if "dmarc" in check_result.unresolved or check_result.dmarc_policy is not None:
        return None
    if check_result.exists is not True:
        return None
    fixes = [f.fix for f in check_result.of("dmarc") if f.fix is not None]
    add = f"add the DNS record {fixes[0].zone_line()}" if fixes else "publish a DMARC record"
    return (f"held: bulk mail from {check_result.domain} needs a DMARC record (Gmail, Yahoo and "
            f"Microsoft reject bulk mail without one); {add}, or allow bulk mail without DMARC "
            "in the site's settings")


def expectations(rows, domain: str) -> list[DkimExpect]:
    """The bridge's keys (``DkimKey`` rows of one site) that sign mail from ``domain``: those
    of the domain, else of its nearest parent that has keys, as the signer chooses."""
    by_domain: dict[str, list] = {}
    for row in rows:
        by_domain.setdefault(row.domain, []).append(row)
    d = domain
    while "." in d:
        if d in by_domain:
            return [DkimExpect(r.selector, r.public_key, r.algorithm, r.domain, pending=not r.active)
                    for r in sorted(by_domain[d], key=lambda r: r.id)]
        d = d.partition(".")[2]
    return []


def check_site_domain(session, settings, site_name: str, domain: str,
                      resolver: dns.resolver.Resolver, **kwargs) -> CheckResult:
    """:func:`check_domain` for one of a site's sending domains, with the site's DKIM keys
    and the providers and return paths of its routes."""
    from sqlalchemy import select

    from wpbridge import sites
    from wpbridge.models import DkimKey

    site = sites.get(session, site_name)
    rows = session.scalars(select(DkimKey).where(DkimKey.site_id == site.id)).all()
    return check_domain(domain, resolver, sendings=sendings_for(settings, site.name, domain),
                        dkim=expectations(rows, domain), **kwargs)
