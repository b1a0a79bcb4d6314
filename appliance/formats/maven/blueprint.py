"""The Maven repository protocol as `mvn deploy`, `mvn` builds and `gradle` use it: PUT, GET and HEAD of
`OWNER/REPOSITORY/GROUP/PATH/ARTIFACT/VERSION/FILE`, checksums, generated maven-metadata.xml, and DELETE
of a version or package directory, answered from the packages service."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import MethodNotAllowed

from appliance import packages as service
from appliance.auth.credentials import BadCredentials, actor_from_request
from appliance.auth.permissions import Action, Outcome
from appliance.formats.hints import leave_the_token_out
from appliance.formats.maven import metadata
from appliance.formats.maven.metadata import ArtifactFile, Descriptor, MavenError, MetadataFile, StoredFile
from appliance.formats.routing import registry_unavailable, registry_url, unrouted_error
from appliance.packages import (
    AccessDenied,
    FileUpload,
    InvalidUpload,
    LinkRefused,
    PackageError,
    TokenInUpload,
    VersionDescription,
    VersionDraft,
    VersionNotFound,
)
from appliance.settings import current_settings
from appliance.storage.blobs import iter_chunks
from appliance.web.files import record_if_download, send_package_file
from appliance.web.reason_phrase import reason_phrase
from appliance.web.uploads import limited_body

FORMAT = "maven"
# A pom or module file is read whole to be parsed; none comes near this.
DESCRIPTOR_LIMIT = 8 * 1024 * 1024
# The maven-metadata.xml a client sends is read and dropped: the appliance writes its own.
CLIENT_METADATA_LIMIT = 16 * 1024 * 1024
CHECKSUM_LIMIT = 4096
# Digests a client may state for a PUT (Artifactory-style headers), checked as the bytes arrive.
CHECKSUM_HEADERS = {
    "md5": "X-Checksum-Md5",
    "sha1": "X-Checksum-Sha1",
    "sha256": "X-Checksum-Sha256",
    "sha512": "X-Checksum-Sha512",
}
POM_FIELDS = ("packaging", "name", "description", "url", "licenses", "dependencies", "scm", "parent")

blueprint = Blueprint("maven", __name__)


# ---- answers ---------------------------------------------------------------------------------------


def maven_error(status: int, message: str) -> Response:
    response = Response(f"{message}\n", mimetype="text/plain")
    response.status = f"{status} {reason_phrase(message)}"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="maven", charset="UTF-8"'
    return response


CREDENTIALS_HINT = (
    "put a token as the password of this repository's <server> in settings.xml (or in "
    "`credentials` in build.gradle)"
)


SCOPES_NEEDED = {"PUT": "write:packages", "DELETE": "delete:packages, read:packages and repo"}
# mvn prints the reason phrase of a 409 as the deploy's failure: a name the repository cannot take.
STATUS_OVERRIDES = {LinkRefused: 409}
HINTS = {
    TokenInUpload: lambda error: leave_the_token_out(
        error, "keep settings.xml and gradle.properties out of the artifact's resources"),
}


@blueprint.errorhandler(PackageError)
def _package_error(error: PackageError):
    if isinstance(error, AccessDenied):
        decision = error.decision
        if decision.outcome is Outcome.UNAUTHENTICATED:
            needs = SCOPES_NEEDED.get(request.method, "read:packages")
            return maven_error(401, f"authentication required: {CREDENTIALS_HINT}, with {needs}")
        if decision.outcome is Outcome.NOT_FOUND:
            return _not_found()
        return maven_error(403, decision.message)
    return maven_error(service.status_for(error, STATUS_OVERRIDES), service.explain(error, HINTS))


def _not_found():
    """A repository that does not exist or that the caller cannot see (one answer for both). A deploy
    gets 403, not 404: mvn turns a 404 into "Could not find artifact" and drops the reason phrase, and
    prints the phrase of a 403 ("authorization failed for URL, status: 403 PHRASE")."""
    args = request.view_args or {}
    if request.method != "PUT" or "owner" not in args:
        return maven_error(404, "Not Found")
    full_name = f"{args['owner']}/{args['repo']}"
    return maven_error(403, f"repository {full_name} not found: create it (`appliance repos create {full_name}`) "
                            f"or deploy to an existing repository that your token's user can write to")


@blueprint.errorhandler(MavenError)
def _invalid(error: MavenError):
    return maven_error(400, str(error))


@blueprint.errorhandler(BadCredentials)
def _bad_credentials(error: BadCredentials):
    return maven_error(401, f"{error}: {CREDENTIALS_HINT}")


@blueprint.before_app_request
def _unrouted():
    """A URL under this registry that matches no rule (no OWNER/REPOSITORY/PATH, or a method the
    layout has no use for): Flask hands it to no blueprint, so answer it here, as mvn prints it."""
    error = unrouted_error(FORMAT)
    if error is None:
        return None
    problem = registry_unavailable(FORMAT)
    if problem:
        return maven_error(404, problem)
    if isinstance(error, MethodNotAllowed):
        return maven_error(405, f"{request.method} is not supported here: use GET, HEAD, PUT or DELETE")
    return maven_error(404, f"Not Found: a Maven repository is at {registry_url(FORMAT)}OWNER/REPOSITORY/")


@blueprint.before_request
def _gate():
    problem = registry_unavailable(FORMAT)
    if problem:
        return maven_error(404, problem)
    g.actor = actor_from_request(request)


def _document(body: bytes, last_modified: datetime, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.set_etag(hashlib.sha256(body).hexdigest())
    response.last_modified = last_modified
    return response.make_conditional(request.environ)


def _checksum_answer(digest: str, last_modified: datetime) -> Response:
    return _document(digest.encode(), last_modified, "text/plain")


# ---- downloads -------------------------------------------------------------------------------------


@blueprint.get("/<owner>/<repo>/")
@blueprint.get("/<owner>/<repo>/<path:path>")
def download(owner: str, repo: str, path: str = ""):
    repository = service.accessible_repository(g.actor, owner, repo, Action.READ)
    if path == "" or path.endswith("/"):
        return _listing(repository, path)
    try:
        parsed = metadata.parse_path(path)
    except MavenError:
        # Clients probe paths; one that cannot exist in the layout is simply not there (but a group's
        # maven-metadata.xml of a one-segment group is there if it has plugins).
        return _group_metadata_answer(repository, path) or maven_error(404, "Not Found")
    target = parsed.target
    if isinstance(target, MetadataFile):
        package = service.repository_package(repository, FORMAT, target.coordinates.package_name)
        body = _metadata_document(package, target) if package else None
        if body is None:
            # GROUP/maven-metadata.xml looks like an artifact's: a group's lists its plugins.
            return _group_metadata_answer(repository, path) or maven_error(404, "Not Found")
        if parsed.checksum:
            return _checksum_answer(hashlib.new(parsed.checksum, body).hexdigest(), package.updated_at)
        return _document(body, package.updated_at, "application/xml")
    package_file = service.find_package_file(
        repository, FORMAT, target.coordinates.package_name, target.version, target.filename
    )
    if package_file is None:
        return maven_error(404, "Not Found")
    if parsed.checksum:
        return _checksum_answer(_file_digest(package_file, parsed.checksum), package_file.created_at)
    if parsed.target.is_pom:
        # A pom is what every mvn and gradle resolution of a version fetches once: one download.
        record_if_download(package_file.version)
    response = send_package_file(package_file)
    blob = package_file.blob
    for algorithm in ("md5", "sha1", "sha256"):
        digest = getattr(blob, algorithm)
        if digest:
            response.headers[CHECKSUM_HEADERS[algorithm]] = digest
    return response


def _repository_packages(repository) -> list:
    """Every live Maven package of the repository (views, by name), page by page."""
    full_name = f"{repository.owner.login}/{repository.name}"
    found, page = [], 1
    while True:
        listed = service.list_packages(g.actor, repository=full_name, format=FORMAT, order="name", page=page,
                                       per_page=1000)
        found += listed.items
        if page >= listed.pages:
            return found
        page += 1


def _group_metadata_answer(repository, path: str) -> Response | None:
    """GROUP/maven-metadata.xml (or its checksum) of a group holding plugins, else None."""
    directory, _, filename = path.rpartition("/")
    filename, checksum = metadata.split_checksum(filename)
    if filename != metadata.METADATA_FILE or not directory:
        return None
    group = directory.replace("/", ".")
    plugins, changed = [], None
    for package in _repository_packages(repository):
        group_id, _, artifact_id = package.name.partition(":")
        if group_id != group or package.latest_version is None:
            continue
        latest = service.get_version(g.actor, package, version=package.latest_version)
        if latest.metadata.get("packaging") == "maven-plugin":
            plugins.append(metadata.Plugin(artifact_id, latest.metadata.get("name") or artifact_id))
            changed = max(changed or package.updated_at, package.updated_at)
    if not plugins:
        return None
    body = metadata.group_metadata(plugins)
    if checksum:
        return _checksum_answer(hashlib.new(checksum, body).hexdigest(), changed)
    return _document(body, changed, "application/xml")


def _listing(repository, path: str) -> Response:
    """An HTML index of a directory of the repository: groups, artifacts, versions and files, as people
    (and some tools) browse a Maven repository. A directory nothing is under is not there; the
    repository's root always is (a listing of nothing while it is empty)."""
    prefix = path.strip("/")
    entries: dict[str, metadata.Entry] = {}
    for package in _repository_packages(repository):
        group_id, _, artifact_id = package.name.partition(":")
        directory = metadata.Coordinates(group_id, artifact_id).directory
        if directory == prefix:
            entries.update(_package_entries(package))
        elif prefix.startswith(f"{directory}/"):
            entries.update(_version_entries(package, prefix[len(directory) + 1:]))
        elif not prefix or directory.startswith(f"{prefix}/"):
            child = directory[len(prefix) + 1 if prefix else 0:].split("/", 1)[0]
            entries[f"{child}/"] = metadata.Entry(f"{child}/")
    if not entries and prefix:
        return maven_error(404, "Not Found")
    body = metadata.directory_listing(f"/{repository.owner.login}/{repository.name}/{path}", entries.values())
    response = Response(body, mimetype="text/html")
    # Names are escaped; this says so again to the browser: nothing on these pages runs.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _package_entries(package) -> dict[str, metadata.Entry]:
    """An artifact's directory: its versions and maven-metadata.xml (with checksums)."""
    entries = {}
    page, pages = 1, 1
    while page <= pages:
        listed = service.list_versions(g.actor, package, page=page, per_page=1000)
        for version in listed.items:
            entries[f"{version.version}/"] = metadata.Entry(f"{version.version}/", modified=version.updated_at)
        page, pages = page + 1, listed.pages
    if entries:
        for name in (metadata.METADATA_FILE, *(f"{metadata.METADATA_FILE}.{alg}" for alg in ("md5", "sha1"))):
            entries[name] = metadata.Entry(name, modified=package.updated_at)
    return entries


