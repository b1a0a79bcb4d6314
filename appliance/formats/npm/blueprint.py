"""The npm registry protocol: what `npm publish`, `install`, `view`, `dist-tag`, `deprecate`,
`unpublish`, `whoami`, `ping` and `search` ask, answered from the packages service."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import MethodNotAllowed

from appliance import packages as service
from appliance.auth.credentials import BadCredentials, actor_from_request
from appliance.auth.permissions import Action, Outcome
from appliance.formats.document_cache import DocumentCache, keyed_tag
from appliance.formats.hints import leave_the_token_out
from appliance.formats.npm import metadata
from appliance.formats.npm.metadata import InvalidPackage, VersionRecord
from appliance.formats.routing import REGISTRY_PREFIX, registry_unavailable, registry_url, unrouted_error
from appliance.models.base import utcnow
from appliance.models.repositories import PUBLIC
from appliance.packages import (
    AccessDenied,
    FileUpload,
    FileView,
    ForeignRepository,
    PackageError,
    RepositoryNotLinked,
    TokenInUpload,
    VersionDraft,
    VersionView,
)
from appliance.settings import current_settings
from appliance.storage.blobs import iter_chunks
from appliance.web.uploads import limited_body, spool

FORMAT = "npm"
ABBREVIATED = "application/vnd.npm.install-v1+json"
# What a base64 attachment adds to the tarball it carries, plus room for the JSON around it.
BASE64_OVERHEAD = 4 / 3
DOCUMENT_ALLOWANCE = 16 * 1024 * 1024

blueprint = Blueprint("npm", __name__)


# ---- answers ---------------------------------------------------------------------------------------


def npm_error(status: int, message: str) -> Response:
    """npm prints `error` after the status line, so it is the one line the user reads."""
    response = Response(json.dumps({"error": message}), status=status, mimetype="application/json")
    if status == 401:
        # npm prints the challenge instead of the body: under Basic it shows npmjs.com password advice,
        # under Bearer "npm login", neither of which helps here; under Token (a scheme the appliance
        # accepts) it prints "Unable to authenticate, need: Token realm="npm"".
        response.headers["WWW-Authenticate"] = 'Token realm="npm"'
    return response


def json_response(document: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status=status, mimetype=mimetype)


STATUS_OF = {
    Outcome.UNAUTHENTICATED: 401,
    Outcome.FORBIDDEN: 403,
    Outcome.NOT_FOUND: 404,
}


HINTS = {
    RepositoryNotLinked: lambda error: f'"repository": "{error.owner}/REPO" in package.json',
    ForeignRepository: lambda error: f'name a repository of {error.owner} ("repository": "{error.owner}/REPO")',
    TokenInUpload: lambda error: leave_the_token_out(error, "keep .npmrc away from what npm packs"),
}


@blueprint.errorhandler(PackageError)
def _package_error(error: PackageError):
    if isinstance(error, AccessDenied):
        decision = error.decision
        message = decision.message
        if decision.outcome is Outcome.UNAUTHENTICATED:
            message = ("authentication required: add `//HOST/:_authToken=TOKEN` for this registry to "
                       "your project's .npmrc (a token with read:packages, or write:packages to publish)")
        elif decision.outcome is Outcome.NOT_FOUND:
            message = "not found"
        return npm_error(STATUS_OF[decision.outcome], message)
    return npm_error(service.status_for(error), service.explain(error, HINTS))


@blueprint.errorhandler(InvalidPackage)
def _invalid_package(error: InvalidPackage):
    return npm_error(400, str(error))


@blueprint.errorhandler(BadCredentials)
def _bad_credentials(error: BadCredentials):
    return npm_error(401, f"{error}: check the _authToken for this registry in your .npmrc")


@blueprint.before_app_request
def _unrouted():
    """A URL under this registry that matches no rule: Flask hands it to no blueprint (neither the gate
    nor the handlers here would see it, and the client would get an HTML page), so answer it here."""
    error = unrouted_error(FORMAT)
    if error is None:
        return None
    problem = registry_unavailable(FORMAT)
    if problem:
        return npm_error(404, problem)
    path = request.path[len(f"{REGISTRY_PREFIX}/{FORMAT}") + 1:]
    if path and not path.startswith("-/"):
        # Any path but the '-/' endpoints starts with a package name: say what is wrong with it
        # ('lodash', '@alice/../x') rather than that nothing is there.
        first, _, rest = path.partition("/")
        try:
            metadata.parse_package_name(f"{first}/{rest.partition('/')[0]}" if first.startswith("@") else first)
        except InvalidPackage as invalid:
            return npm_error(400, str(invalid))
    if isinstance(error, MethodNotAllowed):
        return npm_error(405, f"{request.method} is not supported here")
    return npm_error(404, "not found")


@blueprint.before_request
def _gate():
    problem = registry_unavailable(FORMAT)
    if problem:
        return npm_error(404, problem)
    g.actor = actor_from_request(request)


# ---- helpers ---------------------------------------------------------------------------------------


def _package_name(scope: str, name: str) -> str:
    full = f"@{scope}/{name}"
    metadata.parse_package_name(full)
    return full


def _readable(scope: str, name: str, action: Action = Action.READ):
    """The package, if the actor may do `action` with it: asking for the request's own action makes a
    refusal name the scope or role that request needs."""
    full = _package_name(scope, name)
    package = service.readable_package(g.actor, scope, FORMAT, full, action)
    return package


def _tarball_url(package_name: str, version: str) -> str:
    return f"{registry_url(FORMAT)}{package_name}/-/{metadata.tarball_filename(package_name, version)}"


def _revision(package) -> str:
    return f"1-{keyed_tag(('revision', package.id, package.updated_at.isoformat()))}"


def _live_versions(package) -> list[VersionView]:
    return service.live_version_views([package])[package.id]


def _dist_tags(versions: list[VersionView]) -> dict[str, str]:
    """The package's dist-tags, as the views of its live versions carry their package's (none without a
    live version: tags point at live versions only)."""
    return versions[0].package.tags if versions else {}


def _version_records(versions: list[VersionView]) -> list[VersionRecord]:
    return [VersionRecord(
        version=version.version,
        manifest=version.metadata,
        tarball_url=_tarball_url(version.package.name, version.version),
        shasum=version.main_file.sha1,
        integrity=_integrity(version.main_file),
        created=version.created_at,
        deprecated=version.metadata.get("deprecated"),
    ) for version in versions if version.main_file is not None]


def _integrity(tarball: FileView) -> str:
    """dist.integrity from the strongest digest of the tarball's bytes. An npm publish keeps sha512 and
    sha1; a tarball stored by another path (the service's own uploads, the same bytes under another
    format) may have only the sha256 every blob has, which npm checks as well."""
    algorithm = next(a for a in ("sha512", "sha256") if getattr(tarball, a))
    return metadata.integrity_of(algorithm, getattr(tarball, algorithm))


def _maintainers(package) -> list[dict]:
    """npm's `maintainers` (what `npm owner ls` prints): the admins of the package's repository. Their
    addresses are no-reply ones, as GitHub gives in commits: a package's readers may not see e-mails."""
    hostname = current_settings()["hostname"]
    return [{"name": login, "email": f"{login}@users.noreply.{hostname}"}
            for login in service.package_maintainers(package)]


