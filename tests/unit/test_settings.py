"""The bootstrap file and the runtime settings kept in the database."""
from __future__ import annotations

import json
import re
import stat
import tomllib

import pytest

from appliance.models.settings import Setting
from appliance.settings import (
    FORMATS,
    SPECS,
    Bootstrap,
    RuntimeSettings,
    SettingError,
    current_settings,
    parse_setting,
    store_setting,
)

# ---- bootstrap -------------------------------------------------------------------------------------


def test_bootstrap_write_then_load_round_trips(tmp_path):
    home = tmp_path / "home"
    written = Bootstrap(home=home, database_url="postgresql://app:pw@db.internal/appliance",
                        storage_backend="local", storage_path=tmp_path / "blobs",
                        secret_key='k"e\\y-' + "0" * 40, trusted_proxies=1)
    path = written.write()

    assert path == home / "appliance.toml"
    assert Bootstrap.load(home) == written
    data = tomllib.loads(path.read_text())
    assert data["database"]["url"] == "postgresql://app:pw@db.internal/appliance"
    assert data["http"]["trusted_proxies"] == 1


def test_embedded_default_is_sqlite_and_local_disk_under_home(tmp_path):
    boot = Bootstrap.embedded_default(tmp_path)
    assert boot.database_url == f"sqlite:///{tmp_path / 'appliance.db'}"
    assert (boot.storage_backend, boot.storage_path, boot.trusted_proxies) == ("local", tmp_path / "storage", 0)
    assert len(boot.secret_key) == 64
    assert Bootstrap.embedded_default(tmp_path).secret_key != boot.secret_key

    boot.write()
    assert Bootstrap.load(tmp_path) == boot


def test_bootstrap_file_is_readable_by_its_owner_only(tmp_path):
    path = Bootstrap.embedded_default(tmp_path / "home").write()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_bootstrap_keeps_extra_storage_options(tmp_path):
    (tmp_path / "appliance.toml").write_text(
        'secret_key = "s"\n[database]\nurl = "sqlite:///x.db"\n'
        '[storage]\nbackend = "s3"\nbucket = "packages"\nendpoint = "https://s3.internal"\n')
    boot = Bootstrap.load(tmp_path)
    assert boot.storage_backend == "s3"
    assert boot.storage_options == {"bucket": "packages", "endpoint": "https://s3.internal"}
    assert boot.storage_path == tmp_path / "storage"
    assert boot.trusted_proxies == 0


def test_loading_a_missing_bootstrap_file_says_how_to_create_it(tmp_path):
    home = tmp_path / "nowhere"
    with pytest.raises(SettingError) as raised:
        Bootstrap.load(home)
    message = str(raised.value)
    assert str(home / "appliance.toml") in message
    assert "does not exist" in message
    assert f"appliance init --home {home}" in message


# ---- runtime settings: parsing ---------------------------------------------------------------------


def test_the_settings_of_the_design_exist_with_their_defaults():
    defaults = {key: spec.default for key, spec in SPECS.items()}
    assert defaults["hostname"] == "localhost"
    assert defaults["subdomain_isolation"] is True
    assert defaults["edition"] == "enterprise-server"
    assert defaults["support_contact"] == ""
    assert defaults["anonymous_read"] is True
    assert defaults["retention.deleted_days"] == 30
    for fmt in ("npm", "rubygems", "maven", "nuget", "docker"):
        assert defaults[f"formats.{fmt}.enabled"] is True
    # Every default is a value its own parser accepts unchanged.
    for key, spec in SPECS.items():
        assert spec.parse(spec.default) == spec.default, key
        assert spec.help, key


@pytest.mark.parametrize("text", ["true", "TRUE", " True ", "1", "yes", "on", True])
def test_bool_settings_accept_true_words(text):
    assert parse_setting("subdomain_isolation", text) is True


@pytest.mark.parametrize("text", ["false", "False", "0", "no", "off", " OFF ", False])
def test_bool_settings_accept_false_words(text):
    assert parse_setting("anonymous_read", text) is False


@pytest.mark.parametrize("text", ["", "maybe", "2", "enabled", "t"])
def test_bool_settings_refuse_anything_else(text):
    with pytest.raises(SettingError, match="expected true or false"):
        parse_setting("formats.npm.enabled", text)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("45", 45), (" 7 ", 7), (90, 90)])
def test_number_settings_accept_whole_numbers(text, value):
    assert parse_setting("retention.deleted_days", text) == value


@pytest.mark.parametrize(("text", "phrase"), [
    ("-1", "zero or more"),
    ("abc", "whole number"),
    ("1.5", "whole number"),
    ("", "whole number"),
])
def test_number_settings_refuse_the_rest(text, phrase):
    with pytest.raises(SettingError, match=phrase):
        parse_setting("max_upload_bytes", text)


@pytest.mark.parametrize(("text", "value"), [
    ("packages.example.com", "packages.example.com"),
    (" Packages.Example.COM ", "packages.example.com"),
    ("127.0.0.1", "127.0.0.1"),
])
def test_hostname_is_normalised(text, value):
    assert parse_setting("hostname", text) == value


