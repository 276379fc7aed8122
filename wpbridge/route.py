"""route: which way a classified message leaves. Per site and category: the providers
(primary first, then fallbacks after temporary failures), the envelope sender for bounces,
the priority lane and the maximum age.

Configured in the TOML file; a site's own table overrides the global one::

    [routes.bulk]
    providers = ["bulk-ses", "default"]
    return_path = "bounces.example.com"     # a domain (bounce@<it>) or an address
    verp = true                             # b+<recipient>-<sig>@return_path, per recipient
    max_age = 86400

    [sites."shop.example.com".routes.transactional]
    providers = ["postmark", "default"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from wpbridge.models import Lane
from wpbridge.errors import SettingsError

CATEGORIES = tuple(lane.name for lane in Lane)


@dataclass(frozen=True)
class Route:
    providers: tuple[str, ...]
    lane: int
    max_age: float
    return_path: str | None = None
    verp: bool = False  # one envelope sender per recipient at the return_path domain
    dkim: bool = True  # sign with the From domain's DKIM key when the site has one

    def envelope_sender(self, mail_from: str) -> str:
        if not self.return_path:
            return mail_from
        return self.return_path if "@" in self.return_path else f"bounce@{self.return_path}"

    def next_provider(self, current: str) -> str:
        """The provider for the next try after a temporary failure at ``current``."""
        if current not in self.providers:
            return self.providers[0]
        return self.providers[(self.providers.index(current) + 1) % len(self.providers)]


def parse_routes(table: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Check a ``[routes.<category>]`` table; the values stay partial until :func:`route_for`."""

    out = {}
    for category, values in (table or {}).items():
        if category not in CATEGORIES:
            raise SettingsError(f"{where}: unknown category {category!r} in [routes]; use one of "
                                f"{', '.join(CATEGORIES)}")
        unknown = set(values) - {"providers", "lane", "max_age", "return_path", "verp", "dkim"}
        if unknown:
            raise SettingsError(f"{where}: [routes.{category}] has unknown keys {sorted(unknown)}; "
                                "use providers, lane, max_age, return_path, verp, dkim")
        if not isinstance(values.get("dkim", True), bool):
            raise SettingsError(f"{where}: [routes.{category}] dkim must be true or false")
        if values.get("verp") and "@" in str(values.get("return_path") or "@"):
            raise SettingsError(f"{where}: [routes.{category}] verp needs return_path set to the "
                                "bounce domain (not an address), e.g. return_path = \"bounces.example.com\"")
        if "providers" in values and (not isinstance(values["providers"], list) or not values["providers"]):
            raise SettingsError(f"{where}: [routes.{category}] providers must be a non-empty list of names")
        if "lane" in values and values["lane"] not in CATEGORIES:
            raise SettingsError(f"{where}: [routes.{category}] lane must be one of {', '.join(CATEGORIES)}")
        out[category] = dict(values)
    return out


def route_for(settings, site_name: str, category: str) -> Route:
    values = {**settings.routes.get(category, {}),
              **settings.site_routes.get(site_name, {}).get(category, {})}
    return Route(
        providers=tuple(values.get("providers") or (settings.default_provider,)),
        lane=Lane[values.get("lane", category)].value,
        max_age=float(values.get("max_age", settings.max_age)),
        return_path=values.get("return_path"),
        verp=bool(values.get("verp")),
        dkim=bool(values.get("dkim", True)),
    )
