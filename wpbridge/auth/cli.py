"""``wpbridge dns check`` and ``wpbridge dkim ...``: what the DNS of a sending domain says,
and the DKIM keys of a site."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from wpbridge import db, settings as settings_mod, sites
from wpbridge.auth import dkim, dns_check, dns_store
from wpbridge.models import DkimKey, Site, SiteDomain
from wpbridge.settings import SettingsError

_LEVEL_COLOURS = {dns_check.OK: "green", dns_check.WARNING: "yellow", dns_check.ERROR: "red"}


def _settings() -> settings_mod.Settings:
    try:
        return settings_mod.ensure_secret_key(settings_mod.load())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _sessions(settings):
    return db.make_sessionmaker(db.make_engine(settings))


def _resolver(nameservers, port: int):
    try:
        return dns_check.make_resolver(list(nameservers) or None, port)
    except dns_check.LookupFailed as exc:
        raise click.ClickException(str(exc)) from None


def _resolver_options(fn):
    fn = click.option("--port", type=int, default=53, show_default=True,
                      help="The port of the --nameserver.")(fn)
    return click.option("--nameserver", "nameservers", multiple=True, metavar="IP",
                        help="Ask this DNS server (repeatable; default: the system's resolver).")(fn)


def _has_database(settings) -> bool:
    if not settings.is_sqlite:
        return True
    path = make_url(settings.database_url).database
    return bool(path) and Path(path).exists()


@click.group("dns")
def dns_command() -> None:
    """DNS checks of sending domains: SPF, DKIM, DMARC, bounce MX, reverse DNS."""


@dns_command.command("check")
@click.argument("domain")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--provider", help="The provider SPF must authorise: "
              f"{', '.join(dns_check.PROVIDERS)} (default: the providers of the routes).")
@click.option("--return-path", help="The envelope sender's domain, where SPF is looked up "
              "(default: the routes' return path, else DOMAIN).")
@click.option("--site", "site_name", help="The site whose keys and routes apply (default: the "
              "site that sends from DOMAIN).")
@click.option("--selector", "selectors", multiple=True,
              help="A provider's DKIM selector to check as well (repeatable).")
@click.option("--mx", "mx_host", help="The host that should receive bounces.")
@click.option("--ip", "ips", multiple=True, help="An address mail leaves from directly: its "
              "reverse DNS is checked (repeatable).")
@click.option("--no-store", is_flag=True, help="Do not keep the result as the site's last check.")
@_resolver_options
def dns_check_command(domain, as_json, provider, return_path, site_name, selectors, mx_host, ips,
                      no_store, nameservers, port) -> None:
    """Check what receivers look up for mail from DOMAIN, and name the records to fix.

    When DOMAIN is a sending domain of a site, and no option changes what is checked, the
    result is kept as the site's last check of DOMAIN: the status page shows it, and bulk
    mail held for a missing DMARC record goes out once the record is found.

    Exits with 1 when something is an error.
    """
    settings = _settings()
    try:
        domain = sites.normalise_domain(domain)
    except sites.SiteError as exc:
        raise click.ClickException(str(exc)) from None
    if provider and dns_check.provider_key(provider) is None:
        raise click.BadParameter(f"{provider!r} is not a provider this check knows; use one of "
                                 f"{', '.join(dns_check.PROVIDERS)}", param_hint="--provider")
    expects: list[dns_check.DkimExpect] = []
    sendings: list[dns_check.Sending] = []
    engine = site_id = None
    if _has_database(settings):
        try:
            engine = db.make_engine(settings)
            with db.make_sessionmaker(engine)() as session:
                if site_name is None:
                    site_name = session.scalar(select(Site.name).join(SiteDomain).where(
                        SiteDomain.domain == domain).order_by(Site.name).limit(1))
                if site_name is not None:
                    site = sites.get(session, site_name)
                    if domain in {d.domain for d in site.domains}:
                        site_id = site.id
                    rows = session.scalars(select(DkimKey).where(DkimKey.site_id == site.id)).all()
                    expects = dns_check.expectations(rows, domain)
                    sendings = dns_check.sendings_for(settings, site.name, domain)
        except sites.SiteError as exc:
            raise click.ClickException(str(exc)) from None
        except SQLAlchemyError as exc:
            click.echo(f"note: the bridge's database cannot be read ({type(exc).__name__}); "
                       "checking without its DKIM keys and routes", err=True)
    if not sendings:
        sendings = dns_check.sendings_for(settings, site_name or "", domain)
    if provider or return_path:
        rps = [return_path] if return_path else [s.return_path for s in sendings]
        providers = [dns_check.provider_key(provider)] if provider else [s.provider for s in sendings]
        sendings = [dns_check.Sending(rp.rpartition("@")[2].lower().rstrip("."), p)
                    for rp in dict.fromkeys(rps) for p in dict.fromkeys(providers)]
    expects += [dns_check.DkimExpect(s.strip().lower()) for s in selectors]
    result = dns_check.check_domain(domain, _resolver(nameservers, port), sendings=sendings,
                                    dkim=expects, mx_host=mx_host, ips=ips)
    # Kept only when it checked what the worker's periodic check does.
    if site_id is not None and not (no_store or provider or return_path or selectors or mx_host or ips):
        try:
            dns_store.store(engine, site_id, domain, result)
        except SQLAlchemyError as exc:
            click.echo(f"note: the result could not be kept ({type(exc).__name__}; has "
                       "'wpbridge db upgrade' run?)", err=True)
        else:
            if not as_json:
                click.echo(f"note: kept as the last check of {domain} for site {site_name} "
                           "(status page, bulk mail hold)", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        errors = sum(f.level == dns_check.ERROR for f in result.findings)
        warnings = sum(f.level == dns_check.WARNING for f in result.findings)
        click.secho(f"{domain}: {errors} error(s), {warnings} warning(s)", bold=True)
        for f in result.findings:
            click.echo(click.style(f"  {f.level.upper():8}", fg=_LEVEL_COLOURS[f.level])
                       + f"{f.check:10} {f.message}")
            if f.found and f.level != dns_check.OK:
                click.echo(f"{'':20}found:  {f.found}")
            if f.fix:
                click.echo(f"{'':20}{f.fix.action}:{' ' * (6 - len(f.fix.action))}"
                           f"{f.fix.zone_line()}")
    if result.level == dns_check.ERROR:
        raise SystemExit(1)


@click.group("dkim")
def dkim_command() -> None:
    """DKIM keys of a site's sending domains.

    Rotation: 'generate' a second key of the same algorithm (it waits, pending), publish its
    record, 'activate' it (it signs from then on), and 'remove' the old one a few days later.
    """


def _print_record(row: DkimKey) -> None:
    name = dkim.record_name(row.selector, row.domain)
    value = dkim.txt_record(row.algorithm, row.public_key)
    click.echo(f"Publish this DNS record:\n  name:  {name}\n  type:  TXT\n  value: {value}\n\n"
               "As a zone file line:\n  " + dns_check.Record(name, "TXT", value).zone_line())


@dkim_command.command("generate")
@click.option("--site", "site_name", required=True, help="The site.")
@click.option("--domain", required=True, help="One of the site's sending domains.")
@click.option("--algorithm", type=click.Choice(sorted(dkim.ALGORITHMS)), default="rsa",
              show_default=True, help="rsa (2048 bits) is verified by every receiver; ed25519 is "
              "small and fast but not verified everywhere yet: add it next to an rsa key, and "
              "mail gets both signatures.")
@click.option("--selector", help="The selector (default: wpb<year><month><e|r>).")
def dkim_generate(site_name, domain, algorithm, selector) -> None:
    """Create a key (stored encrypted) and print the DNS record to publish."""
    settings = _settings()
    with _sessions(settings)() as session, session.begin():
        try:
            row = dkim.generate(session, settings.secret_key, site_name, domain, algorithm, selector)
        except dkim.DkimError as exc:
            raise click.ClickException(str(exc)) from None
        _print_record(row)
        if row.active:
            click.echo(f"\n{row.domain}: mail from the site is signed with {row.selector} "
                       f"({row.algorithm}) from now on; publish the record soon, as receivers "
                       "cannot verify the signature before.")
        else:
            click.echo(f"\n{row.selector} is pending: another {row.algorithm} key signs for "
                       f"{row.domain}. Publish the record, check it with 'wpbridge dns check "
                       f"{row.domain}', then 'wpbridge dkim activate --site {site_name} --domain "
                       f"{row.domain} --selector {row.selector}'.")


@dkim_command.command("list")
@click.option("--site", "site_name", required=True, help="The site.")
@click.option("--json", "as_json", is_flag=True)
def dkim_list(site_name, as_json) -> None:
    """List a site's keys: signing, active (older, still published) or pending."""
    settings = _settings()
    with _sessions(settings)() as session:
        try:
            rows = dkim.site_keys(session, site_name)
        except dkim.DkimError as exc:
            raise click.ClickException(str(exc)) from None
        states = dkim.key_states(rows)
        for r in rows:
            item = {"domain": r.domain, "selector": r.selector, "algorithm": r.algorithm,
                    "state": states[r.id], "created_at": r.created_at.isoformat(timespec="seconds"),
                    "record_name": dkim.record_name(r.selector, r.domain),
                    "record": dkim.txt_record(r.algorithm, r.public_key)}
            click.echo(json.dumps(item) if as_json else
                       f"{item['domain']}\t{item['selector']}\t{item['algorithm']}\t{item['state']}"
                       f"\t{item['created_at']}\t{item['record_name']}")
    if not rows and not as_json:
        click.echo(f"no DKIM keys; create one with 'wpbridge dkim generate --site {site_name} "
                   "--domain DOMAIN'", err=True)