def _version_entries(package, version: str) -> dict[str, metadata.Entry]:
    """A version's directory: its files (with their checksums)."""
    if "/" in version:
        return {}
    try:
        found = service.get_version(g.actor, package, version=version)
    except VersionNotFound:
        return {}
    entries = {}
    for file in found.files:
        for name in (file.name, f"{file.name}.md5", f"{file.name}.sha1"):
            entries[name] = metadata.Entry(name, size=file.size if name == file.name else None,
                                           modified=file.created_at)
    return entries


def _file_digest(package_file, algorithm: str) -> str:
    digest = getattr(package_file.blob, algorithm)
    if digest:
        return digest
    # A blob another format stored first may lack this digest: compute it from the bytes.
    hasher = hashlib.new(algorithm)
    with service.open_file(package_file) as stream:
        for chunk in iter_chunks(stream):
            hasher.update(chunk)
    return hasher.hexdigest()


def _metadata_document(package, target: MetadataFile) -> bytes | None:
    if target.version is None:
        versions = service.live_versions(package)
        files = service.files_of(versions)
        # A version is listed once its pom or Gradle module file is there; a jar alone is not a version.
        listed = [
            v.version for v in versions if any(_is_descriptor(target, v.version, f.name) for f in files[v.id])
        ]
        if not listed:
            return None
        return metadata.artifact_metadata(target.coordinates, listed, package.updated_at)
    version = service.find_version(package, target.version)
    if version is None:
        return None
    files = service.files_of([version])[version.id]
    return metadata.snapshot_metadata(
        target.coordinates, version.version, [StoredFile(f.name, f.created_at) for f in files]
    )


