"""`/settings/billing` and `/organizations/ORG/settings/billing`: an owner's cloud billing this month
(storage and transfer of private packages against what is included, the cost and the spending limit), for
the user themself, the organization's owners and site administrators. Outside `cloud` there is no billing,
and these pages do not exist."""
from __future__ import annotations

from flask import Blueprint, render_template

from appliance import packages as service
from appliance.accounts.service import find_account
from appliance.auth.permissions import may_see_billing
from appliance.packages import AccessDenied
from appliance.web.site import not_found_page, page_actor, refused_page

blueprint = Blueprint("billing", __name__)


def _usage_page(owner):
    decision = may_see_billing(page_actor(), owner)
    if not decision.allowed:
        return refused_page(AccessDenied(decision))
    if not service.billing_on():
        return not_found_page()
    html = render_template("web/settings_billing.html", owner=owner, usage=service.owner_usage(owner))
    return html, 200, {"Cache-Control": "no-store"}


@blueprint.get("/settings/billing")
def user_billing():
    actor = page_actor()
    return _usage_page(actor.user)


@blueprint.get("/organizations/<org>/settings/billing")
def organization_billing(org: str):
    account = find_account(org)
    return _usage_page(account if account is not None and account.is_organization else None)
