"""SPF, DKIM and DMARC checks against a real authoritative DNS server on loopback, queried
through dnspython's resolver as the bridge queries the Internet's DNS."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.dns_server import DnsServer, txt_strings
from tests.smtp_sink import free_port
from wpbridge.auth import dkim, dns_check
from wpbridge.auth.cli import dkim_command, dns_command
from wpbridge.auth.dns_check import ERROR, OK, WARNING, DkimExpect, Sending, check_domain, hold_reason

ED_KEY = dkim.new_private_key("ed25519")
RSA_KEY = dkim.new_private_key("rsa")
OTHER_KEY = dkim.new_private_key("ed25519")  # published by mistake
PROVIDER_KEY = dkim.new_private_key("rsa")  # the provider's own key behind a CNAME
ED_PUB, RSA_PUB = dkim.public_key_b64(ED_KEY), dkim.public_key_b64(RSA_KEY)


def dkim_txt(key, algorithm) -> str:
    return txt_strings(dkim.txt_record(algorithm, dkim.public_key_b64(key)))


ZONE = f"""
; Providers, as the real ones publish them (addresses from documentation ranges).
sendgrid.net. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ~all"
_spf.google.com. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 ~all"
amazonses.com. 300 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
s1.domainkey.u17.wl.sendgrid.net. 300 IN TXT {dkim_txt(PROVIDER_KEY, dkim.RSA)}

; good.test: everything right.
good.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
good.test. 300 IN TXT "google-site-verification=abc"
good.test. 300 IN MX 10 mx.good.test.
bounces.good.test. 300 IN TXT "v=spf1 include:amazonses.com -all"
bounces.good.test. 300 IN MX 10 mx.good.test.
_dmarc.good.test. 300 IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@good.test"
wpb1._domainkey.good.test. 300 IN TXT {dkim_txt(ED_KEY, dkim.ED25519)}
wpb2._domainkey.good.test. 300 IN TXT {dkim_txt(RSA_KEY, dkim.RSA)}
mail.good.test. 300 IN A 192.0.2.10
10.2.0.192.in-addr.arpa. 300 IN PTR mail.good.test.
11.2.0.192.in-addr.arpa. 300 IN PTR mail.good.test.

nospf.test. 300 IN MX 10 mx.nospf.test.
_dmarc.nospf.test. 300 IN TXT "v=DMARC1; p=reject"

noprovider.test. 300 IN TXT "v=spf1 include:_spf.google.com ~all"
noprovider.test. 300 IN MX 10 mx.noprovider.test.
_dmarc.noprovider.test. 300 IN TXT "v=DMARC1; p=reject"

twospf.test. 300 IN TXT "v=spf1 include:sendgrid.net -all"
twospf.test. 300 IN TXT "v=spf1 ip4:198.51.100.7 ~all"
plusall.test. 300 IN TXT "v=spf1 include:sendgrid.net +all"

; 3 lookups here, 5 in a.many.test, and b.many.test's 2 counted twice: 12.
many.test. 300 IN TXT "v=spf1 include:a.many.test include:b.many.test include:sendgrid.net ~all"
a.many.test. 300 IN TXT "v=spf1 a mx ptr exists:%{{i}}.x.many.test include:b.many.test -all"
b.many.test. 300 IN TXT "v=spf1 a mx -all"
many.test. 300 IN MX 10 mx.many.test.
_dmarc.many.test. 300 IN TXT "v=DMARC1; p=reject"

nodmarc.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
nodmarc.test. 300 IN MX 10 mx.nodmarc.test.
wpb1._domainkey.nodmarc.test. 300 IN TXT {dkim_txt(ED_KEY, dkim.ED25519)}

monitor.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
monitor.test. 300 IN MX 10 mx.monitor.test.
_dmarc.monitor.test. 300 IN TXT "v=DMARC1; p=none; rua=mailto:d@monitor.test"

strict.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
bounces.strict.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
bounces.strict.test. 300 IN MX 10 mx.strict.test.
_dmarc.strict.test. 300 IN TXT "v=DMARC1; p=quarantine; aspf=s"

