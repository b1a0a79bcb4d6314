"""What every page on HOSTNAME shares: browser sessions (flask-login, ended on every worker by the
account's session epoch), CSRF on forms, cookie and header hardening, the layout's context and the 404
page. `install_site(app)` wires it; page blueprints call `protect_forms` and `page_actor`."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import NotFound

from appliance.accounts.identity import session_account
from appliance.auth.permissions import ANONYMOUS, Actor, Outcome
from appliance.auth.recent import remembered
from appliance.formats.routing import REGISTRY_PREFIX
from appliance.models.accounts import Account
from appliance.packages import AccessDenied
from appliance.settings import current_settings
from appliance.support import Contact, contact, request_id

# No inline script or style anywhere: the copy buttons' script and the stylesheet are files of the package.
# README images may come from this appliance or any https origin; everything else only from here.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

blueprint = Blueprint("site", __name__, static_folder="static", static_url_path="/_static",
                      template_folder="templates")
csrf = CSRFProtect()
login_manager = LoginManager()


class SessionUser(UserMixin):
    """The signed-in account of a browser session. Its id carries the account's session epoch, so
    bumping the epoch (identity.end_sessions) signs the session out wherever it is used."""

    def __init__(self, account: Account):
        self.account = account

    def get_id(self) -> str:
        return f"{self.account.id}:{self.account.session_epoch}"

    @property
    def login(self) -> str:
        return self.account.login


@login_manager.user_loader
def _load_user(session_id: str) -> SessionUser | None:
    account_id, _, epoch = session_id.partition(":")
    if not account_id.isdigit() or not epoch.isdigit():
        return None
    # Remembered for a second, as a token is (appliance.auth.recent): a page costs one lookup less, and
    # a sign-out everywhere or a suspension still ends the session on every worker within that second
    # (in the process that made it, at once).
    key = ("browser session", int(account_id), int(epoch))
    account = remembered(key, lambda: session_account(int(account_id), int(epoch)))
    return SessionUser(account) if account is not None else None


class SessionCookies(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over TLS (behind nginx: as the trusted
    proxy says), so it never travels in clear text once HTTPS is in use."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def page_actor() -> Actor:
    """Who is asking for this page: the signed-in user with the full rights of their account."""
    if current_user.is_authenticated:
        return Actor(user=current_user.account)
    return ANONYMOUS


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this host, never another site (`//evil`, `https://evil`)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")) \
            or any(c in target for c in "\r\n\\"):
        return "/"
    return target


def sign_in_redirect():
    """A page a signed-out visitor may not see is the sign-in page, which then leads back to it."""
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("site.login", next=target))


def not_found_page():
    return render_template("web/404.html"), 404


def refused_page(error: AccessDenied):
    """The one answer to a page the actor may not see: sign in when anonymous, else the 404 page, the
    same as for what does not exist (a 403 on a page is not shown either: it would say the thing exists)."""
    if error.decision.outcome is Outcome.UNAUTHENTICATED:
        return sign_in_redirect()
    return not_found_page()


def protect_forms(bp: Blueprint) -> None:
    """Every POST to `bp` must carry the session's CSRF token (`{{ csrf_token() }}` in the form)."""
    bp.before_request(csrf.protect)


def help_line() -> Contact:
    """Where the footer sends people for help: the edition's contact (appliance.support)."""
    return contact()


def install_site(app: Flask) -> None:
    app.session_interface = SessionCookies()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="appliance_session",
        # CSRF is checked where protect_forms asks; registries and APIs authenticate with tokens, not cookies.
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the session: a sign-in page left open for a day still works.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.unauthorized_handler(sign_in_redirect)

    from appliance.web import signin  # noqa: F401 - its views join `blueprint`
    from appliance.web.listings import blueprint as listings
    from appliance.web.package_pages import blueprint as package_pages
    from appliance.web.settings_billing import blueprint as billing
    from appliance.web.settings_hooks import blueprint as hooks
    from appliance.web.settings_tokens import blueprint as tokens

    app.register_blueprint(blueprint)
    app.register_blueprint(tokens)
    app.register_blueprint(hooks)
    app.register_blueprint(billing)
    app.register_blueprint(listings)
    app.register_blueprint(package_pages)

    @app.context_processor
    def _layout():
        if request.path.startswith(f"{REGISTRY_PREFIX}/"):
            return {}
        settings = current_settings()
        return {"hostname": settings["hostname"], "help_line": help_line(), "request_id": request_id(),
                "maintenance_scheduled": settings.maintenance_scheduled(), "billing_on": settings.edition.billing,
                "maintenance_message": settings["maintenance_message"]}

    @app.errorhandler(404)
    def _not_found(error: NotFound):
        if request.path.startswith(f"{REGISTRY_PREFIX}/"):
            return error  # each registry answers in its own shape
        return not_found_page()

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return render_template("web/message.html", title="This form has expired",
                               message="Go back, reload the page and send the form again."), 400

    @app.after_request
    def _headers(response):
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
