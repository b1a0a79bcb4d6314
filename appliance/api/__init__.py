"""GitHub's REST API at HOSTNAME/api/v3: a thin face over the packages service and the webhooks."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    # Each module adds its routes to the one blueprint: the packages endpoints, the hook endpoints and
    # the OpenAPI document of them all.
    from appliance.api import hooks, openapi, packages  # noqa: F401
    from appliance.api.blueprint import API_PREFIX, blueprint

    app.register_blueprint(blueprint, url_prefix=API_PREFIX)