def _is_descriptor(target: MetadataFile, version: str, filename: str) -> bool:
    try:
        classifier, extension, _ = metadata.parse_filename(target.coordinates.artifact_id, version, filename)
    except MavenError:
        return False
    return not classifier and extension in ("pom", "module")


# ---- uploads ---------------------------------------------------------------------------------------


def _created() -> Response:
    return Response(status=201)


@blueprint.put("/<owner>/<repo>/<path:path>")
def upload(owner: str, repo: str, path: str):
    repository = service.accessible_repository(g.actor, owner, repo, Action.WRITE)
    parsed = metadata.parse_path(path)
    if isinstance(parsed.target, MetadataFile):
        # Clients merge and send maven-metadata.xml (and its checksums) after their files; the
        # appliance generates it from what it stores, so the client's copy is read and dropped.
        body = limited_body(CLIENT_METADATA_LIMIT, metadata.METADATA_FILE)
        for _ in iter_chunks(body):
            pass
        return _created()
    if parsed.checksum:
        return _verify_checksum(repository, parsed.target, parsed.checksum)
    return _store_file(repository, parsed.target)


def _verify_checksum(repository, target: ArtifactFile, algorithm: str) -> Response:
    """A checksum file is never stored (every checksum is computed from the bytes): it is checked."""
    claimed = metadata.parse_checksum(limited_body(CHECKSUM_LIMIT, f"the {algorithm} file").read(), algorithm)
    package = service.repository_package(repository, FORMAT, target.coordinates.package_name)
    version = service.find_version(package, target.version) if package else None
    package_file = service.find_version_file(version, target.filename) if version else None
    if package_file is None:
        raise InvalidUpload(
            f"{target.filename}.{algorithm} came before {target.filename}: upload the file first"
        )
    actual = _file_digest(package_file, algorithm)
    if claimed != actual:
        advice = (
            "deploy a new build"
            if target.is_snapshot
            else f"delete version {target.version} (DELETE on its directory) and deploy again"
        )
        raise InvalidUpload(
            f"checksum mismatch for {target.filename}: the {algorithm} sent is {claimed}, the "
            f"file the appliance received has {actual}; the upload was corrupted or the "
            f"checksum is wrong: {advice}"
        )
    return _created()