def _packument(package, abbreviated: bool, maintainers: list[dict] | None) -> dict:
    versions = _live_versions(package)
    latest_readme = None
    if not abbreviated:
        latest_readme = versions[-1].readme if versions else None
    document = metadata.build_packument(
        package.name, _version_records(versions), _dist_tags(versions), package.created_at, package.updated_at,
        abbreviated=abbreviated, readme=latest_readme, maintainers=maintainers)
    if not abbreviated:
        document["_rev"] = _revision(package)
    return document


# ---- service endpoints -----------------------------------------------------------------------------


@blueprint.get("/-/ping")
def ping():
    return json_response({})


@blueprint.get("/-/whoami")
def whoami():
    if g.actor.is_anonymous:
        return npm_error(401, "not signed in: add `//HOST/:_authToken=TOKEN` for this registry to .npmrc")
    return json_response({"username": g.actor.login})


@blueprint.route("/-/user/org.couchdb.user:<path:name>", methods=["PUT"])
def login(name: str):
    return npm_error(401, "this registry does not take passwords: create a token on the appliance and add "
                          "`//HOST/:_authToken=TOKEN` for this registry to your .npmrc")


MAX_SEARCH_SIZE = 250
MAX_SEARCH_TEXT = 1000


def _search_paging() -> tuple[int, int]:
    """`size` and `from` as npm sends them; anything but a whole number is refused, not guessed."""
    values = []
    for name, default, low, high in (("size", 20, 1, MAX_SEARCH_SIZE), ("from", 0, 0, 10_000)):
        raw = request.args.get(name, str(default)).strip() or str(default)
        if not raw.isdigit():
            raise InvalidPackage(f"{name} must be a whole number, not {raw[:40]!r}")
        values.append(min(max(int(raw), low), high))
    return values[0], values[1]


