"""A package in a repository the publisher cannot see is answered as if its name were free: publishing
to it says what publishing a new name says, and nothing names the repository it is in."""
from __future__ import annotations

import pytest

from appliance import packages as service
from appliance.accounts.service import create_organization, create_repository, create_user, grant
from appliance.auth.permissions import Actor
from appliance.auth.tokens import issue_token
from appliance.packages import AccessDenied, FileUpload, LinkRefused, NameTaken, VersionDraft

ALL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]


def actor_of(user) -> Actor:
    return Actor(user=user, token=issue_token(user, ALL_SCOPES)[0])


@pytest.fixture
def world(app):
    with app.test_request_context():
        owner = create_user("boss")
        acme = create_organization("acme", owner)
        secret = create_repository(acme, "secret", "private")
        shared = create_repository(acme, "shared", "public")
        outsider = create_user("outsider")
        grant(shared, outsider, "write")
        yield {"owner": actor_of(owner), "outsider": actor_of(outsider), "secret": secret, "shared": shared}


def publish(actor, name, repository_name, version="1.0.0"):
    return service.publish_version(
        actor, owner_login="acme", fmt="npm", name=name, draft=VersionDraft(version, {}),
        uploads=[FileUpload(f"{name}-{version}.tgz", [f"{name} {version}".encode()])],
        repository_name=repository_name, default_repository_name=name)


def refusal(call, *args) -> tuple[type, str]:
    with pytest.raises((LinkRefused, AccessDenied)) as caught:
        call(*args)
    return type(caught.value), str(caught.value)


def test_publishing_a_hidden_name_answers_like_a_free_name(world):
    publish(world["owner"], "hidden", "secret")
    for repository_name in ("secret", "nowhere", None):
        hidden = refusal(publish, world["outsider"], "hidden", repository_name, "2.0.0")
        free = refusal(publish, world["outsider"], "never-taken", repository_name, "2.0.0")
        # The default repository is the one named like the package: the names differ there alone.
        assert (hidden[0], hidden[1].replace("acme/hidden", "acme/never-taken")) == free


def test_where_a_free_name_would_be_published_a_hidden_one_is_refused_without_naming_its_repository(world):
    publish(world["owner"], "hidden", "secret")
    kind, message = refusal(publish, world["outsider"], "hidden", "shared", "2.0.0")
    assert kind is NameTaken
    assert message == "the name hidden is taken in another repository of acme: publish under another name"
    assert "secret" not in message


def test_a_file_for_a_name_taken_elsewhere_names_the_repository_only_to_those_who_see_it(world):
    def add(actor):
        return service.add_version_file(
            actor, repository=world["shared"], fmt="maven", name="com.acme:lib", version="1.0",
            upload=FileUpload("lib-1.0.jar", [b"jar bytes"]))

    service.add_version_file(world["owner"], repository=world["secret"], fmt="maven", name="com.acme:lib",
                             version="1.0", upload=FileUpload("lib-1.0.jar", [b"jar bytes"]))
    assert refusal(add, world["outsider"]) == (
        NameTaken,
        "the name com.acme:lib is taken in another repository of acme: use another name in acme/shared")
    assert refusal(add, world["owner"])[1].startswith(
        "com.acme:lib belongs to the repository acme/secret")
