"""GitHub's REST error shape, `{"message", "documentation_url"}`, and the one mapper from domain errors
to it: 401 for anonymous callers who must authenticate, 404 for what the caller may not see (the same
answer as for what does not exist), 403 for what they can see but may not do."""
from __future__ import annotations

from flask import Response, jsonify

from appliance.auth.permissions import Decision, Outcome

DOCUMENTATION_URL = "https://docs.github.com/enterprise-server/rest"
PACKAGES_DOCUMENTATION_URL = "https://docs.github.com/enterprise-server/rest/packages/packages"
HOOKS_DOCUMENTATION_URL = "https://docs.github.com/enterprise-server/rest/webhooks"

REQUIRES_AUTHENTICATION = "Requires authentication"
NOT_FOUND = "Not Found"
BAD_CREDENTIALS = "Bad credentials"


class ApiError(Exception):
    """An answer in GitHub's error shape; `errors` is the list GitHub adds to a 422."""

    def __init__(self, status: int, message: str, *, documentation_url: str = DOCUMENTATION_URL,
                 errors: list[dict] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.documentation_url = documentation_url
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict = {"message": self.message, "documentation_url": self.documentation_url}
        if self.errors:
            body["errors"] = self.errors
        response = jsonify(body)
        response.status_code = self.status
        for key, value in self.headers.items():
            response.headers[key] = value
        return response


def not_found(documentation_url: str = DOCUMENTATION_URL) -> ApiError:
    return ApiError(404, NOT_FOUND, documentation_url=documentation_url)


def unprocessable(message: str, *, resource: str, field: str, code: str = "invalid",
                  documentation_url: str = DOCUMENTATION_URL) -> ApiError:
    return ApiError(422, message, documentation_url=documentation_url,
                    errors=[{"resource": resource, "field": field, "code": code, "message": message}])


def from_decision(decision: Decision, documentation_url: str = DOCUMENTATION_URL) -> ApiError:
    """The answer to a refused permission decision, in GitHub's words where GitHub has them."""
    if decision.outcome is Outcome.UNAUTHENTICATED:
        return ApiError(401, REQUIRES_AUTHENTICATION, documentation_url=documentation_url)
    if decision.outcome is Outcome.NOT_FOUND:
        return not_found(documentation_url)
    return ApiError(403, decision.message, documentation_url=documentation_url)