def _store_file(repository, target: ArtifactFile) -> Response:
    settings = current_settings()
    revise = None
    if target.is_descriptor:
        what = "the pom" if target.is_pom else "the Gradle module file"
        limit = min(settings["max_upload_bytes"], DESCRIPTOR_LIMIT)
        data = limited_body(limit, what).read()
        descriptor = metadata.parse_pom(data) if target.is_pom else metadata.parse_module(data)
        metadata.check_descriptor(descriptor, target)
        revise = _reviser(target, descriptor)
        chunks = iter([data])
    else:
        chunks = iter_chunks(limited_body(settings["max_upload_bytes"], target.filename))
    expected = {
        alg: request.headers[header].strip()
        for alg, header in CHECKSUM_HEADERS.items()
        if request.headers.get(header, "").strip()
    }
    service.add_version_file(
        g.actor,
        repository=repository,
        fmt=FORMAT,
        name=target.coordinates.package_name,
        version=target.version,
        upload=FileUpload(
            name=target.filename,
            chunks=chunks,
            content_type=metadata.content_type(target.filename),
            expected_digests=expected,
            algorithms=("md5", "sha1", "sha512"),
        ),
        replace=target.is_snapshot,
        revise=revise,
    )
    return _created()


def _reviser(target: ArtifactFile, descriptor: Descriptor) -> Callable[[VersionDescription | None], VersionDraft]:
    """What the version says about itself once this descriptor is in, from what it says as stored (the
    service merges inside its transaction, so a pom and a module file deployed at once both count): a
    pom's fields replace those of an earlier pom; a Gradle module file adds its variants and leaves the
    pom's fields alone."""
    coordinates = {
        "groupId": target.coordinates.group_id,
        "artifactId": target.coordinates.artifact_id,
        "version": target.version,
    }

    def revise(current: VersionDescription | None) -> VersionDraft:
        stored = current.metadata if current else {}
        if descriptor.kind == "pom":
            kept = {k: v for k, v in stored.items() if k not in POM_FIELDS}
            return VersionDraft(
                version=target.version,
                metadata={**kept, **coordinates, **descriptor.fields},
                summary=descriptor.summary,
                license=descriptor.license,
            )
        return VersionDraft(
            version=target.version,
            metadata={**stored, **coordinates, **descriptor.fields},
            summary=current.summary if current else "",
            license=current.license if current else None,
        )

    return revise


# ---- deleting --------------------------------------------------------------------------------------


@blueprint.delete("/<owner>/<repo>/<path:path>")
def delete(owner: str, repo: str, path: str):
    """DELETE on GROUP/ARTIFACT/VERSION/ deletes a version, on GROUP/ARTIFACT/ the package (mvn and
    gradle have no delete command; this is for curl and scripts)."""
    repository = service.accessible_repository(g.actor, owner, repo, Action.DELETE)
    if not path.endswith("/"):
        try:
            metadata.parse_path(path)
        except MavenError:
            pass
        else:
            return maven_error(
                405,
                "files cannot be deleted one by one: DELETE the version's directory "
                "(GROUP/ARTIFACT/VERSION/) or the package's (GROUP/ARTIFACT/)",
            )
    for coordinates, version_name in metadata.directory_candidates(path):
        package = service.repository_package(repository, FORMAT, coordinates.package_name)
        if package is None:
            continue
        if version_name is None:
            service.delete_package(g.actor, package)
            return Response(status=204)
        version = service.find_version(package, version_name)
        if version is not None:
            service.delete_version(g.actor, version)
            return Response(status=204)
    return maven_error(404, f"no package or version at {path}")
