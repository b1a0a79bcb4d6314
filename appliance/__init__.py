"""The packages appliance: a package registry for npm, RubyGems, Maven, NuGet and OCI images."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from appliance.db import database, is_sqlite, open_database
from appliance.formats.routing import SubdomainDispatch
from appliance.settings import Bootstrap, default_home
from appliance.storage import open_storage
from appliance.storage.base import StorageUnavailable
from appliance.storage.blobs import BlobStore


def create_app(bootstrap: Bootstrap | None = None, home: Path | None = None) -> Flask:
    """Build the web application from the bootstrap file of `home` (or the one given)."""
    if bootstrap is None:
        bootstrap = Bootstrap.load(home or default_home())
    app = Flask(__name__)
    app.config["SECRET_KEY"] = bootstrap.secret_key
    app.config["BOOTSTRAP"] = bootstrap
    open_database(bootstrap.database_url)
    storage = open_storage(bootstrap.storage_backend, bootstrap.storage_path, bootstrap.storage_options)
    app.extensions["appliance.blobs"] = BlobStore(storage)

    from appliance import metrics
    from appliance.accounts import ldap

    # First: its hooks see every request, and its middleware sits inside the subdomain dispatch below.
    metrics.init_app(app)
    ldap.init_app(app)

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    if not is_sqlite():
        # Server databases hand connections back after each request; SQLite keeps one per thread,
        # as opening a file and setting its pragmas costs more than most requests.
        @app.teardown_request
        def _close(exc):
            if not database.is_closed():
                database.close()

    from appliance.api import register as register_api
    from appliance.console.views import register as register_console
    from appliance.formats.docker.blueprint import blueprint as docker
    from appliance.formats.gate import install_registry_gate
    from appliance.formats.maven.blueprint import blueprint as maven
    from appliance.formats.npm.blueprint import blueprint as npm
    from appliance.formats.nuget.blueprint import blueprint as nuget
    from appliance.formats.rubygems.blueprint import blueprint as rubygems
    from appliance.graphql.view import register as register_graphql
    from appliance.packages import subscribe
    from appliance.web.health import blueprint as health
    from appliance.web.outage import install_outage_answers
    from appliance.web.site import install_site
    from appliance.webhooks.service import record_package_event

    # Ahead of the registries' own hooks: maintenance and switched-off formats close them all alike.
    install_registry_gate(app)
    install_outage_answers(app)
    app.register_blueprint(health)
    install_site(app)
    register_console(app)
    app.register_blueprint(npm, url_prefix="/_registry/npm")
    app.register_blueprint(maven, url_prefix="/_registry/maven")
    app.register_blueprint(nuget, url_prefix="/_registry/nuget")
    app.register_blueprint(docker, url_prefix="/_registry/docker")
    app.register_blueprint(rubygems, url_prefix="/_registry/rubygems")
    register_api(app)
    register_graphql(app)
    # Webhooks hear of every publish and update once it is committed, and only queue deliveries.
    subscribe(record_package_event, app=app)

    @app.errorhandler(StorageUnavailable)
    def _storage_unavailable(error):
        # Nothing was published: writes put their rows in only after every byte is stored.
        from appliance.formats.gate import registry_error, registry_of_request
        from appliance.support import request_id, support_line

        app.logger.error("request %s: storage unavailable: %s", request_id(), error)
        message = f"the appliance's storage is unavailable; nothing was changed, try again shortly ({support_line()})"
        fmt = registry_of_request()
        if fmt is not None:
            return registry_error(fmt, 503, message), {"Retry-After": "30"}
        return ({"error": message, "errors": [{"code": "UNAVAILABLE", "message": message}]},
                503, {"Retry-After": "30"})

    app.wsgi_app = SubdomainDispatch(app.wsgi_app)
    if bootstrap.trusted_proxies:
        # Behind nginx: scheme, client address and host come from the proxy's X-Forwarded-* headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=bootstrap.trusted_proxies,
                                x_proto=bootstrap.trusted_proxies, x_host=bootstrap.trusted_proxies)
    return app
