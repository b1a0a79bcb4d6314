"""The NuGet v3 protocol as NuGet.exe, dotnet and Visual Studio use it, one feed per owner at
`OWNER/index.json`: the service index, push and delete/relist (PackagePublish/2.0.0), symbol packages
(SymbolPackagePublish/4.9.0), the flat container (PackageBaseAddress/3.0.0), registrations
(RegistrationsBaseUrl), search and autocomplete, answered from the packages service."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from appliance import packages as service
from appliance.accounts.service import find_account
from appliance.auth.credentials import BadCredentials, actor_from_request
from appliance.auth.permissions import Action, Outcome
from appliance.formats.document_cache import DocumentCache, keyed_tag
from appliance.formats.hints import leave_the_token_out
from appliance.formats.nuget import metadata
from appliance.formats.nuget.metadata import InvalidPackage
from appliance.formats.routing import (
    package_page_url,
    registry_unavailable,
    registry_url,
    request_port_suffix,
    unrouted_error,
)
from appliance.packages import (
    AccessDenied,
    FileUpload,
    ForeignRepository,
    PackageError,
    PackageNotFound,
    RepositoryNotLinked,
    SearchHits,
    ShownVersions,
    TokenInUpload,
    VersionDraft,
    VersionNotFound,
    VersionView,
)
from appliance.settings import current_settings
from appliance.storage.blobs import iter_chunks
from appliance.web.files import record_if_download, send_package_file
from appliance.web.reason_phrase import reason_phrase
from appliance.web.uploads import limited_body, spool

FORMAT = "nuget"
# What multipart framing adds to the package it carries.
MULTIPART_ALLOWANCE = 64 * 1024
# Form fields (nuget sends none) are held in memory up to this; werkzeug applies it to its read buffer
# too, so it must stay well above the parser's 64 KiB chunks.
FORM_MEMORY_LIMIT = 1024 * 1024
# Registration pages hold this many versions; up to INLINE_VERSIONS the index carries them inline.
PAGE_SIZE = 64
INLINE_VERSIONS = 128
MAX_TAKE = 1000
# How nuget.org marks an unlisted version in registrations, which older clients read instead of `listed`.
UNLISTED_PUBLISHED = "1900-01-01T00:00:00+00:00"

blueprint = Blueprint("nuget", __name__)
documents = DocumentCache()


# ---- answers ---------------------------------------------------------------------------------------


def nuget_error(status: int, message: str) -> Response:
    """NuGet prints "Response status code does not indicate success: 409 (REASON)." and never the body,
    so the message goes in the reason phrase; the body carries it too for curl and scripts."""
    response = Response(json.dumps({"message": message}), mimetype="application/json")
    response.status = f"{status} {reason_phrase(message)}"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="nuget", charset="UTF-8"'
    return response


def json_response(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status=status, mimetype="application/json")


CREDENTIALS_HINT = ("push with -ApiKey TOKEN, and for restore put the token as ClearTextPassword of this source "
                    "in NuGet.Config (packageSourceCredentials)")
SCOPES_NEEDED = {"PUT": "write:packages", "DELETE": "delete:packages, read:packages and repo",
                 "POST": "delete:packages, read:packages and repo"}


def _how_to_name_repository(owner: str) -> str:
    return (f'<repository type="git" url="{request.scheme}://{current_settings()["hostname"]}'
            f'{request_port_suffix()}/{owner}/REPO" /> in the .nuspec (nuget pack drops it without type)')


HINTS = {
    RepositoryNotLinked: lambda error: _how_to_name_repository(error.owner),
    ForeignRepository: lambda error: (f'name a repository of {error.owner} (<repository type="git" '
                                      f'url=".../{error.owner}/REPO" />) or push to {error.named_owner}\'s source'),
    TokenInUpload: lambda error: leave_the_token_out(error, "keep NuGet.Config away from what is packed"),
}


@blueprint.errorhandler(PackageError)
def _package_error(error: PackageError):
    if isinstance(error, AccessDenied):
        decision = error.decision
        if decision.outcome is Outcome.UNAUTHENTICATED:
            needs = SCOPES_NEEDED.get(request.method, "read:packages")
            return nuget_error(401, f"authentication required: {CREDENTIALS_HINT}; a token with {needs}")
        if decision.outcome is Outcome.NOT_FOUND:
            return nuget_error(404, "Not Found")
        return nuget_error(403, decision.message)
    return nuget_error(service.status_for(error), service.explain(error, HINTS))


@blueprint.errorhandler(InvalidPackage)
def _invalid(error: InvalidPackage):
    return nuget_error(400, str(error))


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge):
    return nuget_error(413, "the push request has too many or too large form fields: push with nuget push")


@blueprint.errorhandler(BadCredentials)
def _bad_credentials(error: BadCredentials):
    return nuget_error(401, f"{error}: {CREDENTIALS_HINT}")


@blueprint.before_app_request
def _unrouted():
    """A URL under this registry that matches no rule: Flask hands it to no blueprint, so answer it
    here, in the shape nuget prints."""
    error = unrouted_error(FORMAT)
    if error is None:
        return None
    problem = registry_unavailable(FORMAT)
    if problem:
        return nuget_error(404, problem)
    if isinstance(error, MethodNotAllowed):
        return nuget_error(405, f"{request.method} is not supported here")
    return nuget_error(404, f"Not Found: a NuGet source is at {registry_url(FORMAT)}OWNER/index.json")


@blueprint.before_request
def _gate():
    problem = registry_unavailable(FORMAT)
    if problem:
        return nuget_error(404, problem)
    g.actor = actor_from_request(request)
    return None


# ---- urls ------------------------------------------------------------------------------------------


def _feed(owner: str) -> str:
    # Registrations and searches hold hundreds of URLs: the feed's is worked out once a request (`g` can
    # outlive one, with the app context a caller pushed around several).
    feeds = request.environ.setdefault("appliance.nuget_feeds", {})
    if owner not in feeds:
        feeds[owner] = f"{registry_url(FORMAT)}{owner}/"
    return feeds[owner]


def _registration_base(owner: str) -> str:
    return f"{_feed(owner)}v3/registration/"


def _registration_index_url(owner: str, package_id: str) -> str:
    return f"{_registration_base(owner)}{package_id.lower()}/index.json"


def _leaf_url(owner: str, package_id: str, version: str) -> str:
    return f"{_registration_base(owner)}{package_id.lower()}/{version.lower()}.json"


def _content_url(owner: str, package_id: str, version: str) -> str:
    return (f"{_feed(owner)}v3/flatcontainer/{package_id.lower()}/{version.lower()}/"
            f"{metadata.nupkg_filename(package_id, version)}")


# ---- helpers ---------------------------------------------------------------------------------------


def _readable(owner: str, package_id: str, action: Action = Action.READ):
    """The package, if the actor may do `action` with it (AccessDenied otherwise, whether or not it
    exists, as the rules say)."""
    metadata.check_id(package_id)
    return service.readable_package(g.actor, owner, FORMAT, package_id, action)


def _require_feed_reader(owner: str, *, searching: bool = False) -> None:
    """Feed-wide documents ask anonymous callers for credentials when nothing is public to them, so
    that nuget sends the ones in its NuGet.Config. Searches always do: nuget sends credentials only
    when challenged, and an anonymous search would quietly leave out every package that is not public."""
    try:
        service.check_feed_reader(g.actor, owner, challenge_anonymous=searching)
    except PackageNotFound as missing:
        raise PackageNotFound(f"{missing}: the source is {registry_url(FORMAT)}OWNER/index.json") from None


def _iso(moment) -> str:
    return moment.replace(microsecond=0).isoformat() + "+00:00"


def _cached_json(key: tuple, build) -> Response:
    """A document built by `build()` once per worker for `key`, with an ETag so clients revalidate;
    gzip-compressed (and kept so) when the client accepts it, as nuget.org serves registrations."""
    gzipped = request.accept_encodings["gzip"] > 0
    key = (*key, "gzip") if gzipped else key

    def encoded() -> bytes:
        body = json.dumps(build(), separators=(",", ":")).encode()
        # mtime 0: the same document, the same bytes on every node.
        return gzip.compress(body, mtime=0) if gzipped else body

    body = documents.get_or_build(key, encoded)
    response = Response(body, mimetype="application/json")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(keyed_tag(key))
    response.headers["Vary"] = "Authorization, X-NuGet-ApiKey, Accept-Encoding"
    return response.make_conditional(request.environ)


# ---- the service index -----------------------------------------------------------------------------


RESOURCES = (
    ("api/v2/package", ("PackagePublish/2.0.0",), "push, delete (unlist) and relist"),
    ("api/v2/symbolpackage", ("SymbolPackagePublish/4.9.0",), "push of symbol packages (.snupkg)"),
    ("v3/flatcontainer/", ("PackageBaseAddress/3.0.0",), "package contents"),
    ("v3/registration/", ("RegistrationsBaseUrl", "RegistrationsBaseUrl/3.0.0-rc", "RegistrationsBaseUrl/3.0.0-beta",
                          "RegistrationsBaseUrl/3.4.0", "RegistrationsBaseUrl/3.6.0"),
     "package metadata, SemVer 2 included"),
    ("query", ("SearchQueryService", "SearchQueryService/3.0.0-rc", "SearchQueryService/3.0.0-beta",
               "SearchQueryService/3.5.0"), "search"),
    ("api/v2", ("LegacyGallery", "LegacyGallery/2.0.0"), "the v2 feed: Search() for nuget list"),
    ("autocomplete", ("SearchAutocompleteService", "SearchAutocompleteService/3.0.0-rc",
                      "SearchAutocompleteService/3.0.0-beta", "SearchAutocompleteService/3.5.0"),
     "id and version autocomplete"),
)


@blueprint.get("/<owner>/index.json")
def service_index(owner: str):
    _require_feed_reader(owner)
    feed = _feed(owner)
    account = find_account(owner)
    details = package_page_url(account.login, account.is_organization, FORMAT, "{id}")
    return json_response({
        "version": "3.0.0",
        "resources": [*({"@id": f"{feed}{path}", "@type": kind, "comment": comment}
                        for path, kinds, comment in RESOURCES for kind in kinds),
                      {"@id": details, "@type": "PackageDetailsUriTemplate/5.1.0",
                       "comment": "the package's page on the appliance"}],
    })


# ---- push ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _pushed_package() -> Iterator[BinaryIO]:
    """The package file of a push (multipart/form-data, as nuget push sends it), held in a spool
    (`web.uploads.spool`) by werkzeug's form parser: never whole in memory past SPOOL_BYTES."""
    # Before a byte is read: an anonymous push is refused whatever it carries.
    service.check_signed_in(g.actor)
    if request.mimetype != "multipart/form-data":
        raise InvalidPackage("a push is a multipart/form-data PUT with the package as its file: use nuget push")
    limit = current_settings()["max_upload_bytes"]
    body = limited_body(limit + MULTIPART_ALLOWANCE, "the package")
    parser = FormDataParser(stream_factory=spool, max_form_memory_size=FORM_MEMORY_LIMIT, max_form_parts=16)
    _, _, files = parser.parse(body, request.mimetype, request.content_length, request.mimetype_params)
    try:
        upload = next(iter(files.values()), None)
        if upload is None:
            raise InvalidPackage("the push carries no package file: use nuget push PACKAGE.nupkg")
        yield upload.stream
    finally:
        for stored in files.values():
            stored.close()


