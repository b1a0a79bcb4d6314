"""/api/v3/openapi.json describes what is served: every route is in it, and schemathesis finds no 5xx
and no answer that does not match it (a few examples per operation here; SCHEMATHESIS_EXAMPLES for more)."""
from __future__ import annotations

import os
import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks as openapi_checks

from appliance.accounts.service import create_organization, create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.settings import store_setting
from tests.unit.api.conftest import publish

FULL = ["read:packages", "write:packages", "delete:packages", "repo", "admin:org_hook"]
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "4"))


def arrange() -> str:
    store_setting("api.rate_limit", 0)
    store_setting("api.anonymous_rate_limit", 0)
    alice = create_user("alice")
    acme = create_organization("acme", alice)
    create_repository(acme, "widgets", "public")
    create_repository(acme, "secret", "private")
    publish(alice, "acme", "npm", "@acme/a", "1.0.0", "widgets", tags=("latest",))
    publish(alice, "acme", "docker", "acme/widgets/app", "sha256:" + "2" * 64, "widgets", tags=("v1",))
    return issue_token(alice, FULL)[1]


def test_every_route_is_documented(app, client):
    document = client.get("/api/v3/openapi.json").get_json()
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v3"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v3"):]) or "/"
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented


CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


def test_answers_match_the_document(app):
    """Each operation with EXAMPLES generated requests, with and without the org owner's token."""
    token = arrange()
    schema = schemathesis.openapi.from_wsgi("/api/v3/openapi.json", app)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:
        @given(case=operation.as_strategy(), signed_in=st.booleans())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case, signed_in):
            headers = {"Authorization": f"token {token}"} if signed_in else {}
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as failure:  # noqa: BLE001 - every operation's failure is reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
    assert not failures, "\n\n".join(failures)
