"""The RubyGems registry protocol: what `gem push`, `gem install`, `gem yank` and `bundle install` ask,
answered from the packages service. Every owner has a gem source of its own: `.../OWNER/`.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import MethodNotAllowed

from appliance import packages as service
from appliance.auth.credentials import BadCredentials, actor_from_request
from appliance.auth.permissions import Action, Outcome
from appliance.formats.document_cache import DocumentCache
from appliance.formats.hints import leave_the_token_out
from appliance.formats.repository_links import parse_repository_reference
from appliance.formats.routing import (
    REGISTRY_PREFIX,
    package_page_url,
    registry_unavailable,
    registry_url,
    unrouted_error,
)
from appliance.formats.rubygems import api, index, metadata
from appliance.formats.rubygems.index import IndexedGem, VersionHistory
from appliance.formats.rubygems.metadata import GemSpec, InvalidGem
from appliance.models.packages import Package
from appliance.packages import (
    AccessDenied,
    FileUpload,
    ForeignRepository,
    LinkRefused,
    PackageError,
    PackageNotFound,
    RepositoryNotLinked,
    TokenInUpload,
    VersionDraft,
    VersionNotFound,
)
from appliance.settings import current_settings
from appliance.storage.blobs import iter_chunks
from appliance.web.uploads import spooled_body

FORMAT = "rubygems"
# Metadata keys that name the gem's repository, in the order they are asked.
REPOSITORY_KEYS = ("github_repo", "source_code_uri")
HOW_TO_LINK = ('spec.metadata["github_repo"] = "OWNER/REPOSITORY" (or "source_code_uri" set to the '
               "repository's URL) in the gemspec")

blueprint = Blueprint("rubygems", __name__)


# ---- answers ---------------------------------------------------------------------------------------


def text_response(message: str, status: int = 200) -> Response:
    """`gem` prints the body of every answer as it is, so each one is a line for the person at it."""
    response = Response(message.rstrip("\n") + "\n", status=status, mimetype="text/plain")
    if status == 401:
        # Basic: gem and bundler send the source's USER:TOKEN that way, preemptively once configured.
        response.headers["WWW-Authenticate"] = 'Basic realm="RubyGems"'
    return response


STATUS_OF = {Outcome.UNAUTHENTICATED: 401, Outcome.FORBIDDEN: 403, Outcome.NOT_FOUND: 404}
# gem prints the body of any answer; RubyGems.org answers what it refuses to take with 422.
STATUS_OVERRIDES = {PackageError: 422}


HINTS = {
    RepositoryNotLinked: lambda error: HOW_TO_LINK,
    ForeignRepository: lambda error: (f"name a repository of {error.owner} ({HOW_TO_LINK}), or push to "
                                      f"{registry_url(FORMAT)}{error.named_owner}/"),
    TokenInUpload: lambda error: leave_the_token_out(error, "keep it out of the gemspec's files"),
}


@blueprint.errorhandler(PackageError)
def _package_error(error: PackageError):
    if isinstance(error, AccessDenied):
        decision = error.decision
        if decision.outcome is Outcome.UNAUTHENTICATED:
            return text_response(
                "authentication required: for gem push and gem yank set GEM_HOST_API_KEY to a token; to "
                "install, put USER:TOKEN in the source URL (http://USER:TOKEN@HOST/...) or give bundler "
                "the credentials with `bundle config set --local HOST USER:TOKEN`", 401)
        if decision.outcome is Outcome.NOT_FOUND:
            return text_response("not found", 404)
        return text_response(decision.message, 403)
    return text_response(service.explain(error, HINTS), service.status_for(error, STATUS_OVERRIDES))


@blueprint.errorhandler(InvalidGem)
def _invalid_gem(error: InvalidGem):
    return text_response(str(error), 422)


@blueprint.errorhandler(BadCredentials)
def _bad_credentials(error: BadCredentials):
    return text_response(f"{error}: check GEM_HOST_API_KEY, or the USER:TOKEN of this source", 401)


@blueprint.before_app_request
def _unrouted():
    """A URL under this registry that matches no rule still gets an answer gem can print."""
    error = unrouted_error(FORMAT)
    if error is None:
        return None
    problem = registry_unavailable(FORMAT)
    if problem:
        return text_response(problem, 404)
    if request.path.rstrip("/") == f"{REGISTRY_PREFIX}/{FORMAT}":
        return text_response(f"every owner has a gem source of its own: use {registry_url(FORMAT)}OWNER/", 404)
    if isinstance(error, MethodNotAllowed):
        return text_response(f"{request.method} is not supported here", 405)
    return text_response("not found", 404)


@blueprint.before_request
def _gate():
    problem = registry_unavailable(FORMAT)
    if problem:
        return text_response(problem, 404)
    g.actor = actor_from_request(request)


# ---- what the indexes are built from ---------------------------------------------------------------

documents = DocumentCache(size=1024)


def _package_key(package: Package) -> tuple:
    return (package.id, package.updated_at.isoformat())


def _cached(kind: str, package: Package, build):
    """What `build(package)` makes, kept while the package is as it is now."""
    return documents.get_or_build((kind, *_package_key(package)), lambda: build(package))


def _read_history(package: Package) -> list[VersionHistory]:
    return [VersionHistory(IndexedGem(GemSpec.from_json(v.metadata), v.main_file.sha256), v.created_at, v.deleted_at)
            for v in service.all_version_views(package) if v.main_file is not None]


def _history(package: Package) -> list[VersionHistory]:
    """Every version the package still has, yanked ones too, in publish order: what /versions replays."""
    return _cached("history", package, _read_history)


def _indexed_gems(package: Package) -> list[IndexedGem]:
    """The live versions of a package in publish order, with the sha256 of each .gem."""
    return [version.gem for version in _history(package) if version.yanked_at is None]


def _info(package: Package) -> bytes:
    return _cached("info", package, lambda p: index.info_file(_indexed_gems(p)))


def _owner_document(owner: str, name: str, build) -> bytes:
    """An index of every gem of `owner` the actor may read, cached by exactly which packages (as they
    are now) it lists."""
    packages = service.readable_packages(g.actor, owner, FORMAT)
    key = ("owner", owner.lower(), name, tuple(_package_key(p) for p in packages))
    return documents.get_or_build(key, lambda: build(packages))


def _specs(packages: list[Package]) -> list[GemSpec]:
    return [gem.spec for package in packages for gem in _indexed_gems(package)]


def _versions_events(package: Package) -> list[index.VersionsEvent]:
    """The gem's lines of /versions, kept while the gem is as it is: a push or yank of one gem hashes
    that gem's lines alone, and the owner's file is these merged."""
    return _cached("versions", package, lambda p: index.versions_events(p.id, p.name, _history(p)))


# The /versions files last built for each owner (one per set of gems readers see), to append to.
_versions_logs: dict[str, list[index.VersionsLog]] = {}
_versions_logs_lock = threading.Lock()
LOGS_PER_OWNER = 4


def _versions_body(owner: str, packages: list[Package]) -> bytes:
    """The owner's /versions: the last one built with the new lines appended when gems were pushed or
    yanked since, else merged anew from each gem's lines."""
    created = min((p.created_at for p in packages), default=dt.datetime(2000, 1, 1))
    events = {p.id: _versions_events(p) for p in packages}
    with _versions_logs_lock:
        logs = list(_versions_logs.get(owner.lower(), []))
    log = next((appended for appended in (old.appended(created, events) for old in logs) if appended), None)
    log = log or index.VersionsLog.build(created, events)
    with _versions_logs_lock:
        kept = [old for old in _versions_logs.get(owner.lower(), []) if old.events.keys() != log.events.keys()]
        _versions_logs[owner.lower()] = [log, *kept][:LOGS_PER_OWNER]
    return log.body