@blueprint.get("/-/v1/search")
def search():
    """`npm search TEXT`: the packages the actor may read whose name, keywords or description hold the
    words, best first (the service ranks them: an exact name, then the name, keywords, description)."""
    text = request.args.get("text", "")
    if len(text) > MAX_SEARCH_TEXT:
        raise InvalidPackage(f"the search text is longer than {MAX_SEARCH_TEXT} characters")
    size, offset = _search_paging()
    hits = service.search_packages(g.actor, FORMAT, text, limit=size, offset=offset)
    objects = []
    for rank, (package, latest) in enumerate(zip(hits.packages, service.newest_version_views(hits), strict=True)):
        # The order is the ranking; npm shows searchScore, so it falls with the rank.
        score = round(1.0 - (offset + rank) / (offset + len(hits.packages) + 1), 6)
        objects.append({
            "package": {
                "name": package.name,
                "scope": package.repository.owner.login.lower(),
                "version": latest.version,
                "description": latest.metadata.get("description", ""),
                "keywords": latest.metadata.get("keywords", []),
                "date": metadata.iso_time(latest.created_at),
                "links": {"npm": f"{registry_url(FORMAT)}{package.name}"},
                "publisher": {"username": latest.publisher.login if latest.publisher else ""},
                "maintainers": [{"username": login} for login in service.package_maintainers(package)],
            },
            "score": {"final": score, "detail": {"quality": score, "popularity": score, "maintenance": score}},
            "searchScore": score,
        })
    return json_response({"objects": objects, "total": hits.total, "time": metadata.iso_time(utcnow())})


# ---- packuments ------------------------------------------------------------------------------------


packuments = DocumentCache()


@blueprint.get("/@<scope>/<name>")
def packument(scope: str, name: str):
    package = _readable(scope, name)
    abbreviated = ABBREVIATED in request.headers.get("Accept", "") and "write" not in request.args
    # Installs read the abbreviated document, which has no maintainers: only the full one asks for them.
    maintainers = None if abbreviated else _maintainers(package)
    key = (package.id, package.updated_at.isoformat(), abbreviated, registry_url(FORMAT),
           json.dumps(maintainers))
    # The packument changes only when the package row does; clients revalidate without a rebuild.
    etag = keyed_tag(key)
    if etag in request.if_none_match:
        response = Response(status=304)
        response.set_etag(etag)
        return response
    body = packuments.get_or_build(key, lambda: json.dumps(_packument(package, abbreviated, maintainers),
                                                            separators=(",", ":")).encode())
    response = Response(body, mimetype=ABBREVIATED if abbreviated else "application/json")
    response.set_etag(etag)
    response.last_modified = package.updated_at
    response.headers["Vary"] = "Accept, Authorization"
    return response


