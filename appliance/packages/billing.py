"""Cloud billing of private packages (the `cloud` edition), metered per owner: the storage their files
take and the monthly transfer their downloads send. Each owner has the included amounts
(`billing.included_storage_bytes`, `billing.included_transfer_bytes`) and pays past them at
`billing.storage_cents_per_gb` and `billing.transfer_cents_per_gb`, up to a monthly spending limit (the
owner's own, set in the console or `appliance billing limit`, else `billing.default_spending_limit_cents`).
A publish to a private repository that would take the owner past it is refused before any row is written,
and its bytes are forgotten, so nothing is stored.

Everything is in the database (a download adds to its owner's monthly row in one statement), so every
worker and node meters into and reads the same figures. Outside `cloud` nothing is metered or refused."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.billing import OwnerTransfer, SpendingLimit
from appliance.models.packages import Package, PackageFile, PackageVersion
from appliance.models.repositories import PRIVATE, Repository
from appliance.packages.errors import InvalidSpendingLimit, SpendingLimitReached
from appliance.packages.usage import private_storage_bytes
from appliance.settings import RuntimeSettings, current_settings

GB = 1024**3
# Spending limits above this are a typing mistake, not a budget: a million dollars a month.
MAX_SPENDING_LIMIT_CENTS = 100_000_000


def this_month() -> dt.date:
    """The first day of the current month (UTC): the key transfer is metered under."""
    return utcnow().date().replace(day=1)


def _size(size: int) -> str:
    """Bytes as people read them, precise enough to compare with the included amounts."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024**2:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024**2:.1f} MB" if size < GB else f"{size / GB:.2f} GB"


def _dollars(cents: float) -> str:
    return f"${cents / 100:.2f}"


@dataclass(frozen=True)
class BillingUsage:
    """An owner's private packages this month: what they use, what is included, what it costs, the limit."""

    owner: str
    month: dt.date
    storage_bytes: int
    transfer_bytes: int
    included_storage_bytes: int
    included_transfer_bytes: int
    storage_cents_per_gb: int
    transfer_cents_per_gb: int
    limit_cents: int
    limit_is_default: bool

    def _cost(self, used: int, included: int, price: int) -> float:
        return max(0, used - included) * price / GB

    def storage_cost_cents(self, more_bytes: int = 0) -> float:
        return self._cost(self.storage_bytes + more_bytes, self.included_storage_bytes, self.storage_cents_per_gb)

    @property
    def transfer_cost_cents(self) -> float:
        return self._cost(self.transfer_bytes, self.included_transfer_bytes, self.transfer_cents_per_gb)

    def cost_cents(self, more_storage: int = 0) -> float:
        return self.storage_cost_cents(more_storage) + self.transfer_cost_cents

    def within_limit(self, more_storage: int = 0) -> bool:
        """Would `more_storage` bytes more keep this month's cost within the spending limit? Compared in
        whole cent-bytes, so a fraction of a cent past the limit is past it."""
        over_storage = max(0, self.storage_bytes + more_storage - self.included_storage_bytes)
        over_transfer = max(0, self.transfer_bytes - self.included_transfer_bytes)
        cost = over_storage * self.storage_cents_per_gb + over_transfer * self.transfer_cents_per_gb
        return cost <= self.limit_cents * GB

    @property
    def allowed_storage_bytes(self) -> int | None:
        """What the owner may store at this month's transfer: the included storage and what is left of the
        spending limit buys (None: storage costs nothing, so only transfer can reach the limit)."""
        if self.storage_cents_per_gb == 0:
            return None
        left = self.limit_cents * GB - max(0, self.transfer_bytes - self.included_transfer_bytes) * \
            self.transfer_cents_per_gb
        return self.included_storage_bytes + max(0, left) // self.storage_cents_per_gb

    def describe(self) -> dict[str, str]:
        """The figures as people read them (pages, the CLI, the refusal)."""
        return {"storage": _size(self.storage_bytes), "transfer": _size(self.transfer_bytes),
                "included_storage": _size(self.included_storage_bytes),
                "included_transfer": _size(self.included_transfer_bytes),
                "cost": _dollars(self.cost_cents()), "limit": _dollars(self.limit_cents),
                "month": self.month.strftime("%B %Y")}


def billing_on(settings: RuntimeSettings | None = None) -> bool:
    return (settings or current_settings()).edition.billing


def spending_limit_cents(owner: Account, settings: RuntimeSettings | None = None) -> tuple[int, bool]:
    """The owner's monthly spending limit in cents, and whether it is the default setting's."""
    own = SpendingLimit.select(SpendingLimit.cents).where(SpendingLimit.owner == owner.id).scalar()
    if own is None:
        return (settings or current_settings())["billing.default_spending_limit_cents"], True
    return int(own), False


def transfer_bytes(owner: Account, month: dt.date | None = None) -> int:
    """Bytes of the owner's private packages served by downloads in `month` (default: this one)."""
    return int(OwnerTransfer.select(OwnerTransfer.bytes)
               .where((OwnerTransfer.owner == owner.id) & (OwnerTransfer.month == (month or this_month())))
               .scalar() or 0)


def owner_usage(owner: Account, settings: RuntimeSettings | None = None) -> BillingUsage:
    """The owner's billing figures for this month, read from the database (any worker sees the same)."""
    settings = settings or current_settings()
    limit, is_default = spending_limit_cents(owner, settings)
    month = this_month()
    return BillingUsage(
        owner=owner.login, month=month, storage_bytes=private_storage_bytes(owner.id),
        transfer_bytes=transfer_bytes(owner, month),
        included_storage_bytes=settings["billing.included_storage_bytes"],
        included_transfer_bytes=settings["billing.included_transfer_bytes"],
        storage_cents_per_gb=settings["billing.storage_cents_per_gb"],
        transfer_cents_per_gb=settings["billing.transfer_cents_per_gb"],
        limit_cents=limit, limit_is_default=is_default)


