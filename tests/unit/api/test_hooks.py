"""Repository and organization hooks through GitHub's REST hook endpoints, their pings, the delivery
log, redelivery, the SSRF guard, retries with backoff and the cut of a hung receiver."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from appliance.accounts.service import add_member, create_organization, create_repository, create_user, grant
from appliance.auth.tokens import issue_token
from appliance.models.base import utcnow
from appliance.models.webhooks import HookDelivery
from appliance.settings import store_setting
from appliance.webhooks import delivery
from tests.support.hook_receiver import Receiver

SECRET = "It's a Secret to Everybody"


@pytest.fixture
def world(app):
    store_setting("webhooks.allow_private_addresses", True)
    alice = create_user("alice")
    bob = create_user("bob")
    acme = create_organization("acme", alice)
    add_member(acme, bob)
    repo = create_repository(acme, "widgets", "private")
    grant(repo, bob, "write")
    return {
        "alice": {"Authorization": f"token {issue_token(alice, ['repo', 'admin:org_hook'])[1]}"},
        "alice-packages": {"Authorization": f"token {issue_token(alice, ['read:packages'])[1]}"},
        "bob": {"Authorization": f"token {issue_token(bob, ['repo', 'admin:org_hook'])[1]}"},
    }


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def create(client, headers, url, path="/api/v3/repos/acme/widgets/hooks", **extra):
    body = {"name": "web", "config": {"url": url, "content_type": "json", "secret": SECRET},
            "events": ["package"], "active": True, **extra}
    return client.post(path, json=body, headers=headers)


def test_create_shows_no_secret_and_pings(client, world, receiver):
    response = create(client, world["alice"], receiver.url)
    assert response.status_code == 201
    hook = response.get_json()
    assert hook["config"] == {"url": receiver.url, "content_type": "json", "insecure_ssl": "0",
                              "secret": "********"}
    assert hook["events"] == ["package"] and hook["type"] == "Repository"
    assert SECRET not in response.get_data(as_text=True)
    assert delivery.deliver_due() == "sent 1 of 1 due deliveries"
    (ping,) = receiver.received
    assert ping.headers["X-GitHub-Event"] == "ping"
    assert ping.headers["X-GitHub-Hook-ID"] == str(hook["id"])
    assert ping.signature_valid(SECRET)
    payload = json.loads(ping.body)
    assert payload["hook_id"] == hook["id"] and payload["repository"]["full_name"] == "acme/widgets"
    assert SECRET not in ping.body.decode()

    log = client.get(f"/api/v3/repos/acme/widgets/hooks/{hook['id']}/deliveries", headers=world["alice"])
    (item,) = log.get_json()
    assert item["event"] == "ping" and item["status_code"] == 200 and item["status"] == "OK"
    detail = client.get(f"/api/v3/repos/acme/widgets/hooks/{hook['id']}/deliveries/{item['id']}",
                        headers=world["alice"]).get_json()
    assert detail["request"]["headers"]["X-GitHub-Event"] == "ping"
    assert detail["response"]["payload"] == "ok"
    redo = client.post(f"/api/v3/repos/acme/widgets/hooks/{hook['id']}/deliveries/{item['id']}/attempts",
                       headers=world["alice"])
    assert redo.status_code == 202
    delivery.deliver_due()
    assert len(receiver.received) == 2
    assert receiver.received[1].headers["X-GitHub-Delivery"] == ping.headers["X-GitHub-Delivery"]
    again = client.get(f"/api/v3/repos/acme/widgets/hooks/{hook['id']}", headers=world["alice"]).get_json()
    assert again["last_response"] == {"code": 200, "status": "active", "message": "OK"}


def test_form_content_type_is_signed_as_sent(client, world, receiver):
    body = {"config": {"url": receiver.url, "content_type": "form", "secret": SECRET}}
    assert client.post("/api/v3/orgs/acme/hooks", json=body, headers=world["alice"]).status_code == 201
    delivery.deliver_due()
    (ping,) = receiver.received
    assert ping.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert ping.signature_valid(SECRET)
    assert json.loads(parse_qs(ping.body.decode())["payload"][0])["hook"]["type"] == "Organization"


def test_only_admins_with_the_scope_see_hooks(client, world, receiver):
    hook_id = create(client, world["alice"], receiver.url).get_json()["id"]
    for who in ("bob", "alice-packages"):
        assert client.get("/api/v3/repos/acme/widgets/hooks", headers=world[who]).status_code == 404
        assert client.get(f"/api/v3/orgs/acme/hooks/{hook_id}", headers=world[who]).status_code == 404
    assert client.get("/api/v3/repos/acme/widgets/hooks").status_code == 401
    refused = client.get("/api/v3/repos/acme/widgets/hooks", headers=world["alice-packages"])
    assert refused.headers["X-Accepted-OAuth-Scopes"] == "repo"
    # An organization's hook is not reached through a repository, nor the other way round.
    assert client.get(f"/api/v3/orgs/acme/hooks/{hook_id}", headers=world["alice"]).status_code == 404


def test_edit_config_events_and_delete(client, world, receiver):
    hook_id = create(client, world["alice"], receiver.url).get_json()["id"]
    path = f"/api/v3/repos/acme/widgets/hooks/{hook_id}"
    patched = client.patch(path, json={"active": False, "add_events": ["*"]}, headers=world["alice"]).get_json()
    assert patched["active"] is False and patched["events"] == ["package", "*"]
    config = client.patch(f"{path}/config", json={"content_type": "form"}, headers=world["alice"]).get_json()
    assert config["content_type"] == "form" and config["secret"] == "********"
    bad = client.patch(path, json={"events": ["push"]}, headers=world["alice"])
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "events"
    assert client.post("/api/v3/repos/acme/widgets/hooks", json={"config": {"url": "ftp://x"}},
                       headers=world["alice"]).status_code == 422
    assert client.delete(path, headers=world["alice"]).status_code == 204
    assert client.get(path, headers=world["alice"]).status_code == 404


def test_private_addresses_refused_unless_allowed(client, world, receiver):
    store_setting("webhooks.allow_private_addresses", False)
    create(client, world["alice"], receiver.url)
    delivery.deliver_due()
    assert receiver.received == []
    (row,) = HookDelivery.select()
    assert row.status.startswith("Refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
    assert row.next_attempt_at is None  # not retried: the setting decides, and redelivery is there
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[::1]:9/", "http://10.1.2.3/"):
        store_setting("webhooks.allow_private_addresses", url.startswith("http://169"))
        attempt = delivery.send(delivery.Request(url, b"{}", {}, False),
                                allow_private=url.startswith("http://169"))
        assert attempt.status.startswith("Refused:") and attempt.status_code == 0


def test_dead_receiver_is_retried_with_backoff(client, world, receiver):
    receiver.status = 500
    create(client, world["alice"], receiver.url)
    delivery.deliver_due()
    (row,) = HookDelivery.select()
    assert row.status == "Invalid HTTP Response: 500" and row.attempts == 1
    first_wait = row.next_attempt_at - row.delivered_at
    assert 25 < first_wait.total_seconds() <= 31
    assert delivery.deliver_due() == "nothing due"  # not before its time
    HookDelivery.update(next_attempt_at=utcnow()).execute()
    delivery.deliver_due()
    row = HookDelivery.get()
    assert row.attempts == 2 and 55 < (row.next_attempt_at - row.delivered_at).total_seconds() <= 61
    assert len(receiver.received) == 2
    # Past a day since the event, it is given up.
    HookDelivery.update(next_attempt_at=utcnow(), created_at=utcnow().replace(year=2000)).execute()
    delivery.deliver_due()
    assert HookDelivery.get().next_attempt_at is None


def test_hung_receiver_is_cut(client, world, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "TIMEOUT_SECONDS", 0.5)
    receiver.hang_seconds = 3
    create(client, world["alice"], receiver.url)
    delivery.deliver_due()
    row = HookDelivery.get()
    assert row.status == "timed out" and row.duration < 2 and row.next_attempt_at is not None


def test_a_publish_queues_a_package_event_per_hook(client, world, receiver, publish_as):
    repository_hook = create(client, world["alice"], receiver.url).get_json()
    org_body = {"config": {"url": receiver.url, "content_type": "json", "secret": "org secret"}, "events": ["*"]}
    assert client.post("/api/v3/orgs/acme/hooks", json=org_body, headers=world["alice"]).status_code == 201
    inactive = create(client, world["alice"], receiver.url, active=False).get_json()
    delivery.deliver_due()  # the pings
    receiver.received.clear()

    from appliance.models.accounts import Account

    publish_as(Account.get(Account.login == "bob"), "acme", "npm", "@acme/widget", "1.0.0", "widgets",
               tags=("latest",), summary="a widget")
    queued = list(HookDelivery.select().where(HookDelivery.event == "package"))
    assert sorted(d.hook_id for d in queued) == sorted([repository_hook["id"], repository_hook["id"] + 1])
    assert inactive["id"] not in [d.hook_id for d in queued]
    assert delivery.deliver_due() == "sent 2 of 2 due deliveries"
    by_hook = {r.headers["X-GitHub-Hook-ID"]: r for r in receiver.received}
    sent = by_hook[str(repository_hook["id"])]
    assert sent.headers["X-GitHub-Event"] == "package" and sent.signature_valid(SECRET)
    assert by_hook[str(repository_hook["id"] + 1)].signature_valid("org secret")
    payload = json.loads(sent.body)
    assert payload["action"] == "published"
    package = payload["package"]
    assert package["name"] == "@acme/widget" and package["package_type"] == "npm"
    assert package["namespace"] == "acme" and package["owner"]["login"] == "acme"
    version = package["package_version"]
    assert version["version"] == "1.0.0" and version["summary"] == "a widget"
    assert version["package_files"][0]["name"] == "widget-1.0.0.tgz"
    assert version["author"]["login"] == "bob" and version["installation_command"] == "npm install @acme/widget@1.0.0"
    assert payload["repository"]["full_name"] == "acme/widgets" and payload["organization"]["login"] == "acme"
    assert payload["sender"]["login"] == "bob"
    assert package["registry"]["type"] == "npm"
    assert SECRET not in sent.body.decode()


def test_a_changed_package_is_an_updated_event_and_no_secret_is_logged(client, world, receiver, publish_as):
    from appliance import packages as service
    from appliance.auth.permissions import Actor
    from appliance.models.accounts import Account

    hook = create(client, world["alice"], receiver.url).get_json()
    bob = Account.get(Account.login == "bob")
    publish_as(bob, "acme", "npm", "@acme/widget", "1.0.0", "widgets", tags=("latest",))
    publish_as(bob, "acme", "npm", "@acme/widget", "1.1.0", "widgets", tags=("latest",))
    delivery.deliver_due()
    receiver.received.clear()

    package = service.find_package("acme", "npm", "@acme/widget")
    service.move_tag(Actor(user=bob), package, "stable", "1.0.0")  # `npm dist-tag add`: the package changed
    assert delivery.deliver_due() == "sent 1 of 1 due deliveries"
    (sent,) = receiver.received
    assert sent.signature_valid(SECRET)
    payload = json.loads(sent.body)
    assert payload["action"] == "updated"
    assert payload["package"]["name"] == "@acme/widget" and payload["package"]["package_version"]["version"] == "1.0.0"

    log = client.get(f"/api/v3/repos/acme/widgets/hooks/{hook['id']}/deliveries", headers=world["alice"]).get_json()
    assert {item["action"] for item in log if item["event"] == "package"} == {"published", "updated"}
    for item in log:
        detail = client.get(f"/api/v3/repos/acme/widgets/hooks/{hook['id']}/deliveries/{item['id']}",
                            headers=world["alice"])
        assert SECRET not in detail.get_data(as_text=True)
