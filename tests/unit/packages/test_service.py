"""The packages service: publishing, linking, immutability, soft deletes, downloads and search."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user, find_repository, grant
from appliance.auth.permissions import ANONYMOUS, Actor, Outcome
from appliance.auth.tokens import issue_token
from appliance.models import (
    AuditEvent,
    Blob,
    DownloadCount,
    Package,
    PackageFile,
    PackageTag,
    PackageVersion,
)
from appliance.models.base import utcnow
from appliance.packages import (
    AccessDenied,
    FileUpload,
    InvalidUpload,
    RepositoryNotLinked,
    RestoreExpired,
    StillRestorable,
    VersionDraft,
    VersionExists,
    publishing,
)
from appliance.settings import store_setting
from appliance.storage.blobs import blob_path

ALL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]
HOW = 'set "repository" in package.json'


@pytest.fixture
def request_ctx(app):
    """A request of its own (own app context too, so per-request settings are read afresh)."""
    with app.app_context(), app.test_request_context(environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        yield


@pytest.fixture
def storage_root(bootstrap):
    return bootstrap.storage_path


@pytest.fixture
def alice(request_ctx):
    user = create_user("alice")
    create_repository(user, "hello")
    return user


def actor_of(user, scopes=ALL_SCOPES) -> Actor:
    token, _ = issue_token(user, list(scopes))
    return Actor(user=user, token=token)


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def upload(name: str, content: bytes, **kwargs) -> FileUpload:
    return FileUpload(name, [content], **kwargs)


def publish(actor, name="hello", version="1.0.0", content=b"tarball bytes", *, owner="alice",
            repository=None, default=None, uploads=None, tags=()):
    return service.publish_version(
        actor, owner_login=owner, fmt="npm", name=name,
        draft=VersionDraft(version, {"name": name, "version": version}, summary="says hello", license="MIT"),
        uploads=uploads if uploads is not None else [upload(f"{name}-{version}.tgz", content)],
        repository_name=repository, default_repository_name=default or name,
        tags=tags)


def counts() -> dict[str, int]:
    return {m.__name__: m.select().count() for m in (Package, PackageVersion, PackageFile, Blob)}


@contextlib.contextmanager
def new_request(app):
    """Another request: what every request does is read the runtime settings afresh."""
    with app.app_context(), app.test_request_context():
        yield


# ---- publishing ------------------------------------------------------------------------------------


def test_publish_creates_the_package_version_file_blob_and_an_audit_event(alice, storage_root):
    content = b"the tarball"
    version = publish(actor_of(alice), content=content, tags=["latest"])

    package = Package.get(Package.lower_name == "hello")
    assert (package.owner_id, package.repository.name, package.format, package.deleted_at) == (
        alice.id, "hello", "npm", None)
    row = PackageVersion.get_by_id(version.id)
    assert (row.package_id, row.version, row.summary, row.license, row.published_by_id) == (
        package.id, "1.0.0", "says hello", "MIT", alice.id)
    assert json.loads(row.metadata) == {"name": "hello", "version": "1.0.0"}
    file = PackageFile.get(PackageFile.version == version.id)
    assert file.name == "hello-1.0.0.tgz"
    sha256 = hashlib.sha256(content).hexdigest()
    assert (file.blob.sha256, file.blob.size) == (sha256, len(content))
    assert stored_files(storage_root) == [blob_path(sha256)]
    assert (storage_root / blob_path(sha256)).read_bytes() == content
    assert service.package_tags(package) == {"latest": "1.0.0"}

    event = AuditEvent.get(AuditEvent.action == "package_version.publish")
    assert (event.actor_id, event.actor_login, event.target, event.remote_addr) == (
        alice.id, "alice", "npm:alice/hello@1.0.0", "10.1.2.3")
    assert json.loads(event.data) == {"repository": "alice/hello"}


def test_publish_keeps_the_digests_the_format_asks_for(alice):
    content = b"npm wants sha1 and sha512"
    publish(actor_of(alice), uploads=[upload("a.tgz", content, algorithms=("sha1", "sha512"))])
    blob = Blob.get()
    assert blob.sha1 == hashlib.sha1(content).hexdigest()
    assert blob.sha512 == hashlib.sha512(content).hexdigest()
    assert blob.md5 is None

    # The same bytes published by a format that needs md5 fill it in on the shared row.
    publish(actor_of(alice), version="2.0.0", uploads=[upload("b.tgz", content, algorithms=("md5",))])
    assert Blob.select().count() == 1
    assert Blob.get().md5 == hashlib.md5(content).hexdigest()


def test_publish_links_a_new_package_to_the_named_repository(alice):
    create_repository(alice, "tools")
    publish(actor_of(alice), repository="Tools")
    package = service.find_package("alice", "npm", "hello")
    assert package.repository.name == "tools"


def test_publish_links_a_new_package_to_the_default_repository(alice):
    create_repository(alice, "tools")
    publish(actor_of(alice), name="tools-cli", default="tools")
    assert service.find_package("alice", "npm", "tools-cli").repository.name == "tools"


def test_later_versions_stay_in_the_package_repository(alice):
    create_repository(alice, "tools")
    publish(actor_of(alice), repository="tools")
    publish(actor_of(alice), version="2.0.0", repository=None)
    package = service.find_package("alice", "npm", "hello")
    assert package.repository.name == "tools"
    assert [v.version for v in service.live_versions(package)] == ["1.0.0", "2.0.0"]


def test_publish_naming_a_missing_repository_says_how_to_link_one(alice, storage_root):
    with pytest.raises(RepositoryNotLinked) as raised:
        publish(actor_of(alice), repository="nope")
    error = raised.value
    assert (error.owner, error.named) == ("alice", "nope")
    assert str(error) == ("the package names the repository alice/nope, which does not exist: create it or name "
                          "an existing repository of alice")
    # The face says how its client names a repository, where the message asks for one.
    assert error.explained(HOW) == ("the package names the repository alice/nope, which does not exist: create "
                                    f"it or name an existing repository of alice ({HOW})")
    assert counts() == {"Package": 0, "PackageVersion": 0, "PackageFile": 0, "Blob": 0}
    assert stored_files(storage_root) == []


def test_publish_without_a_repository_to_link_says_how_to_link_one(alice, storage_root):
    with pytest.raises(RepositoryNotLinked) as raised:
        publish(actor_of(alice), name="orphan")
    error = raised.value
    assert (error.owner, error.named, error.default) == ("alice", None, "orphan")
    assert error.explained(HOW) == (f"no repository to link this package to: name a repository of alice ({HOW}) "
                                    "or create the repository alice/orphan")
    assert stored_files(storage_root) == []


@pytest.mark.parametrize("again", ["1.0.0", "1.0.0-RC.1"])
def test_versions_are_immutable(alice, storage_root, again):
    publish(actor_of(alice), version=again.lower(), content=b"first")
    before, files = counts(), stored_files(storage_root)

    with pytest.raises(VersionExists, match="cannot be replaced"):
        publish(actor_of(alice), version=again, content=b"different bytes")

    assert counts() == before
    assert stored_files(storage_root) == files


def test_a_digest_mismatch_leaves_no_blob_file_or_row(alice, storage_root):
    bad = upload("hello-1.0.0.tgz", b"what arrived", expected_digests={"sha512": "00" * 64})
    with pytest.raises(InvalidUpload) as raised:
        publish(actor_of(alice), uploads=[bad])
    assert "hello-1.0.0.tgz does not match its checksum" in str(raised.value)
    assert counts() == {"Package": 0, "PackageVersion": 0, "PackageFile": 0, "Blob": 0}
    assert stored_files(storage_root) == []


def test_a_later_file_failing_removes_the_earlier_files_of_the_same_publish(alice, storage_root):
    publish(actor_of(alice), content=b"already shared")
    before = stored_files(storage_root)
    uploads = [
        upload("new.tgz", b"brand new bytes"),
        upload("shared.tgz", b"already shared"),
        upload("bad.tgz", b"corrupt", expected_digests={"sha256": "11" * 32}),
    ]
    with pytest.raises(InvalidUpload):
        publish(actor_of(alice), version="2.0.0", uploads=uploads)

    # The new bytes went away; the blob an existing version uses stayed.
    assert stored_files(storage_root) == before
    assert counts() == {"Package": 1, "PackageVersion": 1, "PackageFile": 1, "Blob": 1}


def test_a_failure_while_writing_rows_leaves_nothing(alice, storage_root, monkeypatch):
    def broken_audit(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(publishing, "audit", broken_audit)
    with pytest.raises(RuntimeError):
        publish(actor_of(alice))
    assert counts() == {"Package": 0, "PackageVersion": 0, "PackageFile": 0, "Blob": 0}
    assert stored_files(storage_root) == []


class Untouched:
    """Chunks that record whether anyone read them."""

    def __init__(self):
        self.read = False

    def __iter__(self):
        self.read = True
        yield b"should never be stored"


@pytest.mark.parametrize("who", ["stranger", "read-only token", "anonymous"])
def test_permission_denied_before_any_byte_is_read(alice, storage_root, who):
    bob = create_user("bob")
    actor, name, outcome, phrase = {
        "stranger": (actor_of(bob), "hello", Outcome.FORBIDDEN,
                     "bob needs write access to alice/hello to publish to it"),
        "read-only token": (actor_of(alice, ["read:packages"]), "hello", Outcome.FORBIDDEN,
                            "needs write:packages"),
        "anonymous": (ANONYMOUS, "hello", Outcome.UNAUTHENTICATED, "authentication required"),
    }[who]
    chunks = Untouched()

    with pytest.raises(AccessDenied) as raised:
        publish(actor, name=name, uploads=[FileUpload("x.tgz", chunks)])

    assert raised.value.decision.outcome is outcome
    assert phrase in str(raised.value)
    assert not chunks.read
    assert counts() == {"Package": 0, "PackageVersion": 0, "PackageFile": 0, "Blob": 0}
    assert stored_files(storage_root) == []


@pytest.mark.parametrize("named", [True, False])
def test_a_private_repository_the_publisher_cannot_see_is_answered_as_a_missing_one(alice, storage_root, named):
    """Publishing must not tell a stranger which private repository names exist."""
    bob = create_user("bob")
    create_repository(alice, "secret", visibility="private")
    answers = []
    for repository in ("secret", "no-such-repo"):
        chunks = Untouched()
        with pytest.raises(RepositoryNotLinked) as raised:
            if named:
                publish(actor_of(bob), name="pkg", uploads=[FileUpload("x.tgz", chunks)],
                        repository=repository)
            else:
                publish(actor_of(bob), name=repository, uploads=[FileUpload("x.tgz", chunks)])
        assert not chunks.read
        answers.append(str(raised.value).replace(repository, "REPO"))
    assert answers[0] == answers[1]
    assert counts() == {"Package": 0, "PackageVersion": 0, "PackageFile": 0, "Blob": 0}
    assert stored_files(storage_root) == []


def test_a_collaborator_with_write_access_may_publish(alice):
    bob = create_user("bob")
    grant(find_repository("alice", "hello"), bob, "write")
    version = publish(actor_of(bob, ["write:packages"]))
    assert version.published_by_id == bob.id


def test_publishing_for_an_unknown_owner_is_refused(alice):
    with pytest.raises(AccessDenied) as raised:
        publish(actor_of(alice), owner="ghost")
    assert raised.value.decision.outcome is Outcome.NOT_FOUND


def test_identical_content_is_one_blob_row_and_one_file(alice, storage_root):
    create_repository(alice, "other")
    content = b"same bytes in two places"
    first = publish(actor_of(alice), content=content)
    second = publish(actor_of(alice), version="1.0.1", content=content)
    third = publish(actor_of(alice), name="other", content=content)

    blob_ids = {f.blob_id for f in PackageFile.select()}
    assert len(blob_ids) == 1 and Blob.select().count() == 1
    assert PackageFile.select().where(PackageFile.version.in_([first.id, second.id, third.id])).count() == 3
    assert stored_files(storage_root) == [blob_path(hashlib.sha256(content).hexdigest())]


# ---- deleting and restoring ------------------------------------------------------------------------


def test_delete_version_hides_it_and_removes_its_tags(alice):
    actor = actor_of(alice)
    publish(actor, version="1.0.0", tags=["stable"])
    publish(actor, version="2.0.0", tags=["latest", "next"])
    package = service.find_package("alice", "npm", "hello")
    v2 = service.find_version(package, "2.0.0")

    service.delete_version(actor, v2)

    assert service.find_version(package, "2.0.0") is None
    assert [v.version for v in service.live_versions(package)] == ["1.0.0"]
    assert service.find_file(package, "hello-2.0.0.tgz") is None
    assert service.find_file(package, "hello-1.0.0.tgz") is not None
    assert service.package_tags(package) == {"stable": "1.0.0"}
    assert PackageTag.select().where(PackageTag.version == v2.id).count() == 0
    # Soft: the row and its file are still there, to restore.
    assert PackageVersion.get_by_id(v2.id).deleted_at is not None
    assert PackageFile.select().where(PackageFile.version == v2.id).count() == 1
    event = AuditEvent.get(AuditEvent.action == "package_version.delete")
    assert (event.actor_login, event.target) == ("alice", "npm:hello@2.0.0")


def test_the_packument_change_takes_the_versions_npm_read(alice):
    actor = actor_of(alice)
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        publish(actor, version=version, tags=["latest"])
    package = service.find_package("alice", "npm", "hello")
    first, second, third = service.live_version_views([package])[package.id]
    service.delete_version(actor, service.find_version(package, "3.0.0"))  # another npm command, meanwhile

    service.change_packument(actor, package, unpublish=[second, third], deprecations=[(first, "use 4")],
                             tags={"latest": "1.0.0"})

    left = service.live_version_views([package])[package.id]
    assert [(v.version, v.deprecated, v.tags) for v in left] == [("1.0.0", "use 4", ["latest"])]
    # The version unpublished meanwhile was left as it was: deleted once.
    assert [e.target for e in AuditEvent.select().where(AuditEvent.action == "package_version.delete")
            .order_by(AuditEvent.id)] == ["npm:hello@3.0.0", "npm:hello@2.0.0"]


def test_delete_package_hides_it_everywhere(alice):
    actor = actor_of(alice)
    publish(actor)
    package = service.find_package("alice", "npm", "hello")

    service.delete_package(actor, package)

    assert service.find_package("alice", "npm", "hello") is None
    assert service.find_package("alice", "npm", "hello", include_deleted=True).deleted_at is not None
    assert service.all_packages("alice") == []
    assert service.search_packages(actor, "npm", "hello").packages == []
    with pytest.raises(StillRestorable, match="restore it"):
        publish(actor, version="2.0.0")
    assert AuditEvent.select().where(AuditEvent.action == "package.delete").count() == 1


@pytest.mark.parametrize(("who", "phrase"), [
    ("writer", "bob needs admin access to alice/hello to delete packages of it"),
    ("token without delete scopes", "needs delete:packages, read:packages and repo"),
])
def test_deleting_needs_admin_and_the_delete_scopes(alice, who, phrase):
    publish(actor_of(alice))
    bob = create_user("bob")
    grant(find_repository("alice", "hello"), bob, "write")
    actor = actor_of(bob) if who == "writer" else actor_of(alice, ["read:packages", "write:packages"])
    package = service.find_package("alice", "npm", "hello")
    version = service.find_version(package, "1.0.0")

    for delete in (lambda: service.delete_version(actor, version), lambda: service.delete_package(actor, package)):
        with pytest.raises(AccessDenied) as raised:
            delete()
        assert raised.value.decision.outcome is Outcome.FORBIDDEN
        assert phrase in str(raised.value)
    assert service.find_version(service.find_package("alice", "npm", "hello"), "1.0.0") is not None


def test_restore_version_within_retention(alice):
    actor = actor_of(alice)
    version = publish(actor, tags=["latest"])
    package = service.find_package("alice", "npm", "hello")
    service.delete_version(actor, version)

    service.restore_version(actor, PackageVersion.get_by_id(version.id))

    assert [v.version for v in service.live_versions(package)] == ["1.0.0"]
    assert service.find_file(package, "hello-1.0.0.tgz") is not None
    assert AuditEvent.select().where(AuditEvent.action == "package_version.restore").count() == 1


def test_restore_version_after_retention_is_refused(app, alice):
    actor = actor_of(alice)
    version = publish(actor)
    service.delete_version(actor, version)
    long_ago = utcnow() - dt.timedelta(days=31)
    PackageVersion.update(deleted_at=long_ago).where(PackageVersion.id == version.id).execute()

    with pytest.raises(RestoreExpired, match="deleted too long ago to be restored"):
        service.restore_version(actor, PackageVersion.get_by_id(version.id))
    assert PackageVersion.get_by_id(version.id).deleted_at == long_ago

    # A longer retention, set now, reaches the next request.
    store_setting("retention.deleted_days", "60")
    with new_request(app):
        service.restore_version(actor, PackageVersion.get_by_id(version.id))
    assert PackageVersion.get_by_id(version.id).deleted_at is None


def test_restore_package_within_and_after_retention(alice):
    actor = actor_of(alice)
    publish(actor)
    package = service.find_package("alice", "npm", "hello")
    service.delete_package(actor, package)

    service.restore_package(actor, service.find_package("alice", "npm", "hello", include_deleted=True))
    assert service.find_package("alice", "npm", "hello") is not None

    service.delete_package(actor, package)
    Package.update(deleted_at=utcnow() - dt.timedelta(days=30, minutes=1)).where(Package.id == package.id).execute()
    with pytest.raises(RestoreExpired, match="deleted too long ago"):
        service.restore_package(actor, service.find_package("alice", "npm", "hello", include_deleted=True))
    assert service.find_package("alice", "npm", "hello") is None


def test_restoring_needs_the_delete_rights(alice):
    actor = actor_of(alice)
    version = publish(actor)
    service.delete_version(actor, version)
    with pytest.raises(AccessDenied):
        service.restore_version(actor_of(alice, ["read:packages", "write:packages"]),
                                PackageVersion.get_by_id(version.id))
    assert PackageVersion.get_by_id(version.id).deleted_at is not None


# ---- downloads and search --------------------------------------------------------------------------


def test_record_download_counts_per_version_and_day(alice):
    actor = actor_of(alice)
    v1 = publish(actor, version="1.0.0")
    v2 = publish(actor, version="2.0.0", content=b"other")
    yesterday = utcnow().date() - dt.timedelta(days=1)
    service.record_download(v1, day=yesterday, count=5)

    service.record_download(v1)
    service.record_download(v1)
    service.record_download(v2)

    rows = {(r.version_id, r.day, r.count) for r in DownloadCount.select()}
    today = utcnow().date()
    assert rows == {(v1.id, yesterday, 5), (v1.id, today, 2), (v2.id, today, 1)}
    assert service.download_total(service.find_package("alice", "npm", "hello")) == 8
    # Each version's total over all days moves with its rows: what pages and indexes read.
    package = service.find_package("alice", "npm", "hello")
    assert {v.id: v.downloads_total for v in service.live_version_views([package])[package.id]} == {v1.id: 7, v2.id: 1}


def test_search_returns_only_what_the_actor_may_read(app, alice):
    create_repository(alice, "hello-private", visibility="private")
    create_repository(alice, "hello-internal", visibility="internal")
    owner = actor_of(alice)
    for name in ("hello", "hello-private", "hello-internal"):
        publish(owner, name=name)
    bob = create_user("bob")
    bob_actor = actor_of(bob, ["read:packages"])

    def found(actor):
        found = service.search_packages(actor, "npm", "HELLO")
        assert found.total == len(found.packages)
        return sorted(p.name for p in found.packages)

    assert found(owner) == ["hello", "hello-internal", "hello-private"]
    assert found(bob_actor) == ["hello", "hello-internal"]
    assert found(ANONYMOUS) == ["hello"]
    assert service.search_packages(owner, "maven", "hello").packages == []

    grant(find_repository("alice", "hello-private"), bob, "read")
    assert found(bob_actor) == ["hello", "hello-internal", "hello-private"]

    store_setting("anonymous_read", "false")
    with new_request(app):
        assert found(ANONYMOUS) == []
        assert found(bob_actor) == ["hello", "hello-internal", "hello-private"]


def test_search_pages_through_readable_packages(alice):
    owner = actor_of(alice)
    for i in range(5):
        create_repository(alice, f"pkg{i}")
        publish(owner, name=f"pkg{i}")
    first = service.search_packages(owner, "npm", "pkg", limit=2)
    rest = service.search_packages(owner, "npm", "pkg", limit=10, offset=2)
    names = [p.name for p in first.packages + rest.packages]
    assert len(first.packages) == 2 and sorted(names) == [f"pkg{i}" for i in range(5)]
    assert first.total == rest.total == 5
    # The newest change first; a package whose versions are all deleted is not found.
    assert names == [f"pkg{i}" for i in reversed(range(5))]
    service.delete_version(owner, service.live_versions(service.find_package("alice", "npm", "pkg4"))[0])
    assert [p.name for p in service.search_packages(owner, "npm", "pkg").packages] == [f"pkg{i}" for i in (3, 2, 1, 0)]
    paths = service.package_path_page(owner, "npm")
    assert (paths.names, paths.total, paths.more) == ([f"alice/pkg{i}/pkg{i}" for i in range(4)], 4, False)
    assert service.package_path_page(ANONYMOUS, "maven").names == []


def test_package_paths_page_in_byte_order_after_a_name_with_the_total(alice):
    """Byte order, as a client compares the `last` it sends: "alice/a-c/x" before "alice/a/b" (a locale
    collation would put them the other way round, so a page would repeat or skip names)."""
    owner = actor_of(alice)
    bob = create_user("bob")
    create_repository(bob, "hidden", "private")
    for repository, name in [("a", "b"), ("a-c", "x"), ("a", "z")]:
        if find_repository("alice", repository) is None:
            create_repository(alice, repository)
        publish(owner, name=name, repository=repository)
    publish(actor_of(bob), name="secret", owner="bob", repository="hidden")
    first = service.package_path_page(owner, "npm", limit=2)
    assert (first.names, first.total, first.more) == (["alice/a-c/x", "alice/a/b"], 3, True)
    rest = service.package_path_page(owner, "npm", after=first.names[-1], limit=2)
    assert (rest.names, rest.total, rest.more) == (["alice/a/z"], 3, False)
    assert service.package_path_page(actor_of(bob), "npm", after="alice/a/z").names == ["bob/hidden/secret"]
    assert service.package_path_page(owner, "npm", limit=0).names == []


# ---- an owner's packages, for indexes of them ----------------------------------------------------


def test_readable_packages_lists_what_the_actor_may_read_oldest_first(alice):
    bob = create_user("bob")
    create_repository(alice, "secret", "private")
    owner = actor_of(alice)
    publish(owner, "hello", default="hello")
    publish(owner, "hidden", repository="secret")
    publish(owner, "other", default="hello")
    assert [p.name for p in service.readable_packages(owner, "alice", "npm")] == ["hello", "hidden", "other"]
    assert [p.name for p in service.readable_packages(actor_of(bob), "alice", "npm")] == ["hello", "other"]
    assert [p.name for p in service.readable_packages(ANONYMOUS, "alice", "npm")] == ["hello", "other"]
    assert service.readable_packages(owner, "alice", "rubygems") == []
    service.delete_package(owner, Package.get(Package.name == "other"))
    assert [p.name for p in service.readable_packages(owner, "alice", "npm")] == ["hello", "hidden"]


def test_readable_packages_refuses_who_may_read_nothing(app, alice):
    publish(actor_of(alice), "hello")
    with pytest.raises(AccessDenied) as refused:
        service.readable_packages(actor_of(alice, []), "alice", "npm")
    assert refused.value.decision.outcome is Outcome.FORBIDDEN and "read:packages" in str(refused.value)
    with pytest.raises(AccessDenied) as missing:
        service.readable_packages(actor_of(alice), "nobody", "npm")
    assert missing.value.decision.outcome is Outcome.NOT_FOUND
    with pytest.raises(AccessDenied) as anonymous:
        service.readable_packages(ANONYMOUS, "nobody", "npm")
    assert anonymous.value.decision.outcome is Outcome.UNAUTHENTICATED
    store_setting("anonymous_read", "false")
    with new_request(app), pytest.raises(AccessDenied) as closed:
        service.readable_packages(ANONYMOUS, "alice", "npm")
    assert closed.value.decision.outcome is Outcome.UNAUTHENTICATED
