"""Cloud billing of private packages' storage (the `cloud` edition): each owner has the included amount
(`billing.included_storage_bytes`) and may spend up to the spending limit on more, at
`billing.storage_cents_per_gb`; a publish that would go past it is refused before any row is written,
and its bytes are forgotten, so nothing is stored."""
from __future__ import annotations

from appliance.models.accounts import Account
from appliance.models.repositories import PRIVATE, Repository
from appliance.packages.errors import SpendingLimitReached
from appliance.packages.usage import private_storage_bytes
from appliance.settings import RuntimeSettings, current_settings

GB = 1024**3


def storage_allowed_bytes(settings: RuntimeSettings) -> int | None:
    """Bytes of private packages an owner may store: the included amount and what the spending limit
    buys; None when nothing limits it (no billing, or storage priced at nothing)."""
    price = settings["billing.storage_cents_per_gb"]
    if not settings.edition.billing or price == 0:
        return None
    return settings["billing.included_storage_bytes"] + settings["billing.default_spending_limit_cents"] * GB // price


def _size(size: int) -> str:
    return f"{size / 1024**2:.1f} MB" if size < GB else f"{size / GB:.2f} GB"


def check_spending_limit(owner: Account, repository: Repository, new_bytes: int) -> None:
    """Refuse a publish of `new_bytes` to a private repository that takes the owner past what their
    included storage and spending limit allow (SpendingLimitReached says used against allowed)."""
    settings = current_settings()
    allowed = storage_allowed_bytes(settings)
    if allowed is None or repository.visibility != PRIVATE:
        return
    used = private_storage_bytes(owner.id)
    if used + new_bytes <= allowed:
        return
    limit = settings["billing.default_spending_limit_cents"]
    raise SpendingLimitReached(
        f"the spending limit of {owner.login} is reached: private packages would use {_size(used + new_bytes)} "
        f"of storage ({_size(used)} used now, this publish {_size(new_bytes)}); allowed: {_size(allowed)} "
        f"({_size(settings['billing.included_storage_bytes'])} included and ${limit / 100:.2f} of spending "
        f"limit). Raise the spending limit or delete private packages; nothing was stored")
