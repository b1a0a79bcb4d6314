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
    (e.RepositoryNotLinked("x"), 400), (NameTaken("x"), 400), (e.InvalidUpload("x"), 400),
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
