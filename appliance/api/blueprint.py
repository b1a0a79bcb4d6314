"""The REST blueprint: who is calling (tokens as GitHub takes them), GitHub's headers and error shape,
and the endpoints clients call first (/user, /users/USER, /orgs/ORG, /repos/OWNER/REPO, /meta,
/rate_limit). Packages and hooks add their routes to the same blueprint."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from appliance.accounts.service import find_account, find_repository
from appliance.api import ratelimit
from appliance.api.errors import BAD_CREDENTIALS, REQUIRES_AUTHENTICATION, ApiError, not_found
from appliance.auth.credentials import BadCredentials, actor_from_request
from appliance.auth.permissions import Action, Actor, Outcome, authorize
from appliance.github.shapes import organization_detail, repository_detail, user_detail
from appliance.models.repositories import Repository
from appliance.packages import AccessDenied, PackageError, status_for
from appliance.settings import current_settings

blueprint = Blueprint("api", __name__)
API_PREFIX = "/api/v3"

ENTERPRISE_VERSION = "3.12.0"  # the GitHub Enterprise Server whose API this one follows


def current_actor() -> Actor:
    return g.api_actor


def accepted_scopes(*scopes: str) -> None:
    """The scopes this endpoint accepts, for the X-Accepted-OAuth-Scopes header clients read (gh
    suggests `gh auth refresh -s SCOPE` from it when a call fails)."""
    g.api_accepted_scopes = ", ".join(scopes)


@blueprint.before_app_request
def _unrouted():
    """A URL under /api/v3 that matches no rule reaches no blueprint: answer it in GitHub's shape here."""
    error = request.routing_exception
    if isinstance(error, HTTPException) and (request.path + "/").startswith(f"{API_PREFIX}/"):
        return _http_error(error)
    return None


@blueprint.before_request
def _authenticate():
    g.api_accepted_scopes = ""
    g.api_rate = None
    try:
        g.api_actor = actor_from_request(request)
    except BadCredentials:
        g.api_actor = None
        raise ApiError(401, BAD_CREDENTIALS) from None
    g.api_rate = ratelimit.count_request(g.api_actor, request.remote_addr or "")
    if g.api_rate is not None and g.api_rate.exceeded:
        who = f"user ID {g.api_actor.user.id}" if g.api_actor.user else request.remote_addr
        raise ApiError(403, f"API rate limit exceeded for {who}.",
                       documentation_url="https://docs.github.com/enterprise-server/rest/using-the-rest-api/"
                                         "rate-limits-for-the-rest-api")


@blueprint.after_request
def _github_headers(response):
    response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
    response.headers["X-GitHub-Enterprise-Version"] = ENTERPRISE_VERSION
    actor = g.get("api_actor")
    if actor is not None and actor.scopes is not None:
        response.headers["X-OAuth-Scopes"] = ", ".join(sorted(actor.scopes))
    response.headers["X-Accepted-OAuth-Scopes"] = g.get("api_accepted_scopes", "")
    rate = g.get("api_rate")
    if rate is not None:
        response.headers.update(rate.headers())
    response.headers.setdefault("Cache-Control", "private, max-age=60, s-maxage=60")
    response.headers["Vary"] = "Accept, Authorization"
    return response


@blueprint.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error.response()


@blueprint.errorhandler(AccessDenied)
def _access_denied(error: AccessDenied):
    from appliance.api.errors import from_decision

    return from_decision(error.decision).response()


@blueprint.errorhandler(PackageError)
def _package_error(error: PackageError):
    """The service's refusals with the status each carries (a restore after the retention period: 404)."""
    return ApiError(status_for(error), str(error)).response()


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    if error.code == 404:
        return not_found().response()
    if error.code == 405:
        response = ApiError(405, "Method Not Allowed").response()
        response.headers["Allow"] = ", ".join(error.valid_methods or [])
        return response
    return ApiError(error.code or 500, error.description or error.name).response()


def signed_in_user():
    actor = current_actor()
    if actor.is_anonymous:
        raise ApiError(401, REQUIRES_AUTHENTICATION)
    return actor.user


def json_body() -> dict:
    """The request's JSON object, or GitHub's 400 for what is not one."""
    data = request.get_json(silent=True, force=True) if request.data else {}
    if not isinstance(data, dict):
        raise ApiError(400, "Problems parsing JSON")
    return data


def visible_repository(owner: str, name: str) -> Repository:
    """The repository if the caller may see it (a token's package scopes do not matter for seeing it);
    otherwise 401 for anonymous callers and 404 for the others, as for one that does not exist."""
    repository = find_repository(owner, name)
    decision = authorize(current_actor(), repository, Action.READ,
                         anonymous_read=current_settings()["anonymous_read"])
    if decision.outcome in (Outcome.UNAUTHENTICATED, Outcome.NOT_FOUND):
        raise AccessDenied(decision)
    return repository


# ---- what clients call first -----------------------------------------------------------------------


@blueprint.get("/user")
def authenticated_user():
    return jsonify(user_detail(signed_in_user()))


@blueprint.get("/users/<username>")
def get_user(username: str):
    account = find_account(username)
    if account is None:
        raise not_found()
    return jsonify(user_detail(account) if not account.is_organization else organization_detail(account))


@blueprint.get("/orgs/<org>")
def get_organization(org: str):
    account = find_account(org)
    if account is None or not account.is_organization:
        raise not_found()
    return jsonify(organization_detail(account))


@blueprint.get("/repos/<owner>/<repo>")
def get_repository(owner: str, repo: str):
    repository = visible_repository(owner, repo)
    return jsonify(repository_detail(repository, current_actor().user))


@blueprint.get("/meta")
def meta():
    return jsonify({
        "verifiable_password_authentication": False,
        "installed_version": ENTERPRISE_VERSION,
    })


@blueprint.get("/rate_limit")
def rate_limit():
    standing = ratelimit.current_limit(current_actor(), request.remote_addr or "")
    if standing is None:
        raise ApiError(404, "Rate limiting is not enabled.")
    return jsonify({"resources": {"core": standing.as_json()}, "rate": standing.as_json()})


@blueprint.get("/")
def root():
    from appliance.github.urls import api_root

    base = api_root()
    return jsonify({
        "current_user_url": f"{base}/user",
        "organization_url": f"{base}/orgs/{{org}}",
        "repository_url": f"{base}/repos/{{owner}}/{{repo}}",
        "user_url": f"{base}/users/{{user}}",
        "rate_limit_url": f"{base}/rate_limit",
    })