@blueprint.put("/<owner>/api/v2/package")
@blueprint.put("/<owner>/api/v2/package/")
def push(owner: str):
    with _pushed_package() as stream:
        nuspec = metadata.read_nupkg(stream)
        if nuspec.is_symbols_package:
            raise InvalidPackage("this is a symbol package (.snupkg): push it with its .nupkg, or to the "
                                 "SymbolPackagePublish resource of this source")
        version = nuspec.version.normalized
        stream.seek(0)
        fields = {**nuspec.fields(), "listed": True}
        service.publish_version(
            g.actor,
            owner_login=owner,
            fmt=FORMAT,
            name=nuspec.id,
            draft=VersionDraft(
                version=version,
                metadata=fields,
                summary=(nuspec.summary or nuspec.description)[:1000],
                license=(nuspec.license_expression or nuspec.license_url)[:255] or None,
            ),
            uploads=[
                FileUpload(name=metadata.nupkg_filename(nuspec.id, version), chunks=iter_chunks(stream),
                           content_type="application/octet-stream", algorithms=("sha512",)),
                FileUpload(name=metadata.nuspec_filename(nuspec.id), chunks=iter([nuspec.raw]),
                           content_type="application/xml"),
            ],
            repository_name=service.owners_repository(owner, nuspec.repository, "the .nuspec"),
            default_repository_name=nuspec.id,
        )
    return Response(status=201)


