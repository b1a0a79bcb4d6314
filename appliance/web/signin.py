"""`/login` and `/logout`: the sign-in seam (accounts.identity) behind a form."""
from __future__ import annotations

from flask import redirect, render_template, request, session
from flask_login import current_user, login_user, logout_user

from appliance.accounts.identity import SignInError, SignInThrottled, sign_in, sign_out
from appliance.web.site import SessionUser, blueprint, protect_forms, safe_next

protect_forms(blueprint)


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(target)
        return render_template("web/login.html", next=target, login="", error=None)
    login_name = request.form.get("login", "")
    try:
        account = sign_in(login_name, request.form.get("password", ""), address=request.remote_addr or "")
    except SignInThrottled as e:
        response = render_template("web/login.html", next=target, login=login_name, error=str(e))
        return response, 429, {"Retry-After": str(e.retry_after)}
    except SignInError as e:
        return render_template("web/login.html", next=target, login=login_name, error=str(e)), 401
    # A new session for the signed-in person: nothing of the signed-out one carries over.
    session.clear()
    login_user(SessionUser(account))
    return redirect(target)


@blueprint.post("/logout")
def logout():
    if current_user.is_authenticated:
        sign_out(current_user.account, everywhere=bool(request.form.get("everywhere")),
                 address=request.remote_addr or "")
        logout_user()
    session.clear()
    return redirect("/login")
