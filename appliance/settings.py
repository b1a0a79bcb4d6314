"""Settings in two places.

The bootstrap file `APPLIANCE_HOME/appliance.toml` says where the database and storage are and holds the
secret key; it is written by `appliance init` and read once at start. Everything else is a runtime
setting: kept in the database, read afresh for every request, so a change made with `appliance config set`
or in the console reaches every worker and node without a restart.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.db import Statement
from appliance.editions import EDITION_NAMES as EDITIONS
from appliance.editions import Edition, edition
from appliance.models.base import utcnow
from appliance.models.settings import Setting

# Read on every request (current_settings): compiled once (db.Statement).
EVERY_SETTING = Statement(lambda: Setting.select(Setting.key, Setting.value).tuples())

BOOTSTRAP_FILE = "appliance.toml"
FORMATS = ("npm", "rubygems", "maven", "nuget", "docker")


class SettingError(ValueError):
    """An unknown key or a value that does not fit the setting."""


# ---- bootstrap -------------------------------------------------------------------------------------


def default_home() -> Path:
    return Path(os.environ.get("APPLIANCE_HOME", "./var")).resolve()


def _check_keys(section: str, data: dict, allowed: set[str] | frozenset[str]) -> None:
    """An unknown key is a typo that would silently turn a feature off: stop the start and name it."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        where = f"[{section}]" if section else "the top level"
        raise SettingError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in "
                           f"{where} of {BOOTSTRAP_FILE}; known keys there: {', '.join(sorted(allowed))}")