@blueprint.put("/<owner>/api/v2/symbolpackage")
@blueprint.put("/<owner>/api/v2/symbolpackage/")
def push_symbols(owner: str):
    with _pushed_package() as stream:
        nuspec = metadata.read_nupkg(stream)
        if not nuspec.is_symbols_package:
            raise InvalidPackage("this is not a symbol package: a .snupkg declares the package type "
                                 "SymbolsPackage (nuget pack -Symbols -SymbolPackageFormat snupkg)")
        package = _readable(owner, nuspec.id, Action.WRITE)
        version = nuspec.version.normalized
        row = service.find_version(package, version)
        if row is None:
            raise VersionNotFound(f"{nuspec.id} {version} is not in this source: push the package before its "
                                  f"symbols")
        stream.seek(0)
        service.add_version_file(
            g.actor, repository=package.repository, fmt=FORMAT, name=package.name, version=row.version,
            upload=FileUpload(name=metadata.snupkg_filename(nuspec.id, version), chunks=iter_chunks(stream),
                              content_type="application/octet-stream", algorithms=("sha512",)))
    return Response(status=201)


# ---- delete (unlist) and relist --------------------------------------------------------------------


@blueprint.delete("/<owner>/api/v2/package/<package_id>/<version>")
def delete(owner: str, package_id: str, version: str):
    """nuget delete: a listed version is unlisted (still restorable by its exact version, gone from
    search); deleting an unlisted version deletes it (restorable for retention.deleted_days)."""
    package = _readable(owner, package_id, Action.DELETE)
    row = service.find_version(package, metadata.normalize_version(version))
    if row is None:
        raise VersionNotFound(f"{package.name} has no version {version}")
    service.unlist_or_delete_version(g.actor, row)
    return Response(status=204)