def _names_body(packages: list[Package]) -> bytes:
    return index.names_file(p.name for p in packages if _indexed_gems(p))


def _readable(owner: str, name: str, action: Action = Action.READ) -> Package:
    metadata.validate_name(name)
    return service.readable_package(g.actor, owner, FORMAT, name, action)


def _compact_index_response(body: bytes, *, ranges: bool) -> Response:
    """A compact index file as bundler reads it: its ETag is the MD5 of the whole body (bundler checks
    what it appended against it), Repr-Digest its SHA-256; `ranges` answers `Range: bytes=N-` with the
    tail bundler appends to its copy."""
    etag = hashlib.md5(body).hexdigest()  # the protocol's choice, not ours
    sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
    headers = {"Repr-Digest": f"sha-256=:{sha256}:", "Digest": f"sha-256={sha256}",
               "Cache-Control": "private, max-age=0, must-revalidate", "Accept-Ranges": "bytes" if ranges else "none"}
    if etag in request.if_none_match:
        response = Response(status=304, headers=headers)
        response.set_etag(etag)
        return response
    status, content = 200, body
    requested = request.range.range_for_length(len(body)) if ranges and request.range else None
    if requested is not None and requested != (0, len(body)):
        start, stop = requested
        status, content = 206, body[start:stop]
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(body)}"
    response = Response(content, status=status, mimetype="text/plain", headers=headers)
    response.set_etag(etag)
    return response


