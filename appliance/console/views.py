"""`/console`: the management console, for site administrators in a browser session (anyone else gets
the sign-in page or the 404 page). Each form calls one function of `operations`, the same the CLI calls."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from appliance import packages as service
from appliance.accounts import service as accounts
from appliance.accounts.service import AccountError
from appliance.audit import AuditFilter, audit_csv, audit_events
from appliance.auth.permissions import may_administer_site
from appliance.console import operations
from appliance.console.charts import bar_chart
from appliance.jobs.scheduler import JobFailed, JobNotFound
from appliance.models.repositories import ROLES
from appliance.packages import AccessDenied, InvalidSpendingLimit
from appliance.settings import FORMATS, SPECS, Bootstrap, RuntimeSettings, SettingError
from appliance.web.site import page_actor, protect_forms, refused_page

blueprint = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

PAGE_SIZE = 50


@blueprint.before_request
def _site_administrators_only():
    decision = may_administer_site(page_actor())
    if not decision.allowed:
        return refused_page(AccessDenied(decision))
    return None


# After the check above: to anyone else, a console form does not exist at all, valid token or not.
protect_forms(blueprint)


@blueprint.after_request
def _not_cached(response: Response) -> Response:
    # Console pages show accounts and settings: no proxy or shared browser cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    return response


def _operator():
    return operations.account_operator(current_user.account, request.remote_addr or "")


def _page_number() -> int:
    text = request.args.get("page", "1")
    return max(1, int(text)) if text.isdigit() and len(text) < 7 else 1


def _search_page(section: str, search, **context):
    """A list page: `search(q, offset=, limit=)` gives one page of rows and the count of all matches."""
    q = request.args.get("q", "")
    page = _page_number()
    rows, total = search(q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render_template(f"console/{section}.html", rows=rows, total=total, q=q, page=page, page_size=PAGE_SIZE,
                           section=section, **context)


# ---- overview ----------------------------------------------------------------------------------------


@blueprint.get("")
@blueprint.get("/")
def overview():
    settings = RuntimeSettings.load()
    return render_template("console/overview.html", settings=settings, conflicts=operations.edition_conflicts(),
                           section="overview")


# ---- settings ----------------------------------------------------------------------------------------


@blueprint.get("/settings")
def settings_page():
    return render_template("console/settings.html", rows=operations.setting_rows(), section="settings")


@blueprint.post("/settings/<key>")
def change_setting(key: str):
    if key not in SPECS:
        return refused_page(AccessDenied(_not_found()))
    value = request.form.get("value", "")
    if SPECS[key].default in (True, False):
        value = "true" if request.form.get("value") in ("true", "on") else "false"
    try:
        parsed, warnings = operations.change_setting(_operator(), key, value, confirmed=bool(request.form.get("confirm")))
    except operations.NeedsConfirmation as e:
        return render_template("console/confirm.html", key=key, value=value, warning=str(e), section="settings"), 409
    except SettingError as e:
        flash(f"{key} was not changed: {e}", "error")
        return redirect(url_for("console.settings_page") + f"#{key}", 303)
    for warning in warnings:
        flash(warning, "warn")
    flash(f"{key} is now {parsed!r}: every worker uses it from its next request.", "ok")
    return redirect(url_for("console.settings_page") + f"#{key}", 303)


@blueprint.get("/maintenance")
def maintenance_page():
    return render_template("console/maintenance.html", settings=RuntimeSettings.load(), section="maintenance")


@blueprint.post("/maintenance")
def set_maintenance():
    on = request.form.get("mode") == "on"
    try:
        operations.set_maintenance(_operator(), on, request.form.get("message") if on else None,
                                   request.form.get("starts_at", "") if on else "")
    except SettingError as e:
        flash(f"maintenance mode was not changed: {e}", "error")
        return redirect(url_for("console.maintenance_page"), 303)
    flash("Maintenance mode is on." if on else "Maintenance mode is off: everything answers again.", "ok")
    return redirect(url_for("console.maintenance_page"), 303)


# ---- users -------------------------------------------------------------------------------------------


@blueprint.get("/users")
def users():
    return _search_page("users", accounts.search_users)


@blueprint.post("/users")
def create_user():
    try:
        user, password = operations.create_user(
            _operator(), request.form.get("login", "").strip(), email=request.form.get("email", "").strip(),
            password=request.form.get("password") or None, site_admin=bool(request.form.get("site_admin")))
    except AccountError as e:
        flash(f"no user was created: {e}", "error")
        return redirect(url_for("console.users"), 303)
    if password:
        flash(f"Created {user.login}. Their password, shown once: {password}", "secret")
    else:
        flash(f"Created {user.login}.", "ok")
    return redirect(url_for("console.user", login=user.login), 303)


@blueprint.get("/users/<login>")
def user(login: str):
    account = accounts.find_account(login)
    if account is None or account.is_organization:
        return refused_page(AccessDenied(_not_found()))
    return render_template("console/user.html", user=account, section="users",
                           memberships=list(account.organization_memberships))


def _not_found():
    from appliance.auth.permissions import Decision, Outcome

    return Decision(Outcome.NOT_FOUND, "not found")


# action in the URL -> (the operation, its argument, what the user is afterwards)
USER_ACTIONS = {
    "suspend": (operations.suspend_user, True, "suspended: their sessions and tokens stopped working"),
    "unsuspend": (operations.suspend_user, False, "no longer suspended"),
    "promote": (operations.set_site_admin, True, "now a site administrator"),
    "demote": (operations.set_site_admin, False, "no longer a site administrator"),
}


@blueprint.post("/users/<login>/<action>")
def user_action(login: str, action: str):
    back = url_for("console.user", login=login)
    try:
        if action == "reset-password":
            password = operations.reset_password(_operator(), login, request.form.get("password") or None)
            flash(f"{login}'s new password, shown once: {password} (their sessions have ended)", "secret")
        elif action in USER_ACTIONS:
            operation, argument, outcome = USER_ACTIONS[action]
            operation(_operator(), login, argument)
            flash(f"{login} is {outcome}.", "ok")
        else:
            return refused_page(AccessDenied(_not_found()))
    except AccountError as e:
        flash(str(e), "error")
    return redirect(back, 303)


# ---- organizations and repositories --------------------------------------------------------------------


@blueprint.get("/orgs")
def orgs():
    return _search_page("orgs", accounts.search_organizations)


@blueprint.post("/orgs")
def create_org():
    try:
        org = operations.create_organization(_operator(), request.form.get("name", "").strip(),
                                             request.form.get("owner", "").strip())
    except AccountError as e:
        flash(f"no organization was created: {e}", "error")
        return redirect(url_for("console.orgs"), 303)
    flash(f"Created the organization {org.login}.", "ok")
    return redirect(url_for("console.org", login=org.login), 303)


@blueprint.get("/orgs/<login>")
def org(login: str):
    account = accounts.find_account(login)
    if account is None or not account.is_organization:
        return refused_page(AccessDenied(_not_found()))
    return render_template("console/org.html", org=account, members=accounts.members(account),
                           repositories=accounts.repositories_of(account), section="orgs")


@blueprint.post("/orgs/<login>/members")
def org_member(login: str):
    role = request.form.get("role") or None
    if role == "remove":
        role = None
    try:
        operations.set_member(_operator(), login, request.form.get("user", "").strip(), role)
        flash("Membership changed.", "ok")
    except AccountError as e:
        flash(str(e), "error")
    return redirect(url_for("console.org", login=login), 303)


@blueprint.get("/repos")
def repos():
    return _search_page("repos", accounts.search_repositories,
                        visibilities=RuntimeSettings.load().edition.visibilities)


@blueprint.post("/repos")
def create_repo():
    try:
        repository = operations.create_repository(_operator(), request.form.get("full_name", "").strip(),
                                                  request.form.get("visibility", ""))
    except AccountError as e:
        flash(f"no repository was created: {e}", "error")
        return redirect(url_for("console.repos"), 303)
    flash(f"Created {repository.full_name}.", "ok")
    return redirect(url_for("console.repo", owner=repository.owner.login, name=repository.name), 303)


def _repository(owner: str, name: str):
    return accounts.find_repository(owner, name)


@blueprint.get("/repos/<owner>/<name>")
def repo(owner: str, name: str):
    repository = _repository(owner, name)
    if repository is None:
        return refused_page(AccessDenied(_not_found()))
    return render_template("console/repo.html", repo=repository, collaborators=accounts.collaborators(repository),
                           roles=ROLES, visibilities=RuntimeSettings.load().edition.visibilities, section="repos")


@blueprint.post("/repos/<owner>/<name>/visibility")
def repo_visibility(owner: str, name: str):
    try:
        operations.set_visibility(_operator(), f"{owner}/{name}", request.form.get("visibility", ""))
        flash("Visibility changed.", "ok")
    except AccountError as e:
        flash(str(e), "error")
    return redirect(url_for("console.repo", owner=owner, name=name), 303)


@blueprint.post("/repos/<owner>/<name>/collaborators")
def repo_collaborator(owner: str, name: str):
    role = request.form.get("role") or None
    if role == "remove":
        role = None
    try:
        operations.set_collaborator(_operator(), f"{owner}/{name}", request.form.get("user", "").strip(), role)
        flash("Access changed.", "ok")
    except AccountError as e:
        flash(str(e), "error")
    return redirect(url_for("console.repo", owner=owner, name=name), 303)


# ---- packages and storage ------------------------------------------------------------------------------


@blueprint.get("/packages")
def packages():
    q = request.args.get("q", "")
    fmt = request.args.get("format", "")
    fmt = fmt if fmt in FORMATS else ""
    page = _page_number()
    rows, total = service.package_rows(q, fmt, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    storage = service.storage_by_owner_and_format()
    largest = [(f"{row.owner} ({row.format})", row.bytes) for row in storage[:15]]
    return render_template("console/packages.html", rows=rows, total=total, q=q, fmt=fmt, formats=FORMATS,
                           page=page, page_size=PAGE_SIZE, storage=storage,
                           counted_at=service.storage_counted_at(), dedup=service.deduplication(),
                           format_chart=bar_chart(service.storage_by_format()), owner_chart=bar_chart(largest),
                           section="packages")


# ---- billing (the cloud edition) ---------------------------------------------------------------------------


@blueprint.get("/billing")
def billing():
    q = request.args.get("q", "").strip()
    if q:
        return redirect(url_for("console.owner_billing", login=q), 303)
    return render_template("console/billing.html", billing_on=service.billing_on(), rows=service.billing_rows(),
                           settings=RuntimeSettings.load(), section="billing")


@blueprint.get("/billing/<login>")
def owner_billing(login: str):
    owner = accounts.find_account(login)
    if owner is None:
        return refused_page(AccessDenied(_not_found()))
    return render_template("console/billing_owner.html", owner=owner, billing_on=service.billing_on(),
                           usage=service.owner_usage(owner), section="billing")


@blueprint.post("/billing/<login>")
def set_spending_limit(login: str):
    if accounts.find_account(login) is None:
        return refused_page(AccessDenied(_not_found()))
    try:
        owner = operations.set_spending_limit(_operator(), login, request.form.get("amount", ""))
    except InvalidSpendingLimit as e:
        flash(f"the spending limit was not changed: {e}", "error")
        return redirect(url_for("console.owner_billing", login=login), 303)
    limit, is_default = service.spending_limit_cents(owner)
    flash(f"{owner.login}'s spending limit is now ${limit / 100:.2f} a month"
          f"{' (the default)' if is_default else ''}: every worker checks publishes against it at once.", "ok")
    return redirect(url_for("console.owner_billing", login=owner.login), 303)


# ---- jobs ----------------------------------------------------------------------------------------------


@blueprint.get("/jobs")
def jobs():
    return render_template("console/jobs.html", rows=operations.job_rows(current_app), section="jobs")


@blueprint.post("/jobs/<name>/run")
def run_job(name: str):
    try:
        outcome = operations.run_job_now(_operator(), current_app._get_current_object(), name)
    except JobNotFound:
        return refused_page(AccessDenied(_not_found()))
    except JobFailed as e:
        flash(str(e), "error")
        return redirect(url_for("console.jobs"), 303)
    flash(f"{name}: {outcome}" if outcome is not None else f"{name} is running in a scheduler right now",
          "ok" if outcome is not None else "warn")
    return redirect(url_for("console.jobs"), 303)


# ---- the directory ([ldap] in appliance.toml) -------------------------------------------------------------


@blueprint.get("/ldap")
def ldap():
    bootstrap = current_app.config["BOOTSTRAP"]
    on_disk = Bootstrap.load(bootstrap.home).ldap
    return render_template("console/ldap.html", config=on_disk, running=bootstrap.ldap, section="ldap",
                           restart_needed=on_disk != bootstrap.ldap)


@blueprint.post("/ldap/check")
def ldap_check():
    from appliance.accounts.ldap import DirectoryError, DirectoryUnavailable

    try:
        lines = operations.check_directory(_operator(), current_app._get_current_object())
    except (DirectoryError, DirectoryUnavailable) as e:
        flash(f"the directory check failed: {e}", "error")
    else:
        for line in lines:
            flash(line, "warn" if line.startswith("warning") else "ok")
    return redirect(url_for("console.ldap"), 303)


@blueprint.post("/ldap")
def ldap_save():
    fields = ("uri", "ca_file", "bind_dn", "bind_password", "user_base", "user_filter", "login_attribute",
              "name_attribute", "email_attribute", "admin_group", "organizations", "timeout", "start_tls")
    try:
        operations.save_directory_settings(_operator(), Bootstrap.load(current_app.config["BOOTSTRAP"].home),
                                           {key: request.form.get(key, "").strip() for key in fields})
    except SettingError as e:
        flash(f"the [ldap] settings were not changed: {e}", "error")
    else:
        flash("Saved in appliance.toml: restart the appliance (and its schedulers) to use them.", "ok")
    return redirect(url_for("console.ldap"), 303)


# ---- audit log -----------------------------------------------------------------------------------------


def _audit_filter() -> AuditFilter:
    return AuditFilter(actor=request.args.get("actor", "")[:100], action=request.args.get("action", "")[:100],
                       target=request.args.get("target", "")[:200])


@blueprint.get("/audit")
def audit():
    where = _audit_filter()
    before = request.args.get("before", "")
    rows = audit_events(where, limit=PAGE_SIZE + 1, before_id=int(before) if before.isdigit() else None)
    more = len(rows) > PAGE_SIZE
    return render_template("console/audit.html", rows=rows[:PAGE_SIZE], more=more, where=where,
                           section="audit")


@blueprint.get("/audit.csv")
def audit_export():
    return Response(audit_csv(_audit_filter()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})


def register(app) -> None:
    from appliance.console.charts import human_bytes

    app.add_template_filter(human_bytes, "human_bytes")
    app.register_blueprint(blueprint)