@blueprint.post("/<owner>/api/v2/package/<package_id>/<version>")
def relist(owner: str, package_id: str, version: str):
    """Relist an unlisted version, restoring it first if it was deleted."""
    package = _readable(owner, package_id, Action.DELETE)
    row = service.find_version(package, metadata.normalize_version(version), include_deleted=True)
    if row is None:
        raise VersionNotFound(f"{package.name} has no version {version}")
    service.relist_version(g.actor, row)
    return Response(status=200)


# ---- the flat container ----------------------------------------------------------------------------


@blueprint.get("/<owner>/v3/flatcontainer/<package_id>/index.json")
def flat_versions(owner: str, package_id: str):
    package = _readable(owner, package_id)
    versions = metadata.sorted_versions(service.version_strings(package))
    return _cached_json((package.id, package.updated_at.isoformat(), "flat"),
                        lambda: {"versions": [v.lower() for v in versions]})


@blueprint.get("/<owner>/v3/flatcontainer/<package_id>/<version>/<filename>")
def flat_file(owner: str, package_id: str, version: str, filename: str):
    package = _readable(owner, package_id)
    row = service.find_version(package, metadata.normalize_version(version))
    if row is None:
        return nuget_error(404, f"{package.name} has no version {version}")
    names = {metadata.nupkg_filename(package.name, row.version), metadata.nuspec_filename(package.name),
             metadata.snupkg_filename(package.name, row.version)}
    package_file = service.find_version_file(row, filename) if filename.lower() in names else None
    if package_file is None:
        return nuget_error(404, f"{package.name} {row.version} has no file {filename}")
    if filename.lower().endswith(".nupkg"):
        record_if_download(row)
    return send_package_file(package_file)


# ---- registrations ---------------------------------------------------------------------------------