def _table(section: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise SettingError(f"[{section}] of {BOOTSTRAP_FILE} must be a table, got {value!r}")
    return value


def _string(section: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SettingError(f"{key} in [{section}] of {BOOTSTRAP_FILE} must be a non-empty string, got {value!r}")
    return value


def _strings(section: str, key: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise SettingError(f"{key} in [{section}] of {BOOTSTRAP_FILE} must be a string or a list of them")
    return tuple(_string(section, key, v) for v in values)


def _toml(value: Any) -> str:
    """A TOML value for the few shapes the bootstrap file holds (JSON's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


LDAP_KEYS = frozenset({"uri", "user_base", "bind_dn", "bind_password", "start_tls", "ca_file", "user_filter",
                       "login_attribute", "name_attribute", "email_attribute", "admin_group", "organizations",
                       "timeout"})
BOOTSTRAP_SECTIONS = frozenset({"secret_key", "database", "storage", "http", "ldap", "metrics", "backup"})


@dataclass(frozen=True)
class LdapConfig:
    """`[ldap]`: the directory whose users may sign in (see accounts/ldap.py)."""

    uris: tuple[str, ...]
    user_base: str
    bind_dn: str | None = None
    bind_password: str | None = None
    start_tls: bool = False
    ca_file: str | None = None
    user_filter: str = "(uid={login})"
    login_attribute: str = "uid"
    name_attribute: str = "cn"
    email_attribute: str = "mail"
    admin_group: str | None = None
    # group DN -> organization login
    organizations: dict[str, str] = field(default_factory=dict)
    # seconds to connect and to wait for each answer; a directory slower than this is "unavailable"
    timeout: float = 5.0

    @classmethod
    def parse(cls, data: dict) -> LdapConfig:
        _check_keys("ldap", data, LDAP_KEYS)
        for key in ("uri", "user_base"):
            if key not in data:
                raise SettingError(f"[ldap] of {BOOTSTRAP_FILE} needs {key}")
        uris = _strings("ldap", "uri", data["uri"])
        for uri in uris:
            if not uri.startswith(("ldap://", "ldaps://")):
                raise SettingError(f"uri in [ldap] of {BOOTSTRAP_FILE}: expected ldap:// or ldaps://, got {uri!r}")
        user_filter = _string("ldap", "user_filter", data.get("user_filter", "(uid={login})"))
        if "{login}" not in user_filter:
            raise SettingError(f"user_filter in [ldap] of {BOOTSTRAP_FILE} must contain {{login}}")
        organizations = _table("ldap.organizations", data.get("organizations", {}))
        for dn, org in organizations.items():
            _string("ldap.organizations", dn, org)
        timeout = data.get("timeout", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise SettingError(f"timeout in [ldap] of {BOOTSTRAP_FILE} must be a number of seconds above 0")
        start_tls = data.get("start_tls", False)
        if not isinstance(start_tls, bool):
            raise SettingError(f"start_tls in [ldap] of {BOOTSTRAP_FILE} must be true or false")
        optional = {key: _string("ldap", key, data[key]) for key in
                    ("bind_dn", "bind_password", "ca_file", "admin_group", "login_attribute", "name_attribute",
                     "email_attribute") if key in data}
        return cls(uris=uris, user_base=_string("ldap", "user_base", data["user_base"]), start_tls=start_tls,
                   user_filter=user_filter, organizations=dict(organizations), timeout=float(timeout),
                   **optional)

    def toml(self) -> str:
        lines = ["[ldap]", f"uri = {_toml(self.uris)}", f"user_base = {_toml(self.user_base)}"]
        defaults = LdapConfig(uris=self.uris, user_base=self.user_base)
        for key in ("bind_dn", "bind_password", "start_tls", "ca_file", "user_filter", "login_attribute",
                    "name_attribute", "email_attribute", "admin_group", "timeout"):
            value = getattr(self, key)
            if value != getattr(defaults, key):
                lines.append(f"{key} = {_toml(value)}")
        if self.organizations:
            lines += ["", "[ldap.organizations]"]
            lines += [f"{_toml(dn)} = {_toml(org)}" for dn, org in self.organizations.items()]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class MetricsConfig:
    """`[metrics]`: /metrics is served (and requests counted) only when the section is there."""

    allow: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: dict) -> MetricsConfig:
        _check_keys("metrics", data, {"allow"})
        allow = _strings("metrics", "allow", data["allow"]) if data.get("allow") else ()
        for network in allow:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise SettingError(f"allow in [metrics] of {BOOTSTRAP_FILE}: {network!r} is not an address "
                                   "or network such as 127.0.0.1/32") from None
        return cls(allow=allow)

    def toml(self) -> str:
        return f"[metrics]\nallow = {_toml(self.allow)}\n"


@dataclass(frozen=True)
class BackupConfig:
    """`[backup]`: where the nightly backup job writes, and how many snapshots it keeps there."""

    dir: Path
    keep: int = 7

    @classmethod
    def parse(cls, data: dict) -> BackupConfig:
        _check_keys("backup", data, {"dir", "keep"})
        if "dir" not in data:
            raise SettingError(f"[backup] of {BOOTSTRAP_FILE} needs dir")
        keep = data.get("keep", 7)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise SettingError(f"keep in [backup] of {BOOTSTRAP_FILE} must be a whole number of 1 or more")
        return cls(dir=Path(_string("backup", "dir", data["dir"])), keep=keep)

    def toml(self) -> str:
        return f"[backup]\ndir = {_toml(str(self.dir))}\nkeep = {self.keep}\n"


@dataclass(frozen=True)
class Bootstrap:
    home: Path
    database_url: str
    storage_backend: str
    storage_path: Path
    secret_key: str
    storage_options: dict = field(default_factory=dict)
    # How many reverse proxies (nginx) stand in front and set X-Forwarded-*; 0 trusts none of them.
    trusted_proxies: int = 0
    ldap: LdapConfig | None = None
    metrics: MetricsConfig | None = None
    backup: BackupConfig | None = None

    @classmethod
    def load(cls, home: Path) -> Bootstrap:
        path = home / BOOTSTRAP_FILE
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise SettingError(f"{path} does not exist: run `appliance init --home {home}` first") from None
        except tomllib.TOMLDecodeError as e:
            raise SettingError(f"{path} is not valid TOML: {e}") from None
        _check_keys("", data, BOOTSTRAP_SECTIONS)
        _check_keys("database", _table("database", data.get("database", {})), {"url"})
        _check_keys("http", _table("http", data.get("http", {})), {"trusted_proxies"})
        optional = {name: parse(_table(name, data[name])) for name, parse in
                    (("ldap", LdapConfig.parse), ("metrics", MetricsConfig.parse), ("backup", BackupConfig.parse))
                    if name in data}
        storage = dict(data.get("storage", {}))
        return cls(
            home=home,
            database_url=data["database"]["url"],
            storage_backend=storage.pop("backend", "local"),
            storage_path=Path(storage.pop("path", str(home / "storage"))),
            secret_key=data["secret_key"],
            storage_options=storage,
            trusted_proxies=int(data.get("http", {}).get("trusted_proxies", 0)),
            **optional,
        )

    @classmethod
    def embedded_default(cls, home: Path) -> Bootstrap:
        """SQLite and local disk under `home`: the one-machine appliance."""
        return cls(
            home=home,
            database_url=f"sqlite:///{home / 'appliance.db'}",
            storage_backend="local",
            storage_path=home / "storage",
            secret_key=secrets.token_hex(32),
        )

    def write(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / BOOTSTRAP_FILE
        text = (
            "# Written by `appliance init`. Runtime settings live in the database: `appliance config`.\n"
            f"secret_key = {json.dumps(self.secret_key)}\n\n"
            "[database]\n"
            f"url = {json.dumps(self.database_url)}\n\n"
            "[storage]\n"
            f"backend = {json.dumps(self.storage_backend)}\n"
            f"path = {json.dumps(str(self.storage_path))}\n"
            + "".join(f"{key} = {json.dumps(value)}\n" for key, value in self.storage_options.items())
            + "\n"
            "[http]\n"
            "# Set to 1 behind nginx (config/nginx.conf.example) so X-Forwarded-* headers are trusted.\n"
            f"trusted_proxies = {self.trusted_proxies}\n"
        )
        text += "".join(f"\n{section.toml()}" for section in (self.ldap, self.metrics, self.backup) if section)
        # The secret key signs sessions: nobody but the appliance's user reads this file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path


# ---- runtime settings ------------------------------------------------------------------------------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise SettingError(f"expected true or false, got {value!r}")


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise SettingError(f"expected a number of zero or more, got {number}")
    return number


# DNS labels (letters, digits, inner hyphens, at most 63) joined by dots: what clients put in a URL's host.
_HOST_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _hostname(value: Any) -> str:
    text = str(value).strip().lower()
    if not text or ":" in text or "/" in text or " " in text:
        raise SettingError(f"expected a host name without scheme or port, got {value!r}")
    labels = text.split(".")
    if len(text) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise SettingError(f"expected a host name such as packages.example.com (letters, digits and inner "
                           f"hyphens between dots, at most 253 characters), got {value!r}")
    return text


def _moment(value: Any) -> str:
    """A moment in UTC as ISO 8601 (`2026-12-03T22:00`, `...Z` or `+00:00` accepted), or "" for none."""
    text = str(value).strip()
    if not text:
        return ""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise SettingError(f"expected a UTC time such as 2026-12-03T22:00, got {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _contact(value: Any) -> str:
    """A URL (http or https) or an e-mail address, or "" for none."""
    text = str(value).strip()
    if text and not (re.match(r"^https?://[^\s/]+", text) or re.match(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$", text)):
        raise SettingError(f"expected an https:// URL or an e-mail address, got {value!r}")
    return text


def _url(value: Any) -> str:
    text = str(value).strip()
    if text and not re.match(r"^https?://[^\s/]+", text):
        raise SettingError(f"expected an http:// or https:// URL, got {value!r}")
    return text


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise SettingError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    parse: Callable[[Any], Any]
    help: str


SPECS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in [
        SettingSpec("hostname", "localhost", _hostname,
                    "the appliance's host name (no port), used for routing and every URL it prints"),
        SettingSpec("subdomain_isolation", True, _bool,
                    "registries on FORMAT.HOSTNAME; off: under HOSTNAME/_registry/FORMAT/, Docker disabled"),
        SettingSpec("edition", "enterprise-server", _choice(*EDITIONS),
                    "enterprise-server, ae or cloud: visibility choices, anonymous install, Docker's rule, "
                    "where users are sent for help, billing (switching deletes nothing)"),
        SettingSpec("support_contact", "", _contact,
                    "where users are sent for help: a URL or an e-mail address of the site administrators"),
        SettingSpec("support_url", "", _url, "cloud edition: the vendor's support form users are sent to"),
        SettingSpec("feedback_url", "", _url, "cloud edition: the vendor's feedback form"),
        SettingSpec("anonymous_read", True, _bool,
                    "public packages can be installed without a token (enterprise-server; ae: never, cloud: always)"),
        SettingSpec("maintenance_mode", False, _bool,
                    "registries, pages and the API answer 503 with the message; the console and /_health stay up"),
        SettingSpec("maintenance_message", "The appliance is down for maintenance. Try again shortly.", str,
                    "what clients and pages are told during maintenance"),
        SettingSpec("maintenance_starts_at", "", _moment,
                    "maintenance mode begins at this UTC time (empty: at once once maintenance_mode is on)"),
        SettingSpec("maintenance_retry_after", 300, _positive_int,
                    "seconds clients are told to wait (Retry-After) during maintenance"),
        SettingSpec("retention.deleted_days", 30, _positive_int,
                    "how long a deleted package or version can be restored"),
        SettingSpec("max_upload_bytes", 2 * 1024**3, _positive_int,
                    "the largest request body a publish may send, in bytes"),
        SettingSpec("webhooks.allow_private_addresses", False, _bool,
                    "webhook deliveries may go to loopback, link-local and private addresses"),
        SettingSpec("api.rate_limit", 5000, _positive_int,
                    "REST API requests per hour of each signed-in user; 0 turns rate limiting off"),
        SettingSpec("api.anonymous_rate_limit", 60, _positive_int,
                    "REST API requests per hour from each address without a token; 0 turns it off"),
        SettingSpec("billing.included_storage_bytes", 500 * 1024**2, _positive_int,
                    "cloud: storage of private packages each owner has without charge, in bytes"),
        SettingSpec("billing.included_transfer_bytes", 1024**3, _positive_int,
                    "cloud: monthly transfer (downloads) of private packages each owner has without charge"),
        SettingSpec("billing.storage_cents_per_gb", 25, _positive_int,
                    "cloud: price of a GB of storage past the included amount, per month, in cents"),
        SettingSpec("billing.transfer_cents_per_gb", 50, _positive_int,
                    "cloud: price of a GB of transfer past the included amount, in cents"),
        SettingSpec("billing.default_spending_limit_cents", 0, _positive_int,
                    "cloud: an owner's monthly spending limit unless the console sets one for the owner"),
        *[SettingSpec(f"formats.{fmt}.enabled", True, _bool,
                      f"serve the {fmt} registry; off: its clients are told it is switched off and whom to ask")
          for fmt in FORMATS],
    ]
}


def parse_setting(key: str, value: Any) -> Any:
    spec = SPECS.get(key)
    if spec is None:
        raise SettingError(f"unknown setting {key!r}; `appliance config list` shows them all")
    return spec.parse(value)


class RuntimeSettings:
    """A snapshot of every runtime setting, read from the database in one query.

    `settings[key]` is the value in force: where the edition decides (anonymous install under `ae` and
    `cloud`), its rule, whatever the stored setting says; `configured(key)` is what was set."""

    def __init__(self, stored: dict[str, Any]):
        self._configured = {key: spec.default for key, spec in SPECS.items()}
        for key, value in stored.items():
            if key in SPECS:
                self._configured[key] = value
        self._values = dict(self._configured)
        rules = edition(self._configured["edition"])
        if rules.anonymous_read is not None:
            self._values["anonymous_read"] = rules.anonymous_read

    @classmethod
    def load(cls) -> RuntimeSettings:
        return cls({key: json.loads(value) for key, value in EVERY_SETTING.rows()})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def items(self):
        return self._values.items()

    def configured(self, key: str) -> Any:
        return self._configured[key]

    @property
    def edition(self) -> Edition:
        return edition(self._values["edition"])

    def format_enabled(self, fmt: str) -> bool:
        return bool(self._values[f"formats.{fmt}.enabled"])

    def docker_available(self) -> bool:
        """Docker clients need the registry at the root of a host of its own (docker.HOSTNAME)."""
        return bool(self._values["subdomain_isolation"]) or not self.edition.docker_needs_isolation

    def maintenance_starts_at(self) -> dt.datetime | None:
        text = self._values["maintenance_starts_at"]
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ") if text else None

    def in_maintenance(self, now: dt.datetime | None = None) -> bool:
        """Maintenance mode is on and its start (if one is scheduled) has come."""
        if not self._values["maintenance_mode"]:
            return False
        starts_at = self.maintenance_starts_at()
        return starts_at is None or (now or utcnow()) >= starts_at

    def maintenance_scheduled(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """When maintenance will begin, while it is on but still ahead; else None."""
        starts_at = self.maintenance_starts_at()
        if self._values["maintenance_mode"] and starts_at is not None and (now or utcnow()) < starts_at:
            return starts_at
        return None


def store_setting(key: str, value: Any) -> Any:
    """Validate and save one setting; returns the parsed value."""
    parsed = parse_setting(key, value)
    (Setting.insert(key=key, value=json.dumps(parsed), updated_at=utcnow())
     .on_conflict(conflict_target=[Setting.key], update={Setting.value: json.dumps(parsed),
                                                         Setting.updated_at: utcnow()})
     .execute())
    return parsed


def current_settings() -> RuntimeSettings:
    """The runtime settings for this request (read once per request), or freshly read outside one."""
    from flask import has_request_context, request

    if not has_request_context():
        return RuntimeSettings.load()
    # Kept on the request itself: an application context (and its `g`) may outlive many requests.
    settings = request.environ.get("appliance.runtime_settings")
    if settings is None:
        settings = request.environ["appliance.runtime_settings"] = RuntimeSettings.load()
    return settings
