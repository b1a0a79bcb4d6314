"""The OCI Distribution Specification v1.1 (Docker Registry HTTP API V2) at docker.HOSTNAME/v2/, with
Docker's token flow at docker.HOSTNAME/token, answered from the packages service.

How images map onto packages: the image `OWNER/REPOSITORY/IMAGE` is the docker package IMAGE of OWNER,
linked to the repository OWNER/REPOSITORY. Each manifest (image manifest or index) is a version named
by its digest, whose files are the manifest itself (`manifest.json`) and the config and layer blobs it
references, by digest: the blob store keeps each layer once whatever image or format refers to it,
the files keep the layers of every live manifest alive, and what a version holds is listed like any
other package's. Tags are package tags. Blobs pushed before their manifest are staged in the package
(service.find_staged_blob), which is what blob GET, HEAD and mounts look at.
"""
from __future__ import annotations

import json
import time

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import MethodNotAllowed

from appliance import packages as service
from appliance.accounts.service import find_repository
from appliance.auth.credentials import (
    BadCredentials,
    actor_for_credentials,
    actor_for_secret,
    actor_from_basic,
    credentials_from_request,
)
from appliance.auth.permissions import ANONYMOUS, Action, Actor, Outcome
from appliance.auth.recent import remembered
from appliance.auth.tokens import find_token_by_id, live_for_a_second
from appliance.formats.docker import bearer, metadata
from appliance.formats.docker.bearer import CATALOG_SCOPE, Grant, InvalidBearer
from appliance.formats.docker.metadata import DistributionError, ImageName, Manifest
from appliance.formats.hints import leave_the_token_out
from appliance.formats.repository_links import parse_repository_reference
from appliance.formats.routing import registry_unavailable, registry_url, unrouted_error
from appliance.models.repositories import Repository
from appliance.packages import (
    AccessDenied,
    BlobNotFound,
    FileUpload,
    InvalidUpload,
    LinkRefused,
    PackageError,
    PackageNotFound,
    StillRestorable,
    TagNotFound,
    TokenInUpload,
    UploadNotFound,
    UploadOutOfOrder,
    UploadTooLarge,
    VersionDraft,
    VersionExists,
    VersionNotFound,
    VisibilityNotOffered,
)
from appliance.settings import current_settings
from appliance.storage.blobs import iter_chunks
from appliance.web.files import record_if_download, send_blob, send_package_file
from appliance.web.uploads import limited_body

FORMAT = "docker"
MANIFEST_FILE = "manifest.json"
# Manifests are read whole to be parsed; distribution and most registries stop at 4 MiB.
MANIFEST_LIMIT = 4 * 1024 * 1024
SCOPE_ACTIONS = {Action.READ: "pull", Action.WRITE: "push", Action.DELETE: "delete"}
ACTION_OF_SCOPE = {"pull": Action.READ, "push": Action.WRITE, "delete": Action.DELETE}
CHALLENGE_ACTIONS = {Action.READ: "pull", Action.WRITE: "pull,push", Action.DELETE: "delete"}
API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
NEEDS_ISOLATION = (
    "the Docker registry needs subdomain isolation: Docker clients need the registry at the root of its "
    "own host (docker.HOSTNAME); a site administrator can turn it on with `appliance config set "
    "subdomain_isolation true`"
)
CREDENTIALS_HINT = "log in with your user name and a token with read:packages (write:packages to push)"

blueprint = Blueprint("docker", __name__)


# ---- answers ---------------------------------------------------------------------------------------


def oci_error(status: int, code: str, message: str, detail=None, *, scope: str | None = None,
              insufficient_scope: bool = False) -> Response:
    """The spec's error body; a 401 carries the challenge that sends clients to the token endpoint."""
    error = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    response = Response(json.dumps({"errors": [error]}), status=status, mimetype="application/json")
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    if status == 401:
        response.headers["WWW-Authenticate"] = _challenge(scope, insufficient_scope)
    return response


def _challenge(scope: str | None, insufficient_scope: bool) -> str:
    base = registry_url(FORMAT)
    challenge = f'Bearer realm="{base}token",service="{_service_name()}"'
    if scope:
        challenge += f',scope="{scope}"'
    if insufficient_scope:
        challenge += ',error="insufficient_scope"'
    return challenge