def _catalog_entry(owner: str, package, version: VersionView) -> dict:
    registration = _registration_index_url(owner, package.name)
    fields, listed = version.metadata, version.listed
    return {
        "@id": f"{_leaf_url(owner, package.name, version.version)}#catalogEntry",
        "@type": "PackageDetails",
        "id": package.name,
        "version": version.version,
        "authors": fields.get("authors", ""),
        "description": fields.get("description", ""),
        "iconUrl": fields.get("iconUrl", ""),
        "language": fields.get("language", ""),
        "licenseUrl": fields.get("licenseUrl", ""),
        "licenseExpression": fields.get("licenseExpression", ""),
        "listed": listed,
        "minClientVersion": fields.get("minClientVersion", ""),
        "packageContent": _content_url(owner, package.name, version.version),
        "projectUrl": fields.get("projectUrl", ""),
        "published": _iso(version.created_at) if listed else UNLISTED_PUBLISHED,
        "requireLicenseAcceptance": fields.get("requireLicenseAcceptance", False),
        "summary": fields.get("summary", ""),
        "tags": fields.get("tags", []),
        "title": fields.get("title", ""),
        "dependencyGroups": [
            {
                "@id": f"{_leaf_url(owner, package.name, version.version)}#dependencygroup/{i}",
                "@type": "PackageDependencyGroup",
                **({"targetFramework": group["targetFramework"]} if group["targetFramework"] else {}),
                "dependencies": [
                    {"@id": f"{_leaf_url(owner, package.name, version.version)}#dependency/{i}/{j}",
                     "@type": "PackageDependency", "id": dependency["id"], "range": dependency["range"],
                     "registration": _registration_index_url(owner, dependency["id"])}
                    for j, dependency in enumerate(group["dependencies"])],
            }
            for i, group in enumerate(fields.get("dependencyGroups", []))],
        "registration": registration,
    }


def _leaves(owner: str, package) -> list[dict]:
    """Every live version's registration leaf, in NuGet's version order."""
    versions = _by_version(service.live_version_views([package])[package.id])
    registration = _registration_index_url(owner, package.name)
    return [{
        "@id": _leaf_url(owner, package.name, v.version),
        "@type": "Package",
        "catalogEntry": _catalog_entry(owner, package, v),
        "packageContent": _content_url(owner, package.name, v.version),
        "registration": registration,
    } for v in versions]


def _pages(owner: str, package, leaves: list[dict]) -> list[dict]:
    registration = _registration_index_url(owner, package.name)
    inline = len(leaves) <= INLINE_VERSIONS
    pages = []
    for start in range(0, len(leaves), PAGE_SIZE):
        items = leaves[start:start + PAGE_SIZE]
        lower, upper = items[0]["catalogEntry"]["version"], items[-1]["catalogEntry"]["version"]
        page = {
            "@id": (f"{registration}#page/{lower.lower()}/{upper.lower()}" if inline else
                    f"{_registration_base(owner)}{package.name.lower()}/page/{lower.lower()}/{upper.lower()}.json"),
            "@type": "catalog:CatalogPage",
            "count": len(items),
            "lower": lower,
            "upper": upper,
            "parent": registration,
        }
        if inline:
            page["items"] = items
        pages.append((page, items))
    return pages


def _registration_index(owner: str, package) -> dict:
    pages = _pages(owner, package, _leaves(owner, package))
    return {
        "@id": _registration_index_url(owner, package.name),
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": len(pages),
        "items": [page for page, _ in pages],
    }


def _registration_key(owner: str, package, *parts) -> tuple:
    return (package.id, package.updated_at.isoformat(), _feed(owner), *parts)


@blueprint.get("/<owner>/v3/registration/<package_id>/index.json")
def registration_index(owner: str, package_id: str):
    package = _readable(owner, package_id)
    return _cached_json(_registration_key(owner, package, "index"), lambda: _registration_index(owner, package))


@blueprint.get("/<owner>/v3/registration/<package_id>/page/<lower>/<upper>.json")
def registration_page(owner: str, package_id: str, lower: str, upper: str):
    package = _readable(owner, package_id)

    def build():
        for page, items in _pages(owner, package, _leaves(owner, package)):
            if (page["lower"].lower(), page["upper"].lower()) == (lower.lower(), upper.lower()):
                return {**page, "@id": f"{_registration_base(owner)}{package.name.lower()}/page/{lower}/{upper}.json",
                        "items": items}
        raise PackageNotFound(f"{package.name} has no registration page {lower}/{upper}")

    return _cached_json(_registration_key(owner, package, "page", lower.lower(), upper.lower()), build)