wrongkey.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
_dmarc.wrongkey.test. 300 IN TXT "v=DMARC1; p=reject"
wpb1._domainkey.wrongkey.test. 300 IN TXT {dkim_txt(OTHER_KEY, dkim.ED25519)}
revoked._domainkey.wrongkey.test. 300 IN TXT "v=DKIM1; k=rsa; p="

cname.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
_dmarc.cname.test. 300 IN TXT "v=DMARC1; p=reject"
s1._domainkey.cname.test. 300 IN CNAME s1.domainkey.u17.wl.sendgrid.net.
wpb1._domainkey.cname.test. 300 IN CNAME s1.domainkey.u17.wl.sendgrid.net.
wpb2._domainkey.cname.test. 300 IN CNAME wpb2.keys.bridge.test.
wpb2.keys.bridge.test. 300 IN TXT {dkim_txt(RSA_KEY, dkim.RSA)}

nullmx.test. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
nullmx.test. 300 IN MX 0 .
_dmarc.nullmx.test. 300 IN TXT "v=DMARC1; p=reject"
"""


@pytest.fixture(scope="module")
def dns_server():
    with DnsServer(ZONE) as server:
        yield server


@pytest.fixture
def resolver(dns_server):
    return dns_check.make_resolver(["127.0.0.1"], dns_server.port, timeout=5)


def ours(selector="wpb1", key=ED_PUB, algorithm=dkim.ED25519, **kw) -> DkimExpect:
    return DkimExpect(selector, key, algorithm, **kw)


def levels(result, check) -> list[str]:
    return [f.level for f in result.of(check)]


def only(result, check):
    [finding] = result.of(check)
    return finding


def selector_finding(result, selector):
    [finding] = [f for f in result.of("dkim") if f"selector {selector} " in f.message]
    return finding


def test_good_records_are_all_ok(resolver):
    result = check_domain("good.test", resolver, sendings=[Sending("good.test", "sendgrid")],
                          dkim=[ours(), ours("wpb2", RSA_PUB, dkim.RSA)])
    assert result.level == OK, [f for f in result.findings if f.level != OK]
    assert result.dmarc_policy == "reject"
    spf = only(result, "spf")
    assert "1 of 10 DNS lookups" in spf.message and "sendgrid.net" in spf.message
    assert levels(result, "dkim") == [OK, OK]
    assert only(result, "alignment").message == "SPF and DKIM both align with good.test"
    assert "mx.good.test" in only(result, "mx").message
    assert hold_reason(result, "bulk", allow_without_dmarc=False) is None
    assert result.to_dict()["level"] == "ok"


def test_no_spf_names_the_record_to_add(resolver):
    result = check_domain("nospf.test", resolver, sendings=[Sending("nospf.test", "sendgrid")],
                          dkim=[])
    spf = only(result, "spf")
    assert spf.level == ERROR and "nospf.test has no SPF record" in spf.message
    assert spf.fix == dns_check.Record("nospf.test", "TXT", "v=spf1 include:sendgrid.net ~all")
    assert spf.fix.zone_line() == 'nospf.test. 3600 IN TXT "v=spf1 include:sendgrid.net ~all"'


def test_spf_without_the_provider_gets_the_include_added(resolver):
    result = check_domain("noprovider.test", resolver,
                          sendings=[Sending("noprovider.test", "sendgrid")])
    spf = only(result, "spf")
    assert spf.level == ERROR and "does not authorise sendgrid" in spf.message
    assert spf.found == "v=spf1 include:_spf.google.com ~all"
    assert spf.fix.action == "change"
    assert spf.fix.value == "v=spf1 include:_spf.google.com include:sendgrid.net ~all"
    # The same record is right for a site that sends through Google Workspace.
    google = check_domain("noprovider.test", resolver,
                          sendings=[Sending("noprovider.test", dns_check.provider_key("google-workspace"))])
    assert levels(google, "spf") == [OK]


def test_more_than_ten_lookups_counted_through_includes(resolver):
    result = check_domain("many.test", resolver, sendings=[Sending("many.test", "sendgrid")])
    [spf] = [f for f in result.of("spf") if "lookups" in f.message]
    assert spf.level == ERROR
    assert "needs 12 DNS lookups" in spf.message and "stop at 10" in spf.message


def test_two_spf_records_and_plus_all(resolver):
    two = only(check_domain("twospf.test", resolver, sendings=[Sending("twospf.test", "sendgrid")]), "spf")
    assert two.level == ERROR and "2 SPF records" in two.message
    assert two.fix.value == "v=spf1 include:sendgrid.net ip4:198.51.100.7 ~all"
    plus = [f for f in check_domain("plusall.test", resolver).of("spf") if "+all" in f.message]
    assert plus[0].level == ERROR and plus[0].fix.value == "v=spf1 include:sendgrid.net ~all"


def test_no_dmarc_is_an_error_and_holds_bulk_mail(resolver):
    result = check_domain("nodmarc.test", resolver, sendings=[Sending("nodmarc.test", "sendgrid")],
                          dkim=[ours()])
    dmarc = only(result, "dmarc")
    assert dmarc.level == ERROR and result.dmarc_policy is None
    assert dmarc.fix.name == "_dmarc.nodmarc.test"
    assert dmarc.fix.value.startswith("v=DMARC1; p=none")
    reason = hold_reason(result, "bulk", allow_without_dmarc=False)
    assert reason.startswith("held: bulk mail from nodmarc.test needs a DMARC record")
    assert '_dmarc.nodmarc.test. 3600 IN TXT "v=DMARC1; p=none' in reason
    assert hold_reason(result, "bulk", allow_without_dmarc=True) is None
    assert hold_reason(result, "transactional", allow_without_dmarc=False) is None


def test_p_none_warns_and_p_reject_is_ok(resolver):
    none = check_domain("monitor.test", resolver, sendings=[Sending("monitor.test", "sendgrid")],
                        dkim=[])
    dmarc = only(none, "dmarc")
    assert (dmarc.level, none.dmarc_policy) == (WARNING, "none")
    assert "p=none" in dmarc.message and "quarantine" in dmarc.message
    assert hold_reason(none, "bulk", allow_without_dmarc=False) is None  # p=none is a DMARC record
    reject = check_domain("good.test", resolver)
    assert levels(reject, "dmarc") == [OK] and reject.dmarc_policy == "reject"


def test_subdomain_inherits_the_parents_sp_policy(resolver):
    result = check_domain("shop.good.test", resolver, sendings=[Sending("good.test", "sendgrid")])
    dmarc = only(result, "dmarc")
    assert result.dmarc_policy == "quarantine"
    assert "from _dmarc.good.test" in dmarc.message


def test_wrong_dkim_key(resolver):
    result = check_domain("wrongkey.test", resolver, dkim=[ours()])
    finding = selector_finding(result, "wpb1")
    assert finding.level == ERROR and "publishes another key" in finding.message
    assert finding.found == dkim.txt_record(dkim.ED25519, dkim.public_key_b64(OTHER_KEY))
    assert finding.fix == dns_check.Record("wpb1._domainkey.wrongkey.test", "TXT",
                                           f"v=DKIM1; k=ed25519; p={ED_PUB}", "change")
    revoked = only(check_domain("wrongkey.test", resolver, dkim=[DkimExpect("revoked")]), "dkim")
    assert revoked.level == ERROR and "revoked" in revoked.message


def test_ed25519_alone_is_not_enough(resolver):
    alone = check_domain("good.test", resolver, dkim=[ours()])
    assert selector_finding(alone, "wpb1").level == OK
    [warning] = [f for f in alone.of("dkim") if f.level == WARNING]
    assert "Ed25519 only" in warning.message and "--algorithm rsa" in warning.message
    both = check_domain("good.test", resolver, dkim=[ours(), ours("wpb2", RSA_PUB, dkim.RSA)])
    assert levels(both, "dkim") == [OK, OK]


def test_unpublished_key_names_the_record(resolver):
    missing = only(check_domain("nospf.test", resolver, dkim=[ours("wpb2", RSA_PUB, dkim.RSA)]), "dkim")
    assert missing.level == ERROR and "not published" in missing.message
    assert missing.fix.name == "wpb2._domainkey.nospf.test"
    # An RSA record is longer than one TXT string: the zone line splits it.
    assert missing.fix.zone_line().count('"') == 4
    pending = only(check_domain("nospf.test", resolver, dkim=[ours("wpb2", RSA_PUB, dkim.RSA,
                                                                   pending=True)]), "dkim")
    assert pending.level == WARNING and "dkim activate" in pending.message


def test_cname_delegated_dkim(resolver):
    # A provider's selector delegated by CNAME: any valid key there is fine.
    provider = only(check_domain("cname.test", resolver, dkim=[DkimExpect("s1")]), "dkim")
    assert provider.level == OK
    assert "delegated by CNAME to s1.domainkey.u17.wl.sendgrid.net, SendGrid" in provider.message
    # The bridge's own key, delegated by CNAME to where the bridge's key is published.
    ours_delegated = only(check_domain("cname.test", resolver,
                                       dkim=[ours("wpb2", RSA_PUB, dkim.RSA)]), "dkim")
    assert ours_delegated.level == OK and "publishes the bridge's key" in ours_delegated.message
    # Our selector pointing to the provider's key: signatures would fail.
    clash = selector_finding(check_domain("cname.test", resolver, dkim=[ours("wpb1")]), "wpb1")
    assert clash.level == ERROR and "whose key is not the bridge's" in clash.message
    assert clash.fix.action == "change"


def test_return_path_alignment(resolver):
    relaxed = check_domain("good.test", resolver, sendings=[Sending("bounces.good.test", "ses")],
                           dkim=[ours()])
    assert levels(relaxed, "alignment") == [OK]
    assert levels(relaxed, "spf") == [OK]
    strict = check_domain("strict.test", resolver, sendings=[Sending("bounces.strict.test", "sendgrid")])
    finding = only(strict, "alignment")
    assert finding.level == ERROR, "no DKIM and SPF misaligned: DMARC fails"
    assert "strict SPF alignment" in finding.message and "DMARC fails" in finding.message
    elsewhere = check_domain("good.test", resolver, sendings=[Sending("nospf.test", "sendgrid")],
                             dkim=[ours()])
    finding = only(elsewhere, "alignment")
    assert finding.level == WARNING and "relies on the DKIM signature alone" in finding.message


def test_bounce_domain_mx(resolver):
    assert levels(check_domain("good.test", resolver, sendings=[Sending("bounces.good.test")],
                               mx_host="mx.good.test"), "mx") == [OK]
    other = only(check_domain("good.test", resolver, mx_host="bounce.bridge.test"), "mx")
    assert other.level == WARNING and other.fix.zone_line() == "good.test. 3600 IN MX 10 bounce.bridge.test."
    none = only(check_domain("noprovider.test", resolver, sendings=[Sending("b.noprovider.test")]), "mx")
    assert none.level == WARNING and "no MX record" in none.message
    null = only(check_domain("nullmx.test", resolver), "mx")
    assert null.level == ERROR and "null MX" in null.message


def test_reverse_dns(resolver):
    result = check_domain("good.test", resolver, ips=["192.0.2.10", "192.0.2.11", "192.0.2.12"])
    confirmed, mismatch, missing = result.of("rdns")
    assert confirmed.level == OK and "mail.good.test" in confirmed.message
    assert mismatch.level == ERROR and "does not resolve back" in mismatch.message
    assert missing.level == ERROR and "no reverse DNS" in missing.message


def test_answers_are_cached_by_ttl(dns_server, resolver):
    before = len(dns_server.zone.queries)
    check_domain("good.test", resolver, dkim=[ours()])
    first = len(dns_server.zone.queries) - before
    check_domain("good.test", resolver, dkim=[ours()])
    assert first > 0 and len(dns_server.zone.queries) - before == first, \
        "the second check should be answered from the resolver's cache"


def test_dns_trouble_is_no_verdict_and_holds_nothing():
    silent = dns_check.make_resolver(["127.0.0.1"], free_port(), timeout=0.5)
    result = check_domain("good.test", silent)
    assert "dmarc" in result.unresolved and "spf" in result.unresolved
    assert result.level == WARNING and result.dmarc_policy is None
    assert hold_reason(result, "bulk", allow_without_dmarc=False) is None


def test_a_domain_dns_does_not_know_is_no_dmarc_verdict(resolver):
    """NXDOMAIN for the sending domain itself points to a typo or to a resolver that does
    not see the Internet's DNS: said as such, and bulk mail is not held for "no DMARC"."""
    result = check_domain("unknown.test", resolver)
    assert result.exists is False and result.dmarc_policy is None
    [finding] = result.of("domain")
    assert finding.level == ERROR and "does not exist (NXDOMAIN)" in finding.message
    assert hold_reason(result, "bulk", allow_without_dmarc=False) is None
    assert check_domain("nodmarc.test", resolver).exists is True
    assert check_domain("shop.good.test", resolver).exists is False


