"""Answers when the appliance cannot serve as usual, on every face: maintenance mode (503 with the
message and Retry-After on pages and the API; the registries' gate answers theirs), internal errors
(with the contact and the request id to give), and the request id on every answer.

The console, sign-in and /_health stay up during maintenance, so the site administrators can end it.
"""
from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import InternalServerError

from appliance.formats.gate import internal_error_answer
from appliance.formats.routing import REGISTRY_PREFIX
from appliance.settings import current_settings
from appliance.support import REQUEST_ID_HEADER, request_id, support_line

# Paths that answer during maintenance: the console (and signing in to it), health checks, the stylesheet.
OPEN_DURING_MAINTENANCE = ("/console", "/login", "/logout", "/_health", "/_static/", "/metrics")


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def maintenance_answer():
    """The 503 a page or the API answers while maintenance mode is on, else None."""
    path = request.path
    if path.startswith(f"{REGISTRY_PREFIX}/") or path.startswith(OPEN_DURING_MAINTENANCE):
        return None
    settings = current_settings()
    if not settings.in_maintenance():
        return None
    headers = {"Retry-After": str(settings["maintenance_retry_after"])}
    message = settings["maintenance_message"]
    if _is_api(path):
        return jsonify(message=f"{message} ({support_line(settings)})",
                       documentation_url="https://docs.github.com/rest"), 503, headers
    return render_template("web/message.html", title="Down for maintenance", message=message), 503, headers


def install_outage_answers(app: Flask) -> None:
    app.before_request(maintenance_answer)

    @app.errorhandler(InternalServerError)
    def _internal_error(error: InternalServerError):
        current_app.logger.error("request %s: %s %s failed: %r", request_id(), request.method, request.path,
                                 getattr(error, "original_exception", None) or error)
        answer = internal_error_answer()
        if answer is not None:
            return answer
        if _is_api(request.path):
            return jsonify(message=f"internal error of the appliance: {support_line()}"), 500
        return render_template("web/message.html", title="Something went wrong",
                               message="The appliance could not answer this request."), 500

    @app.after_request
    def _request_id(response):
        response.headers[REQUEST_ID_HEADER] = request_id()
        if response.status_code >= 500:
            current_app.logger.warning("request %s: %s %s answered %s", request_id(), request.method,
                                       request.path, response.status_code)
        return response