@blueprint.get("/<owner>/v3/registration/<package_id>/<version>.json")
def registration_leaf(owner: str, package_id: str, version: str):
    package = _readable(owner, package_id)
    found = service.live_version_views([package], version=metadata.normalize_version(version))[package.id]
    if not found:
        return nuget_error(404, f"{package.name} has no version {version}")
    row = found[0]
    entry = _catalog_entry(owner, package, row)
    return json_response({
        "@id": _leaf_url(owner, package.name, row.version),
        "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
        "catalogEntry": entry,
        "listed": entry["listed"],
        "packageContent": entry["packageContent"],
        "published": entry["published"],
        "registration": _registration_index_url(owner, package.name),
    })


# ---- search and autocomplete -----------------------------------------------------------------------


def _flag(name: str) -> bool:
    return request.args.get(name, "false").strip().lower() == "true"


def _semver2_allowed() -> bool:
    level = request.args.get("semVerLevel", "").strip()
    try:
        return bool(level) and metadata.parse_version(level).major >= 2
    except InvalidPackage:
        return False


def _paging() -> tuple[int, int]:
    skip = max(0, request.args.get("skip", 0, type=int) or 0)
    take = request.args.get("take", 20, type=int)
    take = 20 if take is None else max(0, min(take, MAX_TAKE))
    return skip, take


def _shown(prerelease: bool, semver2: bool) -> ShownVersions:
    """The versions search shows: listed, and prerelease or SemVer 2 only when asked."""
    hidden = tuple(key for key, asked in (("isPrerelease", prerelease), ("isSemVer2", semver2)) if not asked)
    return ShownVersions(hidden_if_true=hidden, hidden_if_false=("listed",))


def _version_order(version: str) -> tuple:
    return metadata.parse_version(version).sort_key()


def _by_version(versions: list[VersionView]) -> list[VersionView]:
    return sorted(versions, key=lambda v: _version_order(v.version))


MAX_QUERY = 1000


def _query(text: str) -> dict:
    """What the service searches for a query: its words, or the one id of `packageid:ID`."""
    if len(text) > MAX_QUERY:
        raise InvalidPackage(f"the search query is longer than {MAX_QUERY} characters")
    lowered = text.lower()
    exact = lowered.split(":", 1)[1].strip() if lowered.startswith("packageid:") else None
    return {"text": exact or text, "name": exact}


def _hits(owner: str, text: str, shown: ShownVersions, *, skip: int, take: int,
          order: str = "rank") -> SearchHits:
    """A page of the owner's packages the actor may read that match `text` and have a version `shown`
    shows, ranked as nuget.org ranks (the service: exact id first, then the id, title, tags, description,
    authors), with how many match in all. Filtered, counted and paged in SQL."""
    return service.search_packages(g.actor, FORMAT, **_query(text), owner=owner, shown=shown, order=order,
                                   limit=take, offset=skip)


def _search(owner: str, text: str, shown: ShownVersions, *, skip: int, take: int,
            order: str = "rank") -> tuple[list[tuple[Any, list[VersionView]]], int]:
    """The page of `_hits` as (package, its shown versions in version order), with how many match in
    all: only the page's versions are read."""
    hits = _hits(owner, text, shown, skip=skip, take=take, order=order)
    versions = service.live_version_views(hits.packages, shown=shown)
    return [(package, _by_version(versions[package.id])) for package in hits.packages], hits.total


