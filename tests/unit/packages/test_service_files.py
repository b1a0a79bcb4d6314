"""The packages service's file-by-file publishing (Maven, Gradle): a version grows one file per request."""

from __future__ import annotations

import json

import pytest

from appliance import packages as service
from appliance.accounts.service import create_repository, create_user, find_repository, grant
from appliance.auth.permissions import Action, Actor
from appliance.auth.tokens import issue_token
from appliance.models import AuditEvent, Blob, Package, PackageFile, PackageVersion
from appliance.packages import (
    AccessDenied,
    FileExists,
    FileUpload,
    InvalidUpload,
    NameTaken,
    StillRestorable,
    VersionDraft,
)
from appliance.storage.blobs import blob_path

FULL = ["read:packages", "write:packages", "delete:packages", "repo"]


@pytest.fixture
def request_ctx(app):
    with app.test_request_context():
        yield


@pytest.fixture
def alice(request_ctx):
    user = create_user("alice")
    create_repository(user, "libs")
    create_repository(user, "other")
    return user


@pytest.fixture
def storage_root(bootstrap):
    return bootstrap.storage_path


def actor_of(user, scopes=FULL) -> Actor:
    token, _ = issue_token(user, list(scopes))
    return Actor(user=user, token=token)


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def add(
    actor,
    file_name: str,
    content: bytes,
    *,
    version="1.0",
    repository="libs",
    replace=False,
    draft=None,
    name="com.example:lib",
):
    return service.add_version_file(
        actor,
        repository=service.accessible_repository(actor, "alice", repository, Action.READ),
        fmt="maven",
        name=name,
        version=version,
        upload=FileUpload(file_name, [content], algorithms=("md5", "sha1", "sha512")),
        replace=replace,
        revise=(lambda current: draft) if draft else None,
    )


def test_a_descriptor_revises_what_the_version_says_as_stored_inside_the_operation(alice):
    actor = actor_of(alice)
    seen = []

    def merge(fields):
        def revise(current):
            seen.append(current)
            stored = current.metadata if current else {}
            return VersionDraft("1.0", {**stored, **fields}, summary="lib", license="MIT")
        return revise

    for file_name, fields in (("lib-1.0.pom", {"name": "lib"}), ("lib-1.0.module", {"variants": ["api"]})):
        service.add_version_file(actor, repository=service.accessible_repository(actor, "alice", "libs", Action.READ),
                                 fmt="maven", name="com.example:lib", version="1.0",
                                 upload=FileUpload(file_name, [file_name.encode()]), revise=merge(fields))
    assert seen[0] is None
    assert seen[1] == service.VersionDescription({"name": "lib"}, "lib", "MIT")
    version = PackageVersion.get(PackageVersion.version == "1.0")
    assert json.loads(version.metadata) == {"name": "lib", "variants": ["api"]}


def test_the_first_file_creates_package_and_version_and_others_join(alice):
    actor = actor_of(alice)
    first = add(actor, "lib-1.0.jar", b"jar bytes")
    package = Package.get(Package.name == "com.example:lib")
    assert package.repository.full_name == "alice/libs"
    assert first.version.version == "1.0" and json.loads(first.version.metadata) == {}
    second = add(
        actor,
        "lib-1.0.pom",
        b"<project/>",
        draft=VersionDraft("1.0", {"description": "a lib"}, summary="a lib", license="MIT"),
    )
    assert second.version_id == first.version_id
    version = PackageVersion.get_by_id(first.version_id)
    assert (version.summary, version.license, json.loads(version.metadata)) == (
        "a lib",
        "MIT",
        {"description": "a lib"},
    )
    blob = Blob.get(Blob.sha256 == first.blob.sha256)
    assert blob.md5 and blob.sha1 and blob.sha512
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions == ["package_version.publish", "package_file.add", "package_file.add"]