def _binary_response(body: bytes) -> Response:
    response = Response(body, mimetype="application/octet-stream")
    response.set_etag(hashlib.sha256(body).hexdigest())
    return response.make_conditional(request.environ)


# ---- the source ------------------------------------------------------------------------------------


@blueprint.route("/<owner>/", methods=["GET", "HEAD"])
def source(owner: str):
    """`gem` asks the source itself (HEAD) to learn that it serves the compact index."""
    service.readable_packages(g.actor, owner, FORMAT)
    return text_response(f"RubyGems source of {owner}: {registry_url(FORMAT)}{owner}/")


@blueprint.get("/<owner>/versions")
def versions(owner: str):
    # Pushes and yanks append lines; a restore or a deleted gem changes earlier ones, and then bundler
    # finds the MD5 of what it appended wrong and fetches the whole file.
    return _compact_index_response(_owner_document(owner, "versions", lambda p: _versions_body(owner, p)),
                                   ranges=True)


@blueprint.get("/<owner>/names")
def names(owner: str):
    return _compact_index_response(_owner_document(owner, "names", _names_body), ranges=False)


@blueprint.get("/<owner>/info/<name>")
def info(owner: str, name: str):
    # Versions are listed in publish order, so a new version is a line appended to what bundler has.
    return _compact_index_response(_info(_readable(owner, name)), ranges=True)


@blueprint.get("/<owner>/specs.4.8.gz")
def specs(owner: str):
    return _binary_response(_owner_document(owner, "specs", lambda p: index.specs_index(_specs(p))))


@blueprint.get("/<owner>/latest_specs.4.8.gz")
def latest_specs(owner: str):
    return _binary_response(_owner_document(owner, "latest_specs", lambda p: index.latest_specs_index(_specs(p))))


@blueprint.get("/<owner>/prerelease_specs.4.8.gz")
def prerelease_specs(owner: str):
    return _binary_response(
        _owner_document(owner, "prerelease_specs", lambda p: index.prerelease_specs_index(_specs(p))))


def _gem_version(owner: str, stem: str) -> tuple[Package, IndexedGem]:
    """The live version a file stem `NAME-VERSION[-PLATFORM]` names. Names may hold '-' and digits, so
    each split that leaves a version is tried; a stem naming nothing is answered like a missing gem."""
    refusal: PackageError | None = None
    for position, char in enumerate(stem):
        if char != "-" or not stem[position + 1:position + 2].isdigit():
            continue
        name, rest = stem[:position], stem[position + 1:]
        try:
            metadata.validate_name(name)
        except InvalidGem:
            continue
        try:
            package = _readable(owner, name)
        except AccessDenied as denied:
            refusal = refusal or denied
            continue
        for gem in _indexed_gems(package):
            if gem.spec.full_version == rest:
                return package, gem
        # 'twin-2-1.0' may be twin 2-1.0 (no such version) or twin-2 1.0: try every split first.
        refusal = VersionNotFound(f"{package.name} has no version {rest}")
    if refusal is None:
        raise service.deny_missing(g.actor)  # no such gem
    raise refusal


