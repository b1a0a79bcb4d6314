"""Each error of the packages service carries its default status; a face overrides only what its protocol
answers differently, and the lookup walks the class hierarchy."""
from __future__ import annotations

import pytest

from appliance.auth.permissions import Decision, Outcome
from appliance.packages import (
    AccessDenied,
    LinkRefused,
    NameTaken,
    PackageError,
    PackageNotFound,
    VersionNotFound,
    along_hierarchy,
    status_for,
)
from appliance.packages import errors as e


@pytest.mark.parametrize(("error", "status"), [
    (PackageNotFound("x"), 404), (VersionNotFound("x"), 404), (e.TagNotFound("x"), 404),
    (e.RestoreExpired("x"), 404), (e.UploadNotFound("x"), 404), (e.FormatDisabled("x"), 404),
    (e.VersionExists("x"), 409), (e.StillRestorable("x"), 409), (e.FileExists("x"), 409),
    (e.RepositoryNotLinked("alice", "x"), 400),
    (e.ForeignRepository("alice", "package.json", "bob", "x"), 400), (NameTaken("x"), 400), (e.InvalidUpload("x"), 400),
    (e.BlobCollected("x"), 400), (e.TokenInUpload("a.txt", 3), 400),
    (e.UploadTooLarge("x"), 413), (e.UploadOutOfOrder("x"), 416),
])
def test_default_statuses(error, status):
    assert status_for(error) == status


def test_a_subclass_is_answered_like_its_parent_unless_it_says_otherwise():
    class NewRefusal(LinkRefused):
        pass

    class NewMissing(PackageNotFound):
        pass

    assert status_for(NewRefusal("x")) == 400
    assert status_for(NewRefusal("x"), {LinkRefused: 409}) == 409
    assert status_for(NewMissing("x"), {PackageError: 422}) == 404  # its parent's own status is nearer


def test_overrides_win_at_their_class_only():
    overrides = {PackageError: 422}  # RubyGems answers what it will not take with 422
    assert status_for(e.InvalidUpload("x"), overrides) == 422
    assert status_for(e.TokenInUpload("a", None), overrides) == 422
    assert status_for(VersionNotFound("x"), overrides) == 404
    assert status_for(e.UploadTooLarge("x"), overrides) == 413


@pytest.mark.parametrize(("outcome", "status"), [(Outcome.UNAUTHENTICATED, 401), (Outcome.FORBIDDEN, 403),
                                                 (Outcome.NOT_FOUND, 404)])
def test_access_denied_answers_its_decision(outcome, status):
    assert status_for(AccessDenied(Decision(outcome, "m")), {PackageError: 422}) == status


def test_codes_along_the_hierarchy():
    codes = {VersionNotFound: "MANIFEST_UNKNOWN", LinkRefused: "DENIED"}
    assert along_hierarchy(NameTaken("x"), codes) == "DENIED"
    assert along_hierarchy(VersionNotFound("x"), codes) == "MANIFEST_UNKNOWN"
    assert along_hierarchy(PackageNotFound("x"), codes) is None


def test_a_faces_hint_is_found_along_the_hierarchy_and_placed_by_the_error():
    hints = {LinkRefused: lambda error: "name it so", e.TokenInUpload: lambda error: f"revoke {error.token_id}"}
    assert e.explain(NameTaken("taken"), hints) == "taken: name it so"
    assert e.explain(e.TokenInUpload("a.txt", 3), hints) == (
        "refused: a.txt holds a token of this appliance (apt_...): anyone who installs the package could use it, "
        "so nothing was published: revoke 3")
    # Where the message asks how to name a repository, the hint stands there.
    assert e.explain(e.RepositoryNotLinked("alice", None, "demo"), hints) == (
        "no repository to link this package to: name a repository of alice (name it so) or create the repository "
        "alice/demo")
    assert e.explain(VersionNotFound("gone"), hints) == "gone"


def test_the_named_repository_must_belong_to_the_owner_in_every_format():
    from appliance.packages import owners_repository

    assert owners_repository("alice", None, "package.json") is None
    assert owners_repository("Alice", ("alice", "Tools"), "package.json") == "Tools"
    with pytest.raises(e.ForeignRepository) as raised:
        owners_repository("alice", ("bob", "tools"), "the .nuspec")
    error = raised.value
    assert (error.owner, error.named_by, error.named_owner, error.named) == ("alice", "the .nuspec", "bob", "tools")
    assert str(error) == "the .nuspec names the repository bob/tools, but a package of alice belongs to a repository of alice"