@pytest.mark.parametrize("text", ["example.com:8080", "localhost:80", "https://example.com", "example.com/x",
                                  "two words", ""])
def test_hostname_with_port_scheme_or_path_is_refused(text):
    with pytest.raises(SettingError, match="without scheme or port"):
        parse_setting("hostname", text)


@pytest.mark.parametrize("edition", ["enterprise-server", "ae", "cloud"])
def test_edition_choices(edition):
    assert parse_setting("edition", edition) == edition


def test_an_unknown_edition_is_refused_with_the_choices():
    with pytest.raises(SettingError) as raised:
        parse_setting("edition", "team")
    assert "enterprise-server, ae, cloud" in str(raised.value)
    assert "'team'" in str(raised.value)


def test_support_contact_is_free_text():
    assert parse_setting("support_contact", "mailto:ops@example.com") == "mailto:ops@example.com"


def test_an_unknown_key_is_refused():
    with pytest.raises(SettingError) as raised:
        parse_setting("formats.pypi.enabled", "true")
    assert "unknown setting 'formats.pypi.enabled'" in str(raised.value)
    assert "appliance config list" in str(raised.value)


# ---- runtime settings: the database ----------------------------------------------------------------


def test_defaults_when_nothing_is_stored(app):
    settings = RuntimeSettings.load()
    assert dict(settings.items()) == {key: spec.default for key, spec in SPECS.items()}
    assert all(settings.format_enabled(fmt) for fmt in FORMATS)


def test_store_setting_validates_saves_json_and_upserts(app):
    assert store_setting("retention.deleted_days", "12") == 12
    assert Setting.get_by_id("retention.deleted_days").value == "12"
    first_update = Setting.get_by_id("retention.deleted_days").updated_at

    assert store_setting("retention.deleted_days", "14") == 14
    rows = list(Setting.select().where(Setting.key == "retention.deleted_days"))
    assert len(rows) == 1
    assert json.loads(rows[0].value) == 14
    assert rows[0].updated_at >= first_update

    store_setting("hostname", "Packages.Example.com")
    assert json.loads(Setting.get_by_id("hostname").value) == "packages.example.com"


def test_store_setting_stores_nothing_when_the_value_is_bad(app):
    store_setting("hostname", "good.example.com")
    with pytest.raises(SettingError):
        store_setting("hostname", "bad.example.com:443")
    with pytest.raises(SettingError):
        store_setting("no.such.key", "1")
    assert RuntimeSettings.load()["hostname"] == "good.example.com"
    assert Setting.get_or_none(Setting.key == "no.such.key") is None


def test_a_change_is_seen_by_the_next_load(app):
    before = RuntimeSettings.load()
    store_setting("formats.npm.enabled", "false")
    store_setting("subdomain_isolation", "off")

    after = RuntimeSettings.load()
    assert after.format_enabled("npm") is False
    assert after.format_enabled("maven") is True
    assert after["subdomain_isolation"] is False
    assert before["subdomain_isolation"] is True  # a snapshot does not change under its reader


def test_each_request_reads_the_settings_once_and_the_next_request_sees_changes(app):
    # A served request comes with its own app context (and `g`), as here; the `app` fixture's
    # long-lived app context would otherwise carry `g` from one request to the next.
    with app.app_context(), app.test_request_context():
        assert current_settings()["hostname"] == "localhost"
        store_setting("hostname", "registry.example.com")
        # The same request keeps the snapshot it started with.
        assert current_settings()["hostname"] == "localhost"
    with app.app_context(), app.test_request_context():
        assert current_settings()["hostname"] == "registry.example.com"


def test_stored_keys_no_longer_known_are_ignored(app):
    Setting.create(key="retired.setting", value="true")
    settings = RuntimeSettings.load()
    assert "retired.setting" not in dict(settings.items())
    with pytest.raises(KeyError):
        settings["retired.setting"]


def test_current_settings_outside_a_request_reads_afresh(app):
    assert current_settings()["edition"] == "enterprise-server"
    store_setting("edition", "ae")
    assert current_settings()["edition"] == "ae"


# ---- the optional sections of appliance.toml -------------------------------------------------------

BASE = 'secret_key = "s"\n[database]\nurl = "sqlite:///x.db"\n'


def load_with(tmp_path, extra: str, *, top: str = "") -> Bootstrap:
    (tmp_path / "appliance.toml").write_text(top + BASE + extra)
    return Bootstrap.load(tmp_path)


@pytest.mark.parametrize("top, extra, named", [
    ('colour = "red"\n', "", "'colour' in the top level"),
    ("", '[databse]\nurl = "x"\n', "'databse' in the top level"),
    ("", '[database.x]\n', "'x' in [database]"),
    ("", '[http]\ntrusted_proxy = 1\n', "'trusted_proxy' in [http]"),
])
def test_an_unknown_key_stops_the_start_naming_it(tmp_path, top, extra, named):
    with pytest.raises(SettingError, match=re.escape(named)):
        load_with(tmp_path, extra, top=top)


def test_a_file_that_is_not_toml_is_named(tmp_path):
    with pytest.raises(SettingError, match="is not valid TOML"):
        load_with(tmp_path, "[database\n")