@blueprint.get("/<owner>/quick/Marshal.4.8/<stem>.gemspec.rz")
def quick_spec(owner: str, stem: str):
    _, gem = _gem_version(owner, stem)
    return _binary_response(index.quick_spec(gem.spec))


@blueprint.get("/<owner>/gems/<stem>.gem")
def gem_file(owner: str, stem: str):
    from appliance.web.files import record_if_download, send_package_file

    package, gem = _gem_version(owner, stem)
    package_file = service.find_file(package, gem.spec.file_name)
    if package_file is None:
        raise VersionNotFound(f"{package.name} has no file {gem.spec.file_name}")
    record_if_download(package_file.version)
    return send_package_file(package_file)


def _dependency_specs(owner: str) -> list[GemSpec]:
    """The specs of the gems `?gems=a,b` names that the actor may read; one it may not read is left out
    as if it did not exist, unless the actor must first sign in or lacks the scope."""
    specs = []
    for name in filter(None, request.args.get("gems", "").split(",")[:200]):
        try:
            package = _readable(owner, name)
        except AccessDenied as denied:
            if denied.decision.outcome is Outcome.NOT_FOUND:
                continue
            raise
        except InvalidGem:
            continue
        specs.extend(gem.spec for gem in _indexed_gems(package))
    return specs


@blueprint.get("/<owner>/api/v1/dependencies")
def dependencies(owner: str):
    """The dependency API of older bundlers: an empty body without `gems` says that it is served."""
    if not request.args.get("gems"):
        service.readable_packages(g.actor, owner, FORMAT)
        return Response(b"", mimetype="application/octet-stream")
    return Response(index.dependencies_marshal(_dependency_specs(owner)), mimetype="application/octet-stream")


@blueprint.get("/<owner>/api/v1/dependencies.json")
def dependencies_json(owner: str):
    return Response(index.dependencies_json(_dependency_specs(owner)), mimetype="application/json")


# ---- the JSON API tools read ------------------------------------------------------------------------

SEARCH_PAGE_SIZE = 30
MAX_SEARCH_PAGE = 1000


def _published_gems(package: Package) -> list[api.PublishedGem]:
    """The live versions of a gem, with the sha256 of each .gem and its downloads."""
    return [api.PublishedGem(GemSpec.from_json(v.metadata), v.main_file.sha256, v.created_at, v.downloads_total)
            for v in service.live_version_views([package])[package.id] if v.main_file is not None]


def _gem_document(owner: str, package: Package, gems: list[api.PublishedGem]) -> dict:
    spec = api.current(gems).spec
    return api.gem_document(
        gems, gem_uri=f"{registry_url(FORMAT)}{owner}/gems/{spec.file_name}",
        project_uri=package_page_url(package.repository.owner.login, package.repository.owner.is_organization, FORMAT,
                                     package.name))


def _json(document) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), mimetype="application/json")


@blueprint.get("/<owner>/api/v1/gems/<name>.json")
def gem_json(owner: str, name: str):
    """The gem as its current version describes it (rubygems.org's gems/NAME.json)."""
    package = _readable(owner, name)
    gems = _published_gems(package)
    if not gems:
        raise PackageNotFound(f"{package.name} has no version that is not yanked")
    return _json(_gem_document(owner, package, gems))


@blueprint.get("/<owner>/api/v1/versions/<name>.json")
def versions_json(owner: str, name: str):
    """Every live version of the gem, highest first (rubygems.org's versions/NAME.json)."""
    return _json(api.versions_document(_published_gems(_readable(owner, name))))


