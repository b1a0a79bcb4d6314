"""Settings in two places.

The bootstrap file `APPLIANCE_HOME/appliance.toml` says where the database and storage are and holds the
secret key; it is written by `appliance init` and read once at start. Everything else is a runtime
setting: kept in the database, read afresh for every request, so a change made with `appliance config set`
or in the console reaches every worker and node without a restart.
"""
from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.models.base import utcnow
from appliance.models.settings import Setting

BOOTSTRAP_FILE = "appliance.toml"
EDITIONS = ("enterprise-server", "ae", "cloud")
FORMATS = ("npm", "rubygems", "maven", "nuget", "docker")


class SettingError(ValueError):
    """An unknown key or a value that does not fit the setting."""


# ---- bootstrap -------------------------------------------------------------------------------------


def default_home() -> Path:
    return Path(os.environ.get("APPLIANCE_HOME", "./var")).resolve()


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

    @classmethod
    def load(cls, home: Path) -> Bootstrap:
        path = home / BOOTSTRAP_FILE
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise SettingError(f"{path} does not exist: run `appliance init --home {home}` first") from None
        storage = dict(data.get("storage", {}))
        return cls(
            home=home,
            database_url=data["database"]["url"],
            storage_backend=storage.pop("backend", "local"),
            storage_path=Path(storage.pop("path", str(home / "storage"))),
            secret_key=data["secret_key"],
            storage_options=storage,
            trusted_proxies=int(data.get("http", {}).get("trusted_proxies", 0)),
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
            f"path = {json.dumps(str(self.storage_path))}\n\n"
            "[http]\n"
            "# Set to 1 behind nginx (config/nginx.conf.example) so X-Forwarded-* headers are trusted.\n"
            f"trusted_proxies = {self.trusted_proxies}\n"
        )
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


def _hostname(value: Any) -> str:
    text = str(value).strip().lower()
    if not text or ":" in text or "/" in text or " " in text:
        raise SettingError(f"expected a host name without scheme or port, got {value!r}")
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
        SettingSpec("edition", "enterprise-server", _choice(*EDITIONS), "edition-specific behaviour"),
        SettingSpec("support_contact", "", str, "where users are sent for help: a URL or an e-mail address"),
        SettingSpec("anonymous_read", True, _bool, "public packages can be installed without a token"),
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
        *[SettingSpec(f"formats.{fmt}.enabled", True, _bool, f"serve the {fmt} registry") for fmt in FORMATS],
    ]
}


def parse_setting(key: str, value: Any) -> Any:
    spec = SPECS.get(key)
    if spec is None:
        raise SettingError(f"unknown setting {key!r}; `appliance config list` shows them all")
    return spec.parse(value)


class RuntimeSettings:
    """A snapshot of every runtime setting, read from the database in one query."""

    def __init__(self, stored: dict[str, Any]):
        self._values = {key: spec.default for key, spec in SPECS.items()}
        for key, value in stored.items():
            if key in SPECS:
                self._values[key] = value

    @classmethod
    def load(cls) -> RuntimeSettings:
        return cls({row.key: json.loads(row.value) for row in Setting.select()})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def items(self):
        return self._values.items()

    def format_enabled(self, fmt: str) -> bool:
        return bool(self._values[f"formats.{fmt}.enabled"])


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