@dkim_command.command("activate")
@click.option("--site", "site_name", required=True)
@click.option("--domain", required=True)
@click.option("--selector", required=True)
@click.option("--no-check", is_flag=True, help="Activate without looking the record up first.")
@_resolver_options
def dkim_activate(site_name, domain, selector, no_check, nameservers, port) -> None:
    """Let a pending key sign, once its record is published."""
    settings = _settings()
    with _sessions(settings)() as session, session.begin():
        try:
            row = dkim.activate(session, site_name, domain, selector)
        except dkim.DkimError as exc:
            raise click.ClickException(str(exc)) from None
        if not no_check:
            finding = dns_check.check_dkim(
                dns_check.Lookups(_resolver(nameservers, port)), row.domain,
                dns_check.DkimExpect(row.selector, row.public_key, row.algorithm, row.domain))
            if finding.level != dns_check.OK:
                todo = ("publish the record ('wpbridge dkim list' shows it), " if finding.answered
                        else "")
                raise click.ClickException(f"not activated: {finding.message}; {todo}or activate "
                                           "with --no-check")
        click.echo(f"{row.domain}: {row.selector} signs from now on (within a minute for "
                   "running workers)")


@dkim_command.command("remove")
@click.option("--site", "site_name", required=True)
@click.option("--domain", required=True)
@click.option("--selector", required=True)
@click.option("--yes", is_flag=True, help="Do not ask.")
def dkim_remove(site_name, domain, selector, yes) -> None:
    """Delete a key; keep its DNS record a few days longer for mail still in transit."""
    if not yes:
        click.confirm(f"Remove DKIM key {selector} of {domain}?", abort=True)
    settings = _settings()
    with _sessions(settings)() as session, session.begin():
        try:
            dkim.remove(session, site_name, domain, selector)
        except dkim.DkimError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"removed {selector} of {domain}")
