"""`/settings/tokens`: a person's personal access tokens, with the rules and functions of `appliance tokens`."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request
from flask_login import current_user, login_required

from appliance.auth.tokens import (
    TokenError,
    TokenNotFound,
    issue_token,
    list_tokens,
    parse_duration,
    parse_scopes,
    revoke_token,
    token_state,
)
from appliance.models.base import utcnow
from appliance.models.tokens import SCOPES
from appliance.web.site import not_found_page, protect_forms

blueprint = Blueprint("tokens", __name__)
protect_forms(blueprint)

# The lifetimes offered, as `appliance tokens create --expires-in` takes them ("" is no expiry).
EXPIRY_CHOICES = [("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("52w", "1 year"), ("", "No expiry")]
SCOPE_HELP = {
    "read:packages": "install and pull packages",
    "write:packages": "publish packages (and install them)",
    "delete:packages": "delete and restore packages (with read:packages and repo)",
    "repo": "act on repositories' packages (needed to delete and restore) and their webhooks",
    "admin:org_hook": "manage organizations' webhooks",
}


def _page(*, created=None, secret=None, error=None, form=None, status=200):
    now = utcnow()
    rows = [{"token": t, "state": token_state(t, now)} for t in list_tokens(current_user.account)]
    html = render_template("web/settings_tokens.html", rows=rows, created=created, secret=secret, error=error,
                           form=form or {"note": "", "scopes": ["read:packages"], "expires_in": "30d"},
                           scopes=[(s, SCOPE_HELP.get(s, "")) for s in SCOPES], expiry_choices=EXPIRY_CHOICES)
    # A page showing a secret must not be kept by the browser or a proxy.
    return html, status, {"Cache-Control": "no-store"}


@blueprint.get("/settings/tokens")
@login_required
def tokens():
    return _page()


@blueprint.post("/settings/tokens")
@login_required
def create_token():
    form = {"note": request.form.get("note", "").strip(), "scopes": request.form.getlist("scopes"),
            "expires_in": request.form.get("expires_in", "")}
    try:
        scopes = parse_scopes(",".join(form["scopes"]))
        expires_in = parse_duration(form["expires_in"]) if form["expires_in"] else None
        token, secret = issue_token(current_user.account, scopes, expires_in=expires_in, note=form["note"])
    except TokenError as e:
        return _page(error=str(e), form=form, status=400)
    return _page(created=token, secret=secret, status=201)


@blueprint.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    try:
        revoke_token(token_id, user=current_user.account)
    except TokenNotFound:
        return not_found_page()
    return redirect("/settings/tokens")