def test_provider_of_an_smtp_host():
    assert dns_check.provider_key(None, "email-smtp.eu-west-1.amazonaws.com") == "ses"
    assert dns_check.provider_key(None, "smtp-relay.gmail.com") == "google"
    assert dns_check.provider_key("mailgun-eu") == "mailgun"
    assert dns_check.provider_key(None, "smtp.example.net") is None


def _cli_env(tmp_path, **extra):
    return {"WPBRIDGE_DATA": str(tmp_path), "WPBRIDGE_SECRET_KEY": "cli-test-key",
            "WPBRIDGE_CONFIG": str(tmp_path / "none.toml"), **extra}


def test_cli_dns_check(dns_server, tmp_path):
    runner = CliRunner()
    args = ["--provider", "sendgrid", "--nameserver", "127.0.0.1", "--port", str(dns_server.port)]
    ok = runner.invoke(dns_command, ["check", "good.test", "--json", *args], env=_cli_env(tmp_path))
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["dmarc_policy"] == "reject" and data["level"] == "warning"  # no DKIM key yet
    bad = runner.invoke(dns_command, ["check", "nospf.test", *args], env=_cli_env(tmp_path))
    assert bad.exit_code == 1
    assert 'add:   nospf.test. 3600 IN TXT "v=spf1 include:sendgrid.net ~all"' in bad.output


