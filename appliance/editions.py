"""The editions of DESIGN.md (the `edition` runtime setting): what each one allows, in one table.

Switching edition deletes nothing: what the new edition does not allow (a public repository under `ae`,
an internal one under `cloud`) is refused from then on, and listed in the console for the admin to change.
This module is data and small rules only, below the settings that read it.
"""
from __future__ import annotations

from dataclasses import dataclass

ENTERPRISE_SERVER = "enterprise-server"
AE = "ae"
CLOUD = "cloud"


@dataclass(frozen=True)
class Edition:
    name: str
    visibilities: tuple[str, ...]
    # None: the `anonymous_read` setting decides; True or False: the edition does, whatever it says.
    anonymous_read: bool | None
    # Docker needs subdomain isolation, unless the edition always serves it on docker.HOSTNAME.
    docker_needs_isolation: bool
    # Help goes to the site administrators' `support_contact`, or to the vendor's forms.
    vendor_support: bool
    billing: bool


EDITIONS: dict[str, Edition] = {
    ENTERPRISE_SERVER: Edition(ENTERPRISE_SERVER, ("public", "private", "internal"), None, True, False, False),
    AE: Edition(AE, ("private", "internal"), False, True, False, False),
    CLOUD: Edition(CLOUD, ("public", "private"), True, False, True, True),
}
EDITION_NAMES = tuple(EDITIONS)


def edition(name: str) -> Edition:
    return EDITIONS.get(name, EDITIONS[ENTERPRISE_SERVER])