def test_an_existing_file_is_refused_unless_replace_and_leaves_nothing(alice, storage_root):
    actor = actor_of(alice)
    add(actor, "lib-1.0.jar", b"one")
    before = stored_files(storage_root)
    with pytest.raises(FileExists, match="lib-1.0.jar already exists in com.example:lib 1.0"):
        add(actor, "lib-1.0.jar", b"two")
    assert stored_files(storage_root) == before
    replaced = add(actor, "lib-1.0.jar", b"two", replace=True)
    assert PackageFile.select().count() == 1
    # The blob the file held stays until garbage collection: a download of it may be under way.
    assert Blob.select().where(Blob.size == 3).count() == 2
    with service.open_file(replaced) as stream:
        assert stream.read() == b"two"


def test_permissions_are_checked_before_any_byte_is_read(alice, storage_root):
    reader = create_user("reader")
    grant(find_repository("alice", "libs"), reader, "read")
    consumed = []

    def chunks():
        consumed.append(True)
        yield b"never"

    repository = find_repository("alice", "libs")
    with pytest.raises(AccessDenied):
        service.add_version_file(
            actor_of(reader),
            repository=repository,
            fmt="maven",
            name="com.example:lib",
            version="1.0",
            upload=FileUpload("lib-1.0.jar", chunks()),
        )
    assert consumed == [] and stored_files(storage_root) == []


def test_a_package_stays_in_its_repository(alice, storage_root):
    actor = actor_of(alice)
    add(actor, "lib-1.0.jar", b"jar")
    before = stored_files(storage_root)
    with pytest.raises(NameTaken, match="belongs to the repository alice/libs"):
        add(actor, "lib-1.1.jar", b"other jar", version="1.1", repository="other")
    with pytest.raises(InvalidUpload, match="differs only in case"):
        add(actor, "Lib-1.1.jar", b"other jar", version="1.1", name="com.example:Lib")
    assert stored_files(storage_root) == before


def test_a_failed_write_removes_the_bytes_it_brought_in(alice, storage_root):
    actor = actor_of(alice)
    add(actor, "lib-1.0.jar", b"shared bytes")
    before = stored_files(storage_root)
    unserializable = VersionDraft("2.0", {"bad": {1, 2}})
    with pytest.raises(TypeError):
        add(actor, "lib-2.0.pom", b"new bytes", version="2.0", draft=unserializable)
    assert stored_files(storage_root) == before
    assert not PackageVersion.select().where(PackageVersion.version == "2.0").exists()
    # Bytes another file already holds stay.
    with pytest.raises(TypeError):
        add(actor, "lib-2.0.jar", b"shared bytes", version="2.0", draft=unserializable)
    assert stored_files(storage_root) == before
    assert blob_path(Blob.get().sha256) in before


def test_deleted_versions_and_packages_refuse_new_files(alice):
    actor = actor_of(alice)
    file = add(actor, "lib-1.0.jar", b"jar")
    service.delete_version(actor, PackageVersion.get_by_id(file.version_id))
    with pytest.raises(StillRestorable, match="com.example:lib 1.0 was deleted and can be restored"):
        add(actor, "lib-1.0.pom", b"<project/>")
    package = Package.get(Package.name == "com.example:lib")
    service.delete_package(actor, package)
    with pytest.raises(StillRestorable, match="com.example:lib was deleted and can be restored"):
        add(actor, "lib-2.0.jar", b"jar 2", version="2.0")


def test_find_package_file_sees_live_files_of_its_repository_only(alice):
    actor = actor_of(alice)
    file = add(actor, "lib-1.0.jar", b"jar")
    libs, other = find_repository("alice", "libs"), find_repository("alice", "other")
    found = service.find_package_file(libs, "maven", "com.example:lib", "1.0", "lib-1.0.jar")
    assert found.id == file.id and found.version.id == file.version_id and found.blob.size == 3
    assert service.find_package_file(other, "maven", "com.example:lib", "1.0", "lib-1.0.jar") is None
    assert service.find_package_file(libs, "npm", "com.example:lib", "1.0", "lib-1.0.jar") is None
    service.delete_version(actor, PackageVersion.get_by_id(file.version_id))
    assert service.find_package_file(libs, "maven", "com.example:lib", "1.0", "lib-1.0.jar") is None