def test_cli_dkim_generate_list_and_check(dns_server, settings, engine, app, tmp_path):
    from tests.conftest import make_site

    make_site(app, settings)
    runner = CliRunner()
    env = _cli_env(tmp_path, WPBRIDGE_DATABASE_URL=settings.database_url,
                   WPBRIDGE_SECRET_KEY=settings.secret_key)
    out = runner.invoke(dkim_command, ["generate", "--site", "shop.example.com", "--domain",
                                       "example.com", "--algorithm", "rsa", "--selector", "s2025"], env=env)
    assert out.exit_code == 0, out.output
    assert "name:  s2025._domainkey.example.com" in out.output
    assert "value: v=DKIM1; k=rsa; p=" in out.output and "signed with s2025" in out.output
    listed = runner.invoke(dkim_command, ["list", "--site", "shop.example.com", "--json"], env=env)
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert (row["selector"], row["algorithm"], row["state"]) == ("s2025", "rsa-sha256", "signing")
    # dns check finds the site's key in the database and reports it unpublished.
    check = runner.invoke(dns_command, ["check", "example.com", "--json", "--nameserver", "127.0.0.1",
                                        "--port", str(dns_server.port)], env=env)
    data = json.loads(check.output)
    [finding] = [f for f in data["findings"] if f["check"] == "dkim"]
    assert finding["level"] == "error" and finding["fix"]["value"] == row["record"]
    taken = runner.invoke(dkim_command, ["generate", "--site", "shop.example.com", "--domain",
                                         "example.com", "--selector", "s2025"], env=env)
    assert taken.exit_code == 1 and "in use already" in taken.output
    foreign = runner.invoke(dkim_command, ["generate", "--site", "shop.example.com", "--domain",
                                           "example.net"], env=env)
    assert foreign.exit_code == 1
    assert "wpbridge site domains add shop.example.com example.net" in foreign.output


def test_results_are_reused_while_their_ttl_lasts(resolver):
    cache, calls = dns_check.CheckCache(), []

    def compute():
        calls.append(1)
        return check_domain("good.test", resolver, sendings=[Sending("good.test", "sendgrid")],
                            dkim=[ours()])

    first = cache.get("good.test", compute)
    assert 60 <= first.ttl <= 300
    assert cache.get("good.test", compute) is first and len(calls) == 1
    cache.get("nospf.test", compute)
    assert len(calls) == 2
