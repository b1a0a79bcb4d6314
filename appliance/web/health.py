from __future__ import annotations

from flask import Blueprint, jsonify
from peewee import PeeweeException

from appliance.db import database

blueprint = Blueprint("health", __name__)


@blueprint.get("/_health")
def health():
    """For load balancers: 200 when this node can reach its database."""
    try:
        database.execute_sql("SELECT 1")
    except PeeweeException as e:
        return jsonify(status="unavailable", error=str(e)), 503
    return jsonify(status="ok")