@blueprint.get("/<owner>/api/v1/search.json")
def search_json(owner: str):
    """The owner's gems the actor may read whose name, description or authors hold every word of
    `query`, best first (the service ranks them), 30 a page."""
    query = request.args.get("query", "")
    page = request.args.get("page", "1").strip() or "1"
    if not page.isdigit() or not 1 <= int(page) <= MAX_SEARCH_PAGE:
        raise InvalidGem(f"page must be a whole number from 1 to {MAX_SEARCH_PAGE}, not {page[:40]!r}")
    if len(query) > 1000:
        raise InvalidGem("the query is longer than 1000 characters")
    hits = service.search_packages(g.actor, FORMAT, query, owner=owner, limit=SEARCH_PAGE_SIZE,
                                   offset=(int(page) - 1) * SEARCH_PAGE_SIZE)
    documents = []
    for package in hits.packages:
        gems = _published_gems(package)
        if gems:
            documents.append(_gem_document(owner, package, gems))
    return _json(documents)


# ---- push and yank ---------------------------------------------------------------------------------


def _linked_repository(owner: str, spec: GemSpec) -> str | None:
    """The repository of `owner` the gemspec's metadata names, None when it names none."""
    for key in REPOSITORY_KEYS:
        reference = spec.metadata.get(key)
        if not reference:
            continue
        parsed = parse_repository_reference(reference)
        if parsed is None:
            raise LinkRefused(f'the gemspec\'s metadata "{key}" ({reference}) names no repository: use '
                              f"{HOW_TO_LINK}")
        return service.owners_repository(owner, parsed, f'the gemspec\'s metadata "{key}"')
    return None


@blueprint.post("/<owner>/api/v1/gems")
def push(owner: str):
    # Before reading the upload: without a key, nothing it holds matters.
    service.check_signed_in(g.actor)
    with spooled_body(current_settings()["max_upload_bytes"], "the gem") as sink:
        spec = metadata.parse_gem(sink)
        sink.seek(0)
        existing = service.find_package(owner, FORMAT, spec.name, include_deleted=True)
        if (existing is not None and existing.name != spec.name
                and service.is_allowed(g.actor, existing.repository, Action.WRITE)):
            # Only to those who may push the gem: the publish answers everyone else as it answers
            # them for the gem's own name.
            raise InvalidGem(f"{spec.name} differs only in case from the gem {existing.name}: use its exact name")
        license_ = ", ".join(spec.licenses)[:255] or None
        service.publish_version(
            g.actor,
            owner_login=owner,
            fmt=FORMAT,
            name=spec.name,
            draft=VersionDraft(version=spec.full_version, metadata=spec.to_json(), summary=spec.summary[:1000],
                               license=license_),
            uploads=[FileUpload(name=spec.file_name, chunks=iter_chunks(sink), content_type="application/octet-stream")],
            repository_name=_linked_repository(owner, spec),
            default_repository_name=spec.name,
        )
    return text_response(f"Successfully registered gem: {spec.name} ({spec.full_version})", 200)


@blueprint.delete("/<owner>/api/v1/gems/yank")
def yank(owner: str):
    """`gem yank NAME -v VERSION [--platform P]`: the version leaves every index and can be restored
    within the retention period."""
    name = request.values.get("gem_name", "")
    number = request.values.get("version", "")
    if not name or not number:
        raise InvalidGem("gem yank needs the gem's name and --version")
    package = _readable(owner, name, Action.DELETE)
    version_text = metadata.full_version(metadata.validate_version(number),
                                         metadata.validate_platform(request.values.get("platform")))
    version = service.find_version(package, version_text)
    if version is None:
        raise VersionNotFound(f"{package.name} has no version {version_text} to yank (or it is yanked already)")
    service.delete_version(g.actor, version)
    return text_response(f"Successfully deleted gem: {package.name} ({version_text})")