@blueprint.get("/@<scope>/<name>/<version>")
def version_manifest(scope: str, name: str, version: str):
    package = _readable(scope, name)
    versions = _live_versions(package)
    target = _dist_tags(versions).get(version, version)
    for record in _version_records(versions):
        if record.version == target:
            document = metadata.build_packument(package.name, [record], {}, package.created_at,
                                                package.updated_at, abbreviated=False)
            return json_response(document["versions"][target])
    return npm_error(404, f"{package.name} has no version or tag {version}")


@blueprint.get("/@<scope>/<name>/-/<filename>")
def tarball(scope: str, name: str, filename: str):
    from appliance.web.files import record_if_download, send_package_file

    package = _readable(scope, name)
    package_file = service.find_file(package, filename)
    if package_file is None:
        return npm_error(404, f"{package.name} has no file {filename}")
    record_if_download(package_file.version)
    return send_package_file(package_file)


# ---- publish and update ----------------------------------------------------------------------------


def _spooled_publish_body() -> tuple[dict, dict[str, Any]]:
    """Read the body once, streaming: attachments to spooled files, the rest to a document."""
    limit = current_settings()["max_upload_bytes"]
    body = limited_body(int(limit * BASE64_OVERHEAD) + DOCUMENT_ALLOWANCE, "the publish request")
    sinks: dict[str, Any] = {}

    def open_sink(attachment: str):
        sinks[attachment] = spool()
        return sinks[attachment]

    try:
        document = metadata.split_publish_body(body, open_sink)
    except BaseException:
        for sink in sinks.values():
            sink.close()
        raise
    return document, sinks


@blueprint.put("/@<scope>/<name>")
@blueprint.put("/@<scope>/<name>/-rev/<rev>")
def publish_or_update(scope: str, name: str, rev: str | None = None):
    full = _package_name(scope, name)
    document, sinks = _spooled_publish_body()
    try:
        if document.get("_attachments"):
            return _publish(scope, full, document, sinks)
        return _update(scope, full, document)
    finally:
        for sink in sinks.values():
            sink.close()


def _publish(scope: str, full: str, document: dict, sinks: dict) -> Response:
    publish = metadata.parse_publish_document(document, full)
    sink = sinks.get(publish.attachment_name)
    if sink is None:
        raise InvalidPackage(f"the attachment {publish.attachment_name} has no data: publish it with npm publish")
    sink.seek(0)
    repository = metadata.repository_from_manifest(publish.manifest)
    owner_login = publish.scope
    repository_name = service.owners_repository(owner_login, repository, "package.json")
    license_ = publish.manifest.get("license")
    service.publish_version(
        g.actor,
        owner_login=owner_login,
        fmt=FORMAT,
        name=full,
        draft=VersionDraft(
            version=publish.version,
            metadata=publish.manifest,
            summary=str(publish.manifest.get("description", ""))[:1000],
            readme=publish.readme,
            license=license_ if isinstance(license_, str) else None,
        ),
        uploads=[FileUpload(
            name=metadata.tarball_filename(full, publish.version),
            chunks=iter_chunks(sink),
            content_type="application/octet-stream",
            expected_digests=publish.expected_digests,
            algorithms=("sha1", "sha512"),
        )],
        repository_name=repository_name,
        default_repository_name=full.split("/", 1)[1],
        tags=list(publish.dist_tags) or ["latest"],
    )
    return json_response({"ok": True, "id": full, "success": True}, status=201)


