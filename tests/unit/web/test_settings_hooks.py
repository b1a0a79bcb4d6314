"""The webhooks settings pages of a repository and an organization: add a hook, see its delivery log
with the request and response, redeliver, delete; nobody but the admins sees them."""
from __future__ import annotations

import pytest

from appliance.accounts.service import add_member, create_organization, create_repository, create_user
from appliance.models.webhooks import Hook, HookDelivery
from appliance.settings import store_setting
from appliance.webhooks import delivery
from tests.support.hook_receiver import Receiver
from tests.support.web import post_form, sign_in


@pytest.fixture
def world(app):
    store_setting("webhooks.allow_private_addresses", True)
    alice = create_user("alice", password="alice-password")
    bob = create_user("bob", password="bob-password")
    acme = create_organization("acme", alice)
    add_member(acme, bob)
    create_repository(acme, "widgets", "public")
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def test_add_a_hook_see_its_deliveries_and_redeliver(client, world):
    sign_in(client, "alice")
    page = "/acme/widgets/settings/hooks"
    assert client.get(page).status_code == 200
    added = post_form(client, page, url=world.url, content_type="json", secret="s3cret", active="on")
    assert added.status_code == 302
    hook = Hook.get()
    delivery.deliver_due()
    listing = client.get(page).get_data(as_text=True)
    assert world.url in listing and "s3cret" not in listing
    detail = client.get(f"{page}/{hook.id}").get_data(as_text=True)
    assert "X-GitHub-Event: ping" in detail and "s3cret" not in detail and "OK" in detail
    (ping,) = HookDelivery.select()
    redone = post_form(client, f"{page}/{hook.id}", f"{page}/{hook.id}/deliveries/{ping.id}/redeliver")
    assert redone.status_code == 302 and HookDelivery.select().count() == 2
    delivery.deliver_due()
    assert len(world.received) == 2
    bad = post_form(client, page, url="ftp://nowhere", content_type="json")
    assert bad.status_code == 400 and "http://" in bad.get_data(as_text=True)
    assert post_form(client, page, f"{page}/{hook.id}/delete").status_code == 302
    assert Hook.select().count() == 0


def test_organization_hooks_page(client, world):
    sign_in(client, "alice")
    page = "/organizations/acme/settings/hooks"
    assert post_form(client, page, url=world.url, content_type="form").status_code == 302
    assert Hook.get().organization.login == "acme"


def test_only_admins_see_the_pages(client, world):
    assert client.get("/acme/widgets/settings/hooks").status_code == 302  # sign in first
    sign_in(client, "bob")
    assert client.get("/acme/widgets/settings/hooks").status_code == 404
    assert client.get("/organizations/acme/settings/hooks").status_code == 404
    assert client.get("/acme/nothing/settings/hooks").status_code == 404