@blueprint.get("/<owner>/query")
def search(owner: str):
    _require_feed_reader(owner, searching=True)
    skip, take = _paging()
    matches, total = _search(owner, request.args.get("q", "").strip(), _shown(_flag("prerelease"), _semver2_allowed()),
                             skip=skip, take=take)
    data = []
    for package, versions in matches:
        latest = versions[-1].metadata
        data.append({
            "@id": _registration_index_url(owner, package.name),
            "@type": "Package",
            "registration": _registration_index_url(owner, package.name),
            "id": package.name,
            "version": versions[-1].version,
            "description": latest.get("description", ""),
            "summary": latest.get("summary", ""),
            "title": latest.get("title", "") or package.name,
            "iconUrl": latest.get("iconUrl", ""),
            "licenseUrl": latest.get("licenseUrl", ""),
            "projectUrl": latest.get("projectUrl", ""),
            "tags": latest.get("tags", []),
            "authors": [a.strip() for a in latest.get("authors", "").split(",") if a.strip()],
            "owners": [package.repository.owner.login],
            "totalDownloads": sum(v.downloads_total for v in versions),
            "verified": False,
            "packageTypes": [{"name": t} for t in latest.get("packageTypes") or ["Dependency"]],
            "versions": [{"version": v.version, "downloads": v.downloads_total,
                          "@id": _leaf_url(owner, package.name, v.version)} for v in versions],
        })
    return json_response({"totalHits": total, "data": data})


@blueprint.get("/<owner>/autocomplete")
def autocomplete(owner: str):
    _require_feed_reader(owner, searching=True)
    shown = _shown(_flag("prerelease"), _semver2_allowed())
    package_id = request.args.get("id", "").strip()
    if package_id:
        try:
            package = _readable(owner, package_id)
        except (AccessDenied, InvalidPackage):
            package = None  # autocomplete knows nothing of what the caller may not read
        versions = metadata.sorted_versions(service.version_strings(package, shown=shown)) if package else []
        return json_response({"totalHits": len(versions), "data": versions})
    skip, take = _paging()
    hits = _hits(owner, request.args.get("q", "").strip(), shown, skip=skip, take=take)
    return json_response({"totalHits": hits.total, "data": [package.name for package in hits.packages]})


# ---- the legacy v2 feed (nuget list) ---------------------------------------------------------------


@blueprint.get("/<owner>/api/v2")
@blueprint.get("/<owner>/api/v2/")
def legacy_service_document(owner: str):
    """NuGet reads only where this answers from (its base address); Search() is all it asks of it,
    and a missing $metadata makes it assume Search() is there."""
    _require_feed_reader(owner)
    return Response(metadata.legacy_feed(f"{_feed(owner)}api/v2", []), mimetype="application/atom+xml")


@blueprint.get("/<owner>/api/v2/Search()")
def legacy_search(owner: str):
    """Search() as nuget list asks it: searchTerm, includePrerelease, $skip, $top, and a $filter of
    IsLatestVersion or IsAbsoluteLatestVersion (the latest version of each package) or none (all)."""
    _require_feed_reader(owner, searching=True)
    text = metadata.parse_odata_string(request.args.get("searchTerm"))
    prerelease = metadata.parse_odata_string(request.args.get("includePrerelease")).lower() == "true"
    latest_only = request.args.get("$filter", "").strip() in ("IsLatestVersion", "IsAbsoluteLatestVersion")
    skip = max(0, request.args.get("$skip", 0, type=int) or 0)
    top = max(0, min(request.args.get("$top", 30, type=int) or 0, MAX_TAKE))
    shown = _shown(prerelease, _semver2_allowed())
    if latest_only:
        # One entry a package: the page is a page of packages, in SQL.
        matches, _ = _search(owner, text, shown, skip=skip, take=top, order="name")
        page = [(package, versions[-1]) for package, versions in matches]
    else:
        # An entry a version, the packages by id and each one's versions in NuGet's order: the service
        # pages by the packages' counts of versions and reads the versions of the page's packages alone.
        versions = service.search_versions(g.actor, FORMAT, **_query(text), owner=owner, shown=shown,
                                           version_order=_version_order, offset=skip, limit=top)
        page = [(version.package, version) for version in versions]
    entries = []
    for package, version in page:
        fields = version.metadata
        entries.append(metadata.LegacyEntry(
            id=package.name, version=version.version, content_url=_content_url(owner, package.name, version.version),
            title=fields.get("title", ""), summary=fields.get("summary", ""),
            description=fields.get("description", ""), authors=fields.get("authors", ""),
            tags=" ".join(fields.get("tags", [])), project_url=fields.get("projectUrl", ""),
            downloads=version.downloads_total, published=_iso(version.created_at),
            is_prerelease=version.prerelease))
    return Response(metadata.legacy_feed(f"{_feed(owner)}api/v2/Search", entries), mimetype="application/atom+xml")