def record_transfer(served: PackageFile | Repository, size: int) -> None:
    """Meter `size` bytes sent by a download of `served` (a package's file, or a blob of a repository's
    container images) against its owner's month, when billing is on and the repository is private.
    What counts as a download is `counts_as_download`'s rule, decided where files are sent."""
    if size <= 0 or not billing_on():
        return
    if isinstance(served, Repository):
        owner_id, visibility = served.owner_id, served.visibility
    else:
        row = (Repository.select(Repository.owner, Repository.visibility)
               .join(Package, on=(Package.repository == Repository.id))
               .join(PackageVersion, on=(PackageVersion.package == Package.id))
               .where(PackageVersion.id == served.version_id).tuples().first())
        if row is None:
            return
        owner_id, visibility = row
    if visibility != PRIVATE:
        return
    (OwnerTransfer.insert(owner=owner_id, month=this_month(), bytes=size)
     .on_conflict(conflict_target=[OwnerTransfer.owner, OwnerTransfer.month],
                  update={OwnerTransfer.bytes: OwnerTransfer.bytes + size})
     .execute())


def check_spending_limit(owner: Account, repository: Repository, new_bytes: int) -> None:
    """Refuse a publish of `new_bytes` to a private repository that takes the owner's month past the
    spending limit, storage and transfer together (SpendingLimitReached says used against allowed)."""
    settings = current_settings()
    if not billing_on(settings) or repository.visibility != PRIVATE:
        return
    usage = owner_usage(owner, settings)
    if usage.within_limit(new_bytes):
        return
    figures = usage.describe()
    allowed = usage.allowed_storage_bytes
    allowed_storage = "any storage" if allowed is None else f"{_size(allowed)} of storage"
    raise SpendingLimitReached(
        f"the spending limit of {owner.login} is reached: private packages would use "
        f"{_size(usage.storage_bytes + new_bytes)} of storage ({figures['storage']} used now, this publish "
        f"{_size(new_bytes)}) and used {figures['transfer']} of transfer in {figures['month']}, costing "
        f"{_dollars(usage.cost_cents(new_bytes))}; allowed: {allowed_storage} at this transfer "
        f"({figures['included_storage']} of storage and {figures['included_transfer']} of transfer included, "
        f"and a spending limit of {figures['limit']}). Raise the spending limit or delete private packages; "
        f"nothing was stored")


def set_spending_limit(owner: Account, cents: int | None) -> None:
    """Give the owner their own monthly spending limit in cents, or (None) the default setting's again.
    Refused with InvalidSpendingLimit outside `cloud` or for an amount that is not a budget."""
    settings = current_settings()
    if not billing_on(settings):
        raise InvalidSpendingLimit(f"the {settings.edition.name} edition has no billing: spending limits apply "
                                   f"in the cloud edition only")
    if cents is None:
        SpendingLimit.delete().where(SpendingLimit.owner == owner.id).execute()
        return
    if not 0 <= cents <= MAX_SPENDING_LIMIT_CENTS:
        raise InvalidSpendingLimit(f"a spending limit is between $0.00 and {_dollars(MAX_SPENDING_LIMIT_CENTS)}")
    (SpendingLimit.insert(owner=owner.id, cents=cents, updated_at=utcnow())
     .on_conflict(conflict_target=[SpendingLimit.owner],
                  update={SpendingLimit.cents: cents, SpendingLimit.updated_at: utcnow()})
     .execute())


def parse_dollars(text: str) -> int | None:
    """An amount as people type it ("25", "$12.50") in cents; "" or "default" is None (the default
    setting's limit). InvalidSpendingLimit for anything else."""
    text = text.strip().removeprefix("$").strip()
    if text.lower() in ("", "default"):
        return None
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or len(whole) > 9 or not (fraction == "" or (fraction.isdigit() and len(fraction) <= 2)):
        raise InvalidSpendingLimit(f"a spending limit is an amount in dollars such as 25 or 12.50, not {text!r}")
    return int(whole) * 100 + int(fraction.ljust(2, "0") or 0)


@dataclass(frozen=True)
class OwnerBillingRow:
    owner: str
    is_organization: bool
    transfer_bytes: int
    limit_cents: int | None  # None: the default setting's


def billing_rows(limit: int = 200) -> list[OwnerBillingRow]:
    """For the console: the owners with this month's transfer (most first) and those with their own
    spending limit, one row each."""
    month = this_month()
    transfers = dict(OwnerTransfer.select(OwnerTransfer.owner, OwnerTransfer.bytes)
                     .where(OwnerTransfer.month == month).order_by(OwnerTransfer.bytes.desc()).limit(limit).tuples())
    limits = dict(SpendingLimit.select(SpendingLimit.owner, SpendingLimit.cents).limit(limit).tuples())
    ids = list(dict.fromkeys([*transfers, *limits]))
    accounts = {a.id: a for a in Account.select(Account.id, Account.login, Account.kind)
                .where(Account.id.in_(ids))} if ids else {}
    rows = [OwnerBillingRow(accounts[i].login, accounts[i].is_organization, int(transfers.get(i, 0)),
                            int(limits[i]) if i in limits else None) for i in ids if i in accounts]
    return sorted(rows, key=lambda row: (-row.transfer_bytes, row.owner.lower()))
