"""Cloud billing in the service: the monthly transfer of private packages metered per owner, the cost of
storage and transfer past the included amounts against the owner's spending limit (their own or the
default), the publish refused past it with what is used and allowed, and nothing of it outside `cloud`."""
from __future__ import annotations

import datetime as dt

import pytest

from appliance import packages as service
from appliance.accounts.service import create_organization, create_repository, create_user
from appliance.models import Blob, OwnerTransfer, Package, PackageFile, PackageVersion
from appliance.packages import InvalidSpendingLimit, SpendingLimitReached
from appliance.packages.billing import GB, this_month, transfer_bytes
from appliance.settings import store_setting
from tests.support.web import publish


@pytest.fixture
def owners(app):
    alice = create_user("alice")
    bob = create_user("bob")
    acme = create_organization("acme", alice)
    repositories = {name: create_repository(owner, repo, visibility)
                    for name, owner, repo, visibility in [("alice/private", alice, "private", "private"),
                                                          ("alice/open", alice, "open", "public"),
                                                          ("bob/private", bob, "private", "private"),
                                                          ("acme/private", acme, "private", "private")]}
    return {"alice": alice, "bob": bob, "acme": acme, **repositories}


def cloud(**settings) -> None:
    store_setting("edition", "cloud")
    for key, value in settings.items():
        store_setting(f"billing.{key}", value)


def file_of(version: PackageVersion) -> PackageFile:
    return PackageFile.get(PackageFile.version == version.id)


def stored() -> tuple[int, int, int]:
    return Package.select().count(), PackageVersion.select().count(), Blob.select().count()


def test_transfer_is_metered_per_owner_and_month_for_private_packages_only(owners):
    cloud()
    private = file_of(publish("alice", "alice", "private", "@alice/secret", "1.0.0"))
    public = file_of(publish("alice", "alice", "open", "@alice/open", "1.0.0"))
    service.record_transfer(private, 1000)
    service.record_transfer(private, 500)
    service.record_transfer(public, 7000)
    service.record_transfer(owners["acme/private"], 300)  # a container blob of the organization's repository
    service.record_transfer(owners["alice/open"], 9000)
    last_month = (this_month() - dt.timedelta(days=1)).replace(day=1)
    OwnerTransfer.create(owner=owners["alice"], month=last_month, bytes=10**9)

    assert transfer_bytes(owners["alice"]) == 1500
    assert transfer_bytes(owners["alice"], last_month) == 10**9
    assert transfer_bytes(owners["acme"]) == 300
    assert transfer_bytes(owners["bob"]) == 0
    assert service.owner_usage(owners["alice"]).transfer_bytes == 1500


def test_nothing_is_metered_or_refused_outside_cloud(owners):
    store_setting("billing.included_storage_bytes", 0)
    store_setting("billing.included_transfer_bytes", 0)
    version = publish("alice", "alice", "private", "@alice/secret", "1.0.0")
    service.record_transfer(file_of(version), 10 * GB)
    assert OwnerTransfer.select().count() == 0
    publish("alice", "alice", "private", "@alice/secret", "1.0.1")  # no limit applies
    with pytest.raises(InvalidSpendingLimit, match="the enterprise-server edition has no billing"):
        service.set_spending_limit(owners["alice"], 100)


def test_transfer_past_the_limit_refuses_a_private_publish_and_stores_nothing(owners):
    cloud(included_storage_bytes=GB, included_transfer_bytes=GB, transfer_cents_per_gb=50,
          default_spending_limit_cents=0)
    publish("alice", "alice", "private", "@alice/secret", "1.0.0")
    service.record_transfer(owners["alice/private"], GB + 1)  # one byte past the included transfer
    before = stored()

    with pytest.raises(SpendingLimitReached) as refused:
        publish("alice", "alice", "private", "@alice/secret", "1.0.1")
    message = str(refused.value)
    assert message.startswith("the spending limit of alice is reached: private packages would use ")
    assert "and used 1.00 GB of transfer in " in message
    assert ("allowed: 1.00 GB of storage at this transfer (1.00 GB of storage and 1.00 GB of transfer included, "
            "and a spending limit of $0.00)") in message
    assert message.endswith("Raise the spending limit or delete private packages; nothing was stored")
    assert stored() == before

    # Public packages are not metered, and another owner's transfer is theirs alone.
    publish("alice", "alice", "open", "@alice/open", "1.0.0")
    publish("bob", "bob", "private", "@bob/secret", "1.0.0")

    # Her own limit of a dollar pays for the byte of transfer: the publish goes through.
    service.set_spending_limit(owners["alice"], 100)
    publish("alice", "alice", "private", "@alice/secret", "1.0.1")


def test_storage_and_transfer_share_one_limit(owners):
    # 1 GB of transfer past the included amount costs $0.50 of a $1.00 limit; the other $0.50 buys 2 GB of
    # storage at $0.25 a GB, on top of the 100 bytes included.
    cloud(included_storage_bytes=100, included_transfer_bytes=0, storage_cents_per_gb=25,
          transfer_cents_per_gb=50, default_spending_limit_cents=100)
    service.record_transfer(owners["alice/private"], GB)
    usage = service.owner_usage(owners["alice"])
    assert usage.transfer_cost_cents == 50
    assert usage.allowed_storage_bytes == 100 + 2 * GB
    assert usage.within_limit(2 * GB + 100) and not usage.within_limit(2 * GB + 101)
    assert usage.describe()["cost"] == "$0.50" and usage.describe()["limit"] == "$1.00"


def test_an_owner_limit_replaces_the_default_until_it_is_reset(owners):
    cloud(default_spending_limit_cents=500)
    assert service.spending_limit_cents(owners["acme"]) == (500, True)
    service.set_spending_limit(owners["acme"], 2550)
    service.set_spending_limit(owners["acme"], 2575)  # set again: replaced, not added
    assert service.spending_limit_cents(owners["acme"]) == (2575, False)
    assert service.spending_limit_cents(owners["bob"]) == (500, True)
    service.set_spending_limit(owners["acme"], None)
    assert service.spending_limit_cents(owners["acme"]) == (500, True)
    with pytest.raises(InvalidSpendingLimit, match="between"):
        service.set_spending_limit(owners["acme"], 10**12)


@pytest.mark.parametrize(("text", "cents"), [("25", 2500), ("$12.50", 1250), ("0.5", 50), (" 3.07 ", 307),
                                             ("", None), ("default", None)])
def test_amounts_as_people_type_them(text, cents):
    assert service.parse_dollars(text) == cents


@pytest.mark.parametrize("text", ["-1", "abc", "1.234", "1,50", "1e3", "9999999999"])
def test_amounts_that_are_not_one(text):
    with pytest.raises(InvalidSpendingLimit, match="amount in dollars"):
        service.parse_dollars(text)
