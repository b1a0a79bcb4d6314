"""What a package page tells its readers to configure: the registry URL of its format on this appliance
as it serves now (subdomain isolation on or off, the request's scheme and port), and the values each
format's install snippet (templates web/partials/install_FMT.html) fills in."""
from __future__ import annotations

from urllib.parse import urlsplit

from appliance.formats.routing import advertised_registry_url
from appliance.packages import PackageView
from appliance.settings import FORMATS, current_settings


def _bundler_variable(host: str) -> str:
    """Bundler's credentials variable for a host: `.` as `__`, `-` as `___`, upper case, no port."""
    return "BUNDLE_" + host.split(":")[0].replace("-", "___").replace(".", "__").upper()


def install_context(package: PackageView, version: str | None) -> dict:
    """The values of the package's install snippet; `registry` is None when the format is not served
    the way the appliance is set up now (Docker without subdomain isolation)."""
    fmt = package.format
    base = advertised_registry_url(fmt)
    owner = package.owner.login
    context = {"format": fmt, "registry": base, "owner": owner, "name": package.name, "version": version,
               "repository": package.repository.full_name}
    if base is None:
        return context
    parts = urlsplit(base)
    if fmt == "npm":
        scope = package.name.split("/", 1)[0] if package.name.startswith("@") else None
        context.update(scope=scope, auth_prefix=f"//{parts.netloc}{parts.path}")
    elif fmt == "rubygems":
        context.update(source=f"{base}{owner}/", bundler_variable=_bundler_variable(parts.netloc))
    elif fmt == "maven":
        group, _, artifact = package.name.partition(":")
        context.update(url=f"{base}{package.repository.full_name}", group=group, artifact=artifact)
    elif fmt == "nuget":
        context.update(source=f"{base}{owner}/index.json")
    elif fmt == "docker":
        reference = f":{version}" if version and not version.startswith("sha256:") else \
            (f"@{version}" if version else "")
        context.update(image=f"{parts.netloc}/{package.repository.full_name}/{package.name}", reference=reference,
                       registry_host=parts.netloc)
    return context


def first_publish_context(login: str) -> dict:
    """What the dashboard shows a signed-in user who sees no package yet: each format this appliance
    serves with the registry URL to configure (None for Docker without subdomain isolation), and the
    npm `.npmrc` for the user's own scope, the README's first example."""
    settings = current_settings()
    registries = [(fmt, advertised_registry_url(fmt)) for fmt in FORMATS if settings.format_enabled(fmt)]
    npm = dict(registries).get("npm")
    npmrc = None
    if npm:
        parts = urlsplit(npm)
        npmrc = f"@{login.lower()}:registry={npm}\n//{parts.netloc}{parts.path}:_authToken=TOKEN"
    return {"registries": registries, "npmrc": npmrc}