def _update(scope: str, full: str, document: dict) -> Response:
    """A packument sent back changed: npm deprecate (versions[v].deprecated) and npm unpublish of one
    version (a version missing, its tags moved). Only those changes are taken, in one operation of the
    service that permits every change before the first is made; files never change."""
    package = service.find_package(scope, FORMAT, full)
    sent_versions = document.get("versions")
    versions = _live_versions(package) if package else []
    current = {v.version: v for v in versions}
    kept = sent_versions if isinstance(sent_versions, dict) else current
    removed = [v for name, v in current.items() if name not in kept]
    # Leaving versions out is how npm unpublishes one; any other change is a write. Refused before the
    # body is looked at further, naming what this update needs.
    service.readable_package(g.actor, scope, FORMAT, full, Action.DELETE if removed else Action.WRITE)
    if not isinstance(sent_versions, dict):
        raise InvalidPackage("the package document has no versions object")
    deprecations = []
    for name, version in current.items():
        sent = sent_versions.get(name)
        if not isinstance(sent, dict):
            continue
        message = sent.get("deprecated") or None
        if message is not None and not isinstance(message, str):
            raise InvalidPackage(f"versions[{name}].deprecated must be a string")
        if message != (version.metadata.get("deprecated") or None):
            deprecations.append((version, message))
    removed_names = {v.version for v in removed}
    tags = _dist_tags(versions)
    sent_tags = document.get("dist-tags")
    if sent_tags is not None and not isinstance(sent_tags, dict):
        raise InvalidPackage("dist-tags must be an object mapping tags to versions")
    moves = {metadata.validate_dist_tag(tag): target for tag, target in (sent_tags or {}).items()
             if isinstance(target, str) and target in current and target not in removed_names
             and tags.get(tag) != target}
    metadata.check_tag_count(len(moves))
    service.change_packument(g.actor, package, unpublish=removed, deprecations=deprecations, tags=moves)
    return json_response({"ok": True}, status=201)


@blueprint.delete("/@<scope>/<name>/-rev/<rev>")
def unpublish_package(scope: str, name: str, rev: str):
    package = _readable(scope, name, Action.DELETE)
    service.delete_package(g.actor, package)
    return json_response({"ok": True})


@blueprint.delete("/@<scope>/<name>/-/<filename>/-rev/<rev>")
# npm strips only its default registry's path from a tarball URL, so a scope registry under
# /_registry/npm/ sees that prefix twice.
@blueprint.delete("/_registry/npm/@<scope>/<name>/-/<filename>/-rev/<rev>")
def unpublish_tarball(scope: str, name: str, filename: str, rev: str):
    """npm deletes the tarball after removing its version from the packument; the version's removal
    already took its file out of every answer, so this only confirms it is gone."""
    package = _readable(scope, name, Action.DELETE)
    if service.find_file(package, filename) is not None:
        return npm_error(409, f"{filename} still belongs to a published version: unpublish the version first")
    return json_response({"ok": True})


# ---- dist-tags -------------------------------------------------------------------------------------


@blueprint.get("/-/package/@<scope>/<name>/dist-tags")
def dist_tags(scope: str, name: str):
    package = _readable(scope, name)
    return json_response(service.package_tags(package))


@blueprint.get("/-/package/@<scope>/<name>/visibility")
def visibility(scope: str, name: str):
    """`npm access get status`: public when anyone may install it without signing in to the appliance
    (a public repository); private for private and internal repositories."""
    package = _readable(scope, name)
    return json_response({"public": package.repository.visibility == PUBLIC})


@blueprint.route("/-/package/@<scope>/<name>/dist-tags/<tag>", methods=["PUT", "POST"])
def add_dist_tag(scope: str, name: str, tag: str):
    package = _readable(scope, name, Action.WRITE)
    try:
        version = json.loads(request.get_data(cache=False, as_text=True) or "null")
    except ValueError:
        raise InvalidPackage("the body must be a JSON string naming a version") from None
    if not isinstance(version, str):
        raise InvalidPackage("the body must be a JSON string naming a version")
    service.move_tag(g.actor, package, metadata.validate_dist_tag(tag), version)
    return json_response({"ok": True}, status=201)


@blueprint.delete("/-/package/@<scope>/<name>/dist-tags/<tag>")
def remove_dist_tag(scope: str, name: str, tag: str):
    package = _readable(scope, name, Action.WRITE)
    if tag == "latest":
        raise InvalidPackage("the latest tag cannot be removed; point it at another version instead")
    service.remove_tag(g.actor, package, tag)
    return json_response({"ok": True})