def _service_name() -> str:
    return f"{FORMAT}.{current_settings()['hostname']}"


def _scope_of_request() -> str | None:
    return g.get("scope")


@blueprint.errorhandler(DistributionError)
def _distribution_error(error: DistributionError):
    status = 400 if isinstance(error, metadata.AlgorithmUnsupported) else \
        {"BLOB_UPLOAD_INVALID": 416, "UNSUPPORTED": 405}.get(error.code, 400)
    return oci_error(status, error.code, str(error), error.detail)


# The distribution spec's error code of each error (up its class hierarchy); UNSUPPORTED otherwise.
ERROR_CODES = {
    PackageNotFound: "NAME_UNKNOWN",
    VersionNotFound: "MANIFEST_UNKNOWN",
    TagNotFound: "MANIFEST_UNKNOWN",
    BlobNotFound: "BLOB_UNKNOWN",
    UploadNotFound: "BLOB_UPLOAD_UNKNOWN",
    UploadOutOfOrder: "BLOB_UPLOAD_INVALID",
    InvalidUpload: "DIGEST_INVALID",
    UploadTooLarge: "SIZE_INVALID",
    LinkRefused: "DENIED",
    VersionExists: "DENIED",
    StillRestorable: "DENIED",
    TokenInUpload: "DENIED",
    VisibilityNotOffered: "DENIED",
}
# A push the registry will not take is DENIED, which clients answer with 403.
STATUS_OVERRIDES = {LinkRefused: 403, TokenInUpload: 403}
HINTS = {
    TokenInUpload: lambda error: leave_the_token_out(
        error, "keep .npmrc, .netrc and other credentials out of the build context: .dockerignore"),
}


@blueprint.errorhandler(PackageError)
def _package_error(error: PackageError):
    if isinstance(error, AccessDenied):
        decision = error.decision
        if decision.outcome is Outcome.UNAUTHENTICATED:
            return oci_error(401, "UNAUTHORIZED", f"authentication required: {CREDENTIALS_HINT}",
                             scope=_scope_of_request())
        if decision.outcome is Outcome.NOT_FOUND:
            return _name_unknown()
        return oci_error(403, "DENIED", decision.message)
    return oci_error(service.status_for(error, STATUS_OVERRIDES),
                     service.along_hierarchy(error, ERROR_CODES) or "UNSUPPORTED", service.explain(error, HINTS))


