"""Switching edition deletes nothing, but a repository of a visibility the new edition does not offer takes
no new writes (a publish, a tag) until a site administrator changes it; reading and deleting go on."""
from __future__ import annotations

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user, set_visibility
from appliance.auth.permissions import Actor
from appliance.models import Package, PackageVersion
from appliance.packages import VisibilityNotOffered
from appliance.settings import store_setting
from tests.support.web import publish


@pytest.fixture
def alice(app):
    alice = create_user("alice")
    for name in ("open", "team", "secret"):
        create_repository(alice, name, {"open": "public", "team": "internal", "secret": "private"}[name])
    for name in ("open", "team", "secret"):
        publish("alice", "alice", name, f"@alice/{name}", "1.0.0")
    return alice


@pytest.mark.parametrize(("edition", "refused", "offered"), [
    ("ae", "open", "private, internal"), ("cloud", "team", "public, private")])
def test_a_repository_the_edition_does_not_offer_takes_no_new_version(alice, edition, refused, offered):
    store_setting("edition", edition)
    versions = PackageVersion.select().count()
    with pytest.raises(VisibilityNotOffered) as error:
        publish("alice", "alice", refused, f"@alice/{refused}", "1.0.1")
    assert str(error.value) == (
        f"alice/{refused} is {'public' if refused == 'open' else 'internal'}, which the {edition} edition does not "
        f"offer ({offered}): nothing can be published to it until a site administrator changes its visibility")
    assert error.value.status == 403 and PackageVersion.select().count() == versions
    for allowed in {"open", "team", "secret"} - {refused}:
        publish("alice", "alice", allowed, f"@alice/{allowed}", "1.0.1")

    # Nothing was deleted, its owner still reads it, and once private it takes versions again.
    actor = Actor(user=alice)
    package = Package.get(Package.name == f"@alice/{refused}")
    assert service.readable_package(actor, "alice", "npm", package.name) is not None
    set_visibility(package.repository, "private")
    publish("alice", "alice", refused, f"@alice/{refused}", "1.0.1")


def test_the_default_edition_offers_every_visibility(alice):
    for name in ("open", "team", "secret"):
        publish("alice", "alice", name, f"@alice/{name}", "2.0.0")
