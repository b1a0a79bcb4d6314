"""`/OWNER/REPO/settings/hooks` and `/organizations/ORG/settings/hooks`: a repository's or an
organization's webhooks, and each hook's delivery log with redelivery, for its admins. The same
operations as GitHub's REST hook endpoints (`appliance.webhooks.service`)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request
from flask_login import current_user, login_required

from appliance.accounts.service import find_account, find_repository
from appliance.auth.permissions import Actor
from appliance.packages import AccessDenied
from appliance.web.site import not_found_page, protect_forms, refused_page
from appliance.webhooks import service
from appliance.webhooks.service import HookInvalid, HookNotFound, HookSettings

blueprint = Blueprint("hooks", __name__)
protect_forms(blueprint)


@blueprint.errorhandler(AccessDenied)
def _refused(error: AccessDenied):
    return refused_page(error)


@blueprint.errorhandler(HookNotFound)
def _no_hook(error: HookNotFound):
    return not_found_page()


REPOSITORY = "/<owner>/<repo>/settings/hooks"
ORGANIZATION = "/organizations/<org>/settings/hooks"


def _scope(owner=None, repo=None, org=None) -> tuple[dict, str, str]:
    """Whose hooks, the page's base path and its title; AccessDenied for anyone but their admins."""
    actor = Actor(user=current_user.account)
    if org is not None:
        account = service.check_organization_owner(actor, find_account(org))
        return {"organization": account}, f"/organizations/{account.login}/settings/hooks", account.login
    repository = service.check_repository_admin(actor, find_repository(owner, repo))
    return {"repository": repository}, f"/{repository.full_name}/settings/hooks", repository.full_name


def _list_page(scope: dict, base: str, title: str, *, error: str | None = None, status: int = 200):
    hooks = [service.hook_shape(h) for h in service.list_hooks(**scope)]
    return render_template("web/settings_hooks.html", hooks=hooks, base=base, title=title, error=error), status


@login_required
def hooks(**names):
    return _list_page(*_scope(**names))


@login_required
def add_hook(**names):
    scope, base, title = _scope(**names)
    settings = HookSettings(url=request.form.get("url", "").strip(),
                            content_type=request.form.get("content_type", "json"),
                            secret=request.form.get("secret", ""), events=("package",),
                            active=request.form.get("active") == "on")
    try:
        service.create_hook(Actor(user=current_user.account), settings, **scope)
    except HookInvalid as invalid:
        return _list_page(scope, base, title, error=str(invalid), status=400)
    return redirect(base)


def _hook(hook_id: int, names: dict):
    scope, base, title = _scope(**names)
    return service.find_hook(hook_id, **scope), base, title


@login_required
def hook_page(hook_id: int, **names):
    hook, base, title = _hook(hook_id, names)
    deliveries = [service.delivery_detail(d) for d in service.list_deliveries(hook, per_page=50)]
    return render_template("web/settings_hook.html", hook=service.hook_shape(hook), deliveries=deliveries,
                           base=base, title=title)


@login_required
def delete_hook(hook_id: int, **names):
    hook, base, _ = _hook(hook_id, names)
    service.delete_hook(hook)
    return redirect(base)


@login_required
def redeliver(hook_id: int, delivery_id: int, **names):
    hook, base, _ = _hook(hook_id, names)
    delivery = service.find_delivery(hook, delivery_id)
    if delivery is None:
        return not_found_page()
    service.redeliver(delivery)
    return redirect(f"{base}/{hook.id}")


for prefix, kind in ((REPOSITORY, "repository"), (ORGANIZATION, "organization")):
    blueprint.add_url_rule(prefix, f"{kind}_hooks", hooks, methods=["GET"])
    blueprint.add_url_rule(prefix, f"{kind}_add_hook", add_hook, methods=["POST"])
    blueprint.add_url_rule(f"{prefix}/<int:hook_id>", f"{kind}_hook", hook_page, methods=["GET"])
    blueprint.add_url_rule(f"{prefix}/<int:hook_id>/delete", f"{kind}_delete_hook", delete_hook, methods=["POST"])
    blueprint.add_url_rule(f"{prefix}/<int:hook_id>/deliveries/<int:delivery_id>/redeliver",
                           f"{kind}_redeliver", redeliver, methods=["POST"])