def _name_unknown():
    """An image whose repository does not exist or cannot be seen (the same answer for both). skopeo and
    docker print the message and drop the detail, so both say which repository would hold the image."""
    image = g.get("image")
    if image is None:
        return oci_error(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": ""})
    full_name = f"{image.owner}/{image.repository}"
    how = (f"images named {image} belong to the repository {full_name}: create it "
           f"(`appliance repos create {full_name}`) or push to a repository you can write to")
    return oci_error(404, "NAME_UNKNOWN", f"repository name not known to registry: {how}",
                     {"name": str(image), "repository": full_name, "hint": how})


@blueprint.errorhandler(BadCredentials)
def _bad_credentials(error: BadCredentials):
    return oci_error(401, "UNAUTHORIZED", f"{error}: {CREDENTIALS_HINT}", scope=_scope_of_request())


@blueprint.errorhandler(InvalidBearer)
def _invalid_bearer(error: InvalidBearer):
    return oci_error(401, "UNAUTHORIZED", str(error), scope=_scope_of_request())


def _layout_problem() -> Response | None:
    if not current_settings().docker_available():
        return oci_error(404, "UNSUPPORTED", NEEDS_ISOLATION)
    problem = registry_unavailable(FORMAT)
    if problem:
        return oci_error(404, "UNSUPPORTED", problem)
    return None


@blueprint.before_app_request
def _unrouted():
    """A URL under this registry that matches no rule: answer it in the spec's error shape."""
    error = unrouted_error(FORMAT)
    if error is None:
        return None
    problem = _layout_problem()
    if problem is not None:
        return problem
    if isinstance(error, MethodNotAllowed):
        return oci_error(405, "UNSUPPORTED", f"{request.method} is not supported here")
    return oci_error(404, "UNSUPPORTED", f"no such endpoint: the registry API is at {registry_url(FORMAT)}v2/")


@blueprint.before_request
def _gate():
    problem = _layout_problem()
    # Docker clients print only the status of a refused ping or token request ("invalid status code from
    # registry 404"): while Docker is off those go through, so the reason comes in the body of the request
    # that follows, which clients print.
    if problem is not None and not (request.endpoint in HANDSHAKE_ENDPOINTS
                                    and not current_settings().docker_available()):
        return problem
    if request.endpoint in TOKEN_ENDPOINTS:
        # What /token trades must be the user's own credentials: a registry token presented there
        # would widen itself to anything the personal token allows, and renew itself forever.
        g.actor, g.grant = (actor_from_basic(request) if request.method == "GET" else ANONYMOUS), None
        return None
    g.actor, g.grant = _credentials()
    return None


@blueprint.after_request
def _api_version(response: Response) -> Response:
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    return response


def _bearer_key() -> bytes:
    return bearer.signing_key(current_app.config["SECRET_KEY"])


def _credentials() -> tuple[Actor, Grant | None]:
    """Who is asking and, with a registry bearer token, what it grants (None: a personal or job token
    sent directly, which the permission rules alone limit)."""
    credentials = credentials_from_request(request)
    if credentials is None or credentials.scheme != "bearer" or not bearer.is_bearer(credentials.secret):
        return actor_for_credentials(credentials), None
    grant = bearer.verify(_bearer_key(), credentials.secret, time.time())
    if grant.token_id is None:
        return Actor(), grant
    token = remembered(("token-id", grant.token_id), lambda: find_token_by_id(grant.token_id),
                       keep=live_for_a_second)
    if token is None:
        raise BadCredentials("the token this login used is revoked or expired")
    return Actor(user=token.user, token=token), grant


def _repository(image: ImageName, action: Action) -> Repository:
    """The image's repository if the caller may do `action` there (AccessDenied otherwise) and, with a
    bearer token, if the token grants it (else a 401 that sends the client for a wider token)."""
    g.image = image
    g.scope = f"repository:{image}:{CHALLENGE_ACTIONS[action]}"
    repository = service.accessible_repository(g.actor, image.owner, image.repository, action)
    if g.grant is not None and not g.grant.allows(str(image), SCOPE_ACTIONS[action]):
        raise _InsufficientScope()
    return repository


class _InsufficientScope(Exception):
    pass


class _PaginationInvalid(Exception):
    """An `n` that is not a number."""


@blueprint.errorhandler(_PaginationInvalid)
def _pagination_invalid(error: _PaginationInvalid):
    return oci_error(400, "PAGINATION_NUMBER_INVALID", str(error))


@blueprint.errorhandler(_InsufficientScope)
def _insufficient_scope(_error):
    return oci_error(401, "UNAUTHORIZED", "the registry token does not grant this: ask for a token with "
                     "this scope", scope=_scope_of_request(), insufficient_scope=True)


def _url(image: ImageName, *parts: str) -> str:
    return "/".join(["/v2", str(image), *parts])


# ---- the token endpoint and the base ---------------------------------------------------------------


@blueprint.get("/token")
def token():
    """Trade HTTP Basic (user name + personal access token, or a job token), or nothing (anonymous),
    for a bearer token granting the asked scopes as far as the permission rules allow. A scope not
    allowed is left out, as distribution does; the registry endpoint then answers 401, 403 or 404."""
    return _token_answer(request.args.getlist("scope"))


@blueprint.post("/token")
def oauth_token():
    """The OAuth2 form of the same trade (containerd's first try): `grant_type=password` with the token
    as `password`. Refresh tokens are not issued, so `grant_type=refresh_token` is refused."""
    if request.form.get("grant_type") != "password":
        return oci_error(400, "UNSUPPORTED", "only grant_type=password is supported: send the token as password")
    g.actor = actor_for_secret(request.form.get("password", ""))
    return _token_answer([request.form.get("scope", "")])


TOKEN_ENDPOINTS = ("docker.token", "docker.oauth_token")
HANDSHAKE_ENDPOINTS = (*TOKEN_ENDPOINTS, "docker.base")


def _token_answer(scopes: list[str]) -> Response:
    access: dict[str, frozenset[str]] = {}
    for text in scopes:
        for scope in text.split():
            parsed = bearer.parse_scope(scope)
            if parsed is None:
                continue
            kind, name, actions = parsed
            if kind == "registry" and name == "catalog":
                access[CATALOG_SCOPE] = frozenset({"*"})
            elif kind == "repository":
                granted = _granted_actions(name, actions)
                if granted:
                    access[name] = access.get(name, frozenset()) | granted
    actor = g.actor
    grant = Grant(actor.user.id if actor.user else None, actor.token.id if actor.token else None, access,
                  int(time.time()) + bearer.LIFETIME_SECONDS)
    issued = bearer.issue(_bearer_key(), grant)
    return Response(json.dumps({"token": issued, "access_token": issued, "expires_in": bearer.LIFETIME_SECONDS,
                                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}),
                    mimetype="application/json")


def _granted_actions(name: str, actions: frozenset[str]) -> frozenset[str]:
    try:
        image = metadata.parse_image_name(name)
    except DistributionError:
        return frozenset()
    repository = find_repository(image.owner, image.repository)
    wanted = set(SCOPE_ACTIONS.values()) if "*" in actions else actions & set(ACTION_OF_SCOPE)
    return frozenset(a for a in wanted if service.is_allowed(g.actor, repository, ACTION_OF_SCOPE[a]))


@blueprint.get("/v2/")
def base():
    """Docker clients start here: 401 with the challenge sends them to the token endpoint."""
    if g.actor.is_anonymous and g.grant is None:
        return oci_error(401, "UNAUTHORIZED", f"authentication required: {CREDENTIALS_HINT}")
    return Response("{}", mimetype="application/json")


@blueprint.route("/v2/<path:path>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
def dispatch(path: str):
    route = metadata.parse_route(path)
    if route is None:
        return oci_error(404, "UNSUPPORTED", f"no such endpoint: /v2/{path}")
    if route.kind == "catalog":
        if request.method not in ("GET", "HEAD"):
            return oci_error(405, "UNSUPPORTED", f"{request.method} is not supported on the catalog")
        return catalog()
    image = metadata.parse_image_name(route.name)
    method = "GET" if request.method == "HEAD" else request.method
    handler = HANDLERS.get((route.kind, method))
    if handler is None:
        return oci_error(405, "UNSUPPORTED", f"{request.method} is not supported on this endpoint")
    return handler(image, route.argument)


# ---- blobs -----------------------------------------------------------------------------------------


def get_blob(image: ImageName, argument: str):
    repository = _repository(image, Action.READ)
    digest = metadata.parse_digest(argument)
    blob = service.find_staged_blob(repository, FORMAT, image.image, *_hex_and_algorithm(digest))
    if blob is None:
        return oci_error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
    response = send_blob(blob, content_type="application/octet-stream", last_modified=blob.created_at,
                         transfer_of=repository)
    response.headers["Docker-Content-Digest"] = digest
    return response


def delete_blob(image: ImageName, argument: str):
    repository = _repository(image, Action.DELETE)
    digest = metadata.parse_digest(argument)
    service.unstage_blob(g.actor, repository, FORMAT, image.image, *_hex_and_algorithm(digest))
    return Response(status=202)


def _hex_and_algorithm(digest: str) -> tuple[str, str]:
    """What the service knows a blob by: the digest's hex, and its algorithm (sha256 or sha512)."""
    return metadata.digest_hex(digest), metadata.digest_algorithm(digest)


# ---- uploads ---------------------------------------------------------------------------------------


def _blob_created(image: ImageName, digest: str) -> Response:
    response = Response(status=201)
    response.headers["Location"] = _url(image, "blobs", digest)
    response.headers["Docker-Content-Digest"] = digest
    return response


def _upload_status(image: ImageName, upload_id: str, size: int, status: int) -> Response:
    response = Response(status=status)
    response.headers["Location"] = _url(image, "blobs", "uploads", upload_id)
    response.headers["Range"] = metadata.upload_range_header(size)
    response.headers["Docker-Upload-UUID"] = upload_id
    response.content_length = 0
    return response


def start_upload(image: ImageName, _argument: str):
    """POST: a mount from another image, a whole blob with `digest`, or a new resumable upload."""
    repository = _repository(image, Action.WRITE)
    if request.args.get("digest-algorithm"):
        # The digest the upload will be finished with: any of ours is fine, as sha256 is hashed on the
        # way in and a sha512 upload is read once more at its end.
        metadata.parse_digest_algorithm(request.args["digest-algorithm"])
    if request.args.get("mount"):
        digest = metadata.parse_digest(request.args["mount"])
        blob = service.mount_blob(g.actor, *_mount_source(request.args.get("from", "")), repository, FORMAT,
                                  image.image, *_hex_and_algorithm(digest))
        if blob is not None:
            return _blob_created(image, digest)
    if request.args.get("digest"):
        digest = metadata.parse_digest(request.args["digest"])
        body = limited_body(current_settings()["max_upload_bytes"], "the blob")
        service.store_staged_blob(g.actor, repository, FORMAT, image.image, iter_chunks(body),
                                  *_hex_and_algorithm(digest))
        return _blob_created(image, digest)
    upload = service.start_upload(g.actor, repository, FORMAT, image.image)
    return _upload_status(image, upload.uuid, 0, 202)


def _mount_source(name: str) -> tuple[Repository | None, str]:
    """The repository and image a mount reads from, when the caller's bearer token grants pulling it
    (the service checks the permission rules)."""
    try:
        source = metadata.parse_image_name(name)
    except DistributionError:
        return None, ""
    if g.grant is not None and not g.grant.allows(str(source), "pull"):
        return None, source.image
    return find_repository(source.owner, source.repository), source.image


def _upload(image: ImageName, upload_id: str):
    repository = _repository(image, Action.WRITE)
    upload = service.find_upload(repository, FORMAT, image.image, upload_id) \
        if metadata.UUID_RE.match(upload_id) else None
    if upload is None:
        raise UploadNotFound(f"no upload {upload_id} in {image}: it finished, was cancelled or expired; "
                             f"start the upload again")
    return upload


def upload_status(image: ImageName, upload_id: str):
    upload = _upload(image, upload_id)
    return _upload_status(image, upload_id, service.upload_size(upload), 204)


def _append_body(upload) -> int | None:
    """Append the request body to the upload, at the offset its Content-Range names when it has one."""
    start = None
    header = request.headers.get("Content-Range")
    if header:
        content_range = metadata.parse_content_range(header)
        if request.content_length is not None and request.content_length != content_range.length:
            raise metadata.RangeInvalid(f"Content-Range {header} is {content_range.length} bytes but the body "
                                        f"is {request.content_length}")
        start = content_range.start
    elif not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return None  # no body: a PUT that only finishes the upload
    return service.append_to_upload(g.actor, upload, _body_chunks(), start=start)


def _body_chunks():
    """The request body in chunks; lazily, so that a body over the limit is refused inside the
    service, which then drops the upload."""
    yield from iter_chunks(limited_body(current_settings()["max_upload_bytes"], "the blob"))


def upload_chunk(image: ImageName, upload_id: str):
    upload = _upload(image, upload_id)
    size = _append_body(upload)
    return _upload_status(image, upload_id, service.upload_size(upload) if size is None else size, 202)


def finish_upload(image: ImageName, upload_id: str):
    upload = _upload(image, upload_id)
    if not request.args.get("digest"):
        raise metadata.DigestInvalid("finishing an upload needs ?digest=sha256:... (or sha512:...)")
    digest = metadata.parse_digest(request.args["digest"])
    _append_body(upload)
    service.complete_upload(g.actor, upload, *_hex_and_algorithm(digest))
    return _blob_created(image, digest)


def cancel_upload(image: ImageName, upload_id: str):
    service.cancel_upload(g.actor, _upload(image, upload_id))
    return Response(status=204)


# ---- manifests -------------------------------------------------------------------------------------


def _image_package(repository: Repository, image: ImageName):
    package = service.repository_package(repository, FORMAT, image.image)
    if package is None:
        raise PackageNotFound(f"{image} has no manifests")
    return package


def _manifest_version(package, reference: metadata.Reference):
    if reference.tag:
        return service.find_tagged_version(package, reference.tag)
    return service.find_version(package, reference.digest)


def get_manifest(image: ImageName, argument: str):
    repository = _repository(image, Action.READ)
    reference = metadata.parse_reference(argument)
    package = _image_package(repository, image)
    if reference.tag and metadata.referrers_tag_prefix(reference.tag):
        referrers = _referrers_tag_answer(package, reference.tag)
        if referrers is not None:
            return referrers
    version = _manifest_version(package, reference)
    manifest_file = service.find_version_file(version, MANIFEST_FILE) if version else None
    if manifest_file is None:
        return oci_error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {image} has no {reference}",
                         {"reference": str(reference)})
    record_if_download(version)
    response = send_package_file(manifest_file)
    response.headers["Docker-Content-Digest"] = version.version
    return response


def _referrers_tag_answer(package, tag: str) -> Response | None:
    """A tag of the referrers tag schema (`sha256-HEX`), read by clients that do not use the referrers
    API, answers the referrers the registry knows now, as that API would: kept in step with every push
    and delete, whoever made them, and whatever a client last pushed to the tag. None when nothing refers
    to that digest (then a tag of that name, if any, answers as it is)."""
    versions = service.referring_versions(package, metadata.referrers_tag_prefix(tag), prefix=True)
    if not versions:
        return None
    body = json.dumps(metadata.referrers_index(
        [metadata.referrer_from_summary(v.version, v.metadata) for v in versions])).encode()
    response = Response(body, mimetype=metadata.OCI_INDEX)
    response.headers["Docker-Content-Digest"] = metadata.sha256_digest(body)
    return response


def put_manifest(image: ImageName, argument: str):
    repository = _repository(image, Action.WRITE)
    reference = metadata.parse_reference(argument)
    body = limited_body(MANIFEST_LIMIT, "the manifest").read()
    # A manifest pushed by digest is known by that digest's algorithm; by tag, by the canonical sha256.
    manifest = metadata.parse_manifest(body, request.content_type, metadata.digest_algorithm(reference.digest)
                                       if reference.digest else metadata.CANONICAL_ALGORITHM)
    if reference.digest and reference.digest != manifest.digest:
        raise metadata.DigestInvalid(f"the manifest's digest is {manifest.digest}, not {reference.digest}",
                                     detail={"digest": reference.digest})
    service.check_package_repository(g.actor, repository, FORMAT, image.image)
    package = service.repository_package(repository, FORMAT, image.image)
    uploads = _manifest_files(repository, image, package, manifest, body)
    _check_source_label(repository, image, manifest)
    service.publish_manifest(g.actor, repository, fmt=FORMAT, name=image.image, draft=_draft(manifest),
                             uploads=uploads, tag=reference.tag,
                             subjects=[manifest.subject.digest] if manifest.subject else ())
    response = Response(status=201)
    response.headers["Location"] = _url(image, "manifests", manifest.digest)
    response.headers["Docker-Content-Digest"] = manifest.digest
    if manifest.subject:
        response.headers["OCI-Subject"] = manifest.subject.digest
    return response


def _manifest_files(repository: Repository, image: ImageName, package, manifest: Manifest,
                    body: bytes) -> list[FileUpload]:
    """The version's files: the manifest, and each blob it references, which must be in the image
    already; an index's child manifests must be versions of it."""
    files = [FileUpload(name=MANIFEST_FILE, chunks=[body], content_type=manifest.media_type,
                        expected_digests={metadata.digest_algorithm(manifest.digest):
                                          metadata.digest_hex(manifest.digest)})]
    needed = {d.digest: d for d in manifest.blobs}
    for descriptor in {d.digest: d for d in manifest.foreign_layers if d.digest not in needed}.values():
        # Hosted elsewhere: kept with the manifest only when the client pushed it all the same.
        blob = service.find_staged_blob(repository, FORMAT, image.image, *_hex_and_algorithm(descriptor.digest))
        if blob is not None and blob.size == descriptor.size:
            files.append(FileUpload(name=descriptor.digest, chunks=(), content_type=descriptor.media_type,
                                    stored_sha256=blob.sha256))
    for descriptor in needed.values():
        blob = service.find_staged_blob(repository, FORMAT, image.image, *_hex_and_algorithm(descriptor.digest))
        if blob is None:
            raise _ManifestReferenceUnknown(
                "MANIFEST_BLOB_UNKNOWN", f"blob {descriptor.digest} of the manifest is not in {image}: push "
                f"the blobs before the manifest", descriptor.digest)
        if blob.size != descriptor.size:
            raise _ManifestReferenceUnknown(
                "SIZE_INVALID", f"blob {descriptor.digest} is {blob.size} bytes, but the manifest says "
                f"{descriptor.size}", descriptor.digest)
        files.append(FileUpload(name=descriptor.digest, chunks=(), content_type=descriptor.media_type,
                                stored_sha256=blob.sha256))
    for child in manifest.manifests:
        if package is None or service.find_version(package, child.digest) is None:
            raise _ManifestReferenceUnknown(
                "MANIFEST_UNKNOWN", f"manifest {child.digest} of the index is not in {image}: push the "
                f"manifests before the index", child.digest)
    return files


SOURCE_LABEL = "org.opencontainers.image.source"
# Image configs are small JSON documents; a larger one is not read for its label.
CONFIG_READ_LIMIT = 1024 * 1024


def _check_source_label(repository: Repository, image: ImageName, manifest: Manifest) -> None:
    """The image may name its repository by the `org.opencontainers.image.source` label of its config (or
    the manifest's annotation), as DESIGN.md allows: when that names another repository of the owner that
    the pusher can see, the two disagree and the push is refused, saying which name would link it there.
    A label naming a repository elsewhere (an upstream project, a mirror's source) links nothing here."""
    source = manifest.annotations.get(SOURCE_LABEL) or _config_label(repository, image, manifest, SOURCE_LABEL)
    parsed = parse_repository_reference(source) if source else None
    if parsed is None or parsed[0].lower() != image.owner.lower() or parsed[1].lower() == image.repository.lower():
        return
    named = find_repository(image.owner, parsed[1])
    if named is None or not service.is_allowed(g.actor, named, Action.READ):
        return
    full_name = f"{named.owner.login}/{named.name}"
    raise LinkRefused(
        f"the image's label {SOURCE_LABEL} ({source}) names the repository {full_name}, but it is pushed as "
        f"{image}, which belongs to {image.owner}/{image.repository}: push it as "
        f"{request.host}/{full_name.lower()}/{image.image}, or change the label")


def _config_label(repository: Repository, image: ImageName, manifest: Manifest, label: str) -> str | None:
    if manifest.config is None or manifest.config.size > CONFIG_READ_LIMIT:
        return None
    blob = service.find_staged_blob(repository, FORMAT, image.image, *_hex_and_algorithm(manifest.config.digest))
    if blob is None:
        return None
    with service.open_blob(blob) as stream:
        try:
            config = json.loads(stream.read(CONFIG_READ_LIMIT))
        except (ValueError, RecursionError):
            return None  # not an image config (an artifact's): nothing to read
    labels = (config.get("config") or {}).get("Labels") if isinstance(config, dict) else None
    value = labels.get(label) if isinstance(labels, dict) else None
    return value if isinstance(value, str) else None


class _ManifestReferenceUnknown(Exception):
    def __init__(self, code: str, message: str, digest: str):
        super().__init__(message)
        self.code = code
        self.digest = digest


@blueprint.errorhandler(_ManifestReferenceUnknown)
def _manifest_reference_unknown(error: _ManifestReferenceUnknown):
    return oci_error(400, error.code, str(error), {"digest": error.digest})


def _draft(manifest: Manifest) -> VersionDraft:
    annotations = manifest.annotations
    return VersionDraft(version=manifest.digest, metadata=metadata.manifest_summary(manifest),
                        summary=annotations.get("org.opencontainers.image.description", ""),
                        license=annotations.get("org.opencontainers.image.licenses"))


def delete_manifest(image: ImageName, argument: str):
    """DELETE by digest deletes the manifest (restorable for the retention period); by tag, the tag."""
    repository = _repository(image, Action.DELETE)
    reference = metadata.parse_reference(argument)
    package = _image_package(repository, image)
    if reference.tag:
        service.delete_tag(g.actor, package, reference.tag)
        return Response(status=202)
    version = service.find_version(package, reference.digest)
    if version is None:
        raise VersionNotFound(f"manifest unknown: {image} has no {reference.digest}")
    service.delete_version(g.actor, version)
    return Response(status=202)


# ---- listings --------------------------------------------------------------------------------------


def _page_size() -> int | None:
    """The `n` of a listing: None when the client asks for no limit; PaginationInvalid when not a number."""
    count = request.args.get("n")
    if count is None:
        return None
    if not count.isdigit():
        raise _PaginationInvalid(f"n must be a number, not {count!r}")
    return int(count)


def _listing(document: dict, url: str, size: int | None, last: str | None) -> Response:
    """A listing's answer, with a Link to the next page after `last` when there is one."""
    response = Response(json.dumps(document), mimetype="application/json")
    if size and last is not None:
        response.headers["Link"] = f'<{url}?n={size}&last={last}>; rel="next"'
    return response


def list_tags(image: ImageName, _argument: str):
    repository = _repository(image, Action.READ)
    package = _image_package(repository, image)
    size = _page_size()
    page = service.tag_page(package, after=request.args.get("last") or None, limit=size, referrers_tags=True)
    return _listing({"name": str(image), "tags": page.names}, _url(image, "tags", "list"), size,
                    page.names[-1] if page.more and page.names else None)


# The most names one catalog page holds: a client that asks for more (or for no limit) gets this many and a
# Link to the rest, as distribution's registry answers.
CATALOG_PAGE_MAX = 1000


def catalog():
    """The images the caller may pull, in byte order, a page at a time (paged and filtered in SQL)."""
    g.scope = f"{CATALOG_SCOPE}:*"
    if g.grant is not None and not g.grant.allows(CATALOG_SCOPE, "*"):
        raise _InsufficientScope()
    asked = _page_size()
    size = CATALOG_PAGE_MAX if asked is None else min(asked, CATALOG_PAGE_MAX)
    page = service.package_path_page(g.actor, FORMAT, after=request.args.get("last") or None, limit=size)
    return _listing({"repositories": page.names}, "/v2/_catalog", size,
                    page.names[-1] if page.more and page.names else None)


def list_referrers(image: ImageName, argument: str):
    """OCI 1.1 referrers: the manifests whose subject is the digest, optionally of one artifactType."""
    repository = _repository(image, Action.READ)
    digest = metadata.parse_digest(argument)
    # The spec forbids a 404 here: an image of the repository nothing was pushed to refers to nothing.
    package = service.repository_package(repository, FORMAT, image.image)
    descriptors = [metadata.referrer_from_summary(v.version, v.metadata)
                   for v in (service.referring_versions(package, digest) if package else [])]
    artifact_type = request.args.get("artifactType")
    if artifact_type:
        descriptors = [d for d in descriptors if d.get("artifactType") == artifact_type]
    response = Response(json.dumps(metadata.referrers_index(descriptors)), mimetype=metadata.OCI_INDEX)
    if artifact_type:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response


HANDLERS = {
    ("blob", "GET"): get_blob,
    ("blob", "DELETE"): delete_blob,
    ("uploads", "POST"): start_upload,
    ("upload", "GET"): upload_status,
    ("upload", "PATCH"): upload_chunk,
    ("upload", "PUT"): finish_upload,
    ("upload", "DELETE"): cancel_upload,
    ("manifest", "GET"): get_manifest,
    ("manifest", "PUT"): put_manifest,
    ("manifest", "DELETE"): delete_manifest,
    ("tags", "GET"): list_tags,
    ("referrers", "GET"): list_referrers,
}
