"""The real NuGet.exe 5.8 (under mono) against the appliance under gunicorn: pack, push (and its 409),
symbol packages, install into a fresh folder with a dependency, search, list, delete (unlist) and install of
an unlisted version, a private package restored with NuGet.Config credentials, bad input and a wrong key
as nuget prints them, and both URL layouts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from appliance.models import Package, PackageVersion
from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.maven_http import footprint
from tests.support.nuget import NuGet, require_nuget

FULL_SCOPES = "read:packages,write:packages,delete:packages,repo"
ISOLATED_HOSTNAME = "appliance.test"


@pytest.fixture(scope="module")
def exe() -> Path:
    return require_nuget()


@pytest.fixture(scope="module")
def alice(live) -> str:
    live.user("alice")
    for name in ("Acme.Core", "Acme.Widgets"):
        live.repo(f"alice/{name}")
    live.repo("alice/secret", "private")
    return live.token("alice", FULL_SCOPES)


def source(live) -> str:
    return f"{live.origin}/_registry/nuget/alice/index.json"


def stored(live) -> tuple:
    with live.db():
        return footprint(live.bootstrap.storage_path)


def test_pack_push_install_search_delete(live, alice, exe, tmp_path):
    author = NuGet(exe, tmp_path / "author", source(live), alice, user="alice")
    core = author.pack("Acme.Core", "1.0.0", description="The core")
    widgets = author.pack("Acme.Widgets", "2.0.0", description="Widgets",
                          dependencies={"netstandard2.0": [("Acme.Core", "1.0.0")]})
    for package in (core, widgets):
        pushed = author.run("push", str(package), "-Source", "appliance", "-ApiKey", alice)
        assert pushed.returncode == 0, pushed.output
        assert "Your package was pushed." in pushed.output

    again = author.run("push", str(core), "-Source", "appliance", "-ApiKey", alice)
    assert again.returncode == 1
    assert ("Response status code does not indicate success: 409 (Acme.Core@1.0.0 already exists: versions "
            "cannot be replaced, publish a new version).") in again.output

    consumer = NuGet(exe, tmp_path / "consumer", source(live), alice, user="alice")
    installed = consumer.run("install", "Acme.Widgets", "-OutputDirectory", str(consumer.workdir / "out"),
                             "-Source", "appliance")
    assert installed.returncode == 0, installed.output
    out = consumer.workdir / "out"
    assert (out / "Acme.Widgets.2.0.0" / "lib" / "netstandard2.0" / "Acme.Widgets.txt").read_text() == \
        "Acme.Widgets 2.0.0\n"
    assert (out / "Acme.Core.1.0.0" / "Acme.Core.1.0.0.nupkg").read_bytes() == core.read_bytes()

    found = consumer.run("search", "acme", "-Source", "appliance", config=False)
    assert found.returncode == 0, found.output
    assert "> Acme.Core | 1.0.0 | Downloads: 1" in found.output
    assert "> Acme.Widgets | 2.0.0 | Downloads: 1" in found.output

    listed = consumer.run("list", "acme", "-Source", "appliance")
    assert listed.returncode == 0, listed.output
    # With -Verbosity detailed nuget list prints id, version and description on lines of their own.
    assert "\nAcme.Core\n 1.0.0\n The core\n" in listed.stdout
    assert "\nAcme.Widgets\n 2.0.0\n Widgets\n" in listed.stdout

    deleted = author.run("delete", "Acme.Core", "1.0.0", "-Source", "appliance", "-ApiKey", alice)
    assert deleted.returncode == 0, deleted.output
    assert "Acme.Core 1.0.0 was deleted successfully." in deleted.output
    unlisted = consumer.run("search", "acme", "-Source", "appliance", config=False)
    assert "Acme.Widgets" in unlisted.output and "Acme.Core" not in unlisted.output

    # Unlisted, not gone: a fresh install by the exact version (and as a dependency) still restores it.
    fresh = NuGet(exe, tmp_path / "fresh", source(live), alice, user="alice")
    again_installed = fresh.run("install", "Acme.Widgets", "-Version", "2.0.0", "-OutputDirectory",
                                str(fresh.workdir / "out"), "-Source", "appliance")
    assert again_installed.returncode == 0, again_installed.output
    assert (fresh.workdir / "out" / "Acme.Core.1.0.0" / "Acme.Core.1.0.0.nupkg").exists()


def test_search_ranks_as_nuget_org_exact_id_first(live, alice, exe, tmp_path):
    live.repo("alice/ranked")
    link = f"{live.origin}/alice/ranked"
    author = NuGet(exe, tmp_path / "author", source(live), alice, user="alice")
    for package_id, fields in (("Zeta.Helpers", {"description": "helpers for Zebra.Grid users"}),
                               ("Zeta.Tagged", {"tags": "zebra.grid tables"}),
                               ("Zebra.Grid.Extensions", {}), ("Zebra.Grid", {})):
        package = author.pack(package_id, "1.0.0", repository_url=link, **fields)
        pushed = author.run("push", str(package), "-Source", "appliance", "-ApiKey", alice)
        assert pushed.returncode == 0, pushed.output
    found = author.run("search", "zebra.grid", "-Source", "appliance", config=False)
    assert found.returncode == 0, found.output
    shown = [line.split("|")[0].strip("> ").strip() for line in found.output.splitlines() if line.startswith("> ")]
    assert shown == ["Zebra.Grid", "Zebra.Grid.Extensions", "Zeta.Tagged", "Zeta.Helpers"]


def test_symbol_packages_are_pushed_with_their_package(live, alice, exe, tmp_path):
    author = NuGet(exe, tmp_path / "symbols", source(live), alice, user="alice")
    src = author.workdir / "src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "Acme.Sym.dll").write_bytes(b"dll")
    (src / "lib" / "Acme.Sym.pdb").write_bytes(b"pdb")
    (src / "Acme.Sym.nuspec").write_text(
        '<?xml version="1.0"?><package><metadata><id>Acme.Sym</id><version>1.0.0</version><authors>a</authors>'
        '<description>symbols</description><repository type="git" url="https://example.com/alice/Acme.Core"/>'
        '</metadata><files><file src="lib/Acme.Sym.dll" target="lib/netstandard2.0/"/>'
        '<file src="lib/Acme.Sym.pdb" target="lib/netstandard2.0/"/></files></package>')
    packed = author.run("pack", str(src / "Acme.Sym.nuspec"), "-Symbols", "-SymbolPackageFormat", "snupkg",
                        "-OutputDirectory", str(author.workdir), config=False)
    assert packed.returncode == 0, packed.output
    pushed = author.run("push", str(author.workdir / "Acme.Sym.1.0.0.nupkg"), "-Source", "appliance", "-ApiKey", alice)
    assert pushed.returncode == 0, pushed.output
    assert "api/v2/symbolpackage" in pushed.output and pushed.output.count("Your package was pushed.") == 2
    snupkg = requests.get(f"{live.origin}/_registry/nuget/alice/v3/flatcontainer/acme.sym/1.0.0/acme.sym.1.0.0.snupkg",
                          timeout=30)
    assert snupkg.status_code == 200
    assert snupkg.content == (author.workdir / "Acme.Sym.1.0.0.snupkg").read_bytes()


def test_private_package_restores_with_config_credentials_only(live, alice, exe, tmp_path):
    author = NuGet(exe, tmp_path / "private", source(live), alice, user="alice")
    package = author.pack("Secret.Lib", "1.0.0", repository_url="https://github.com/alice/secret")
    assert author.run("push", str(package), "-Source", "appliance", "-ApiKey", alice).returncode == 0

    reader = live.token("alice", "read:packages")
    consumer = NuGet(exe, tmp_path / "reader", source(live), reader, user="alice")
    installed = consumer.run("install", "Secret.Lib", "-OutputDirectory", str(consumer.workdir / "out"),
                             "-Source", "appliance")
    assert installed.returncode == 0, installed.output
    assert (consumer.workdir / "out" / "Secret.Lib.1.0.0").is_dir()
    # Searches challenge, so nuget sends the NuGet.Config credentials and private packages show.
    found = consumer.run("search", "secret", "-Source", "appliance", config=False)
    assert "> Secret.Lib | 1.0.0" in found.output, found.output

    stranger = NuGet(exe, tmp_path / "anonymous", source(live), None)
    refused = stranger.run("install", "Secret.Lib", "-OutputDirectory", str(stranger.workdir / "out"),
                           "-Source", "appliance")
    assert refused.returncode == 1
    assert not (stranger.workdir / "out" / "Secret.Lib.1.0.0").exists()
    assert "401" in refused.output


def test_bad_package_and_wrong_key_are_printed_and_store_nothing(live, alice, exe, tmp_path):
    author = NuGet(exe, tmp_path / "bad", source(live), None)
    not_a_zip = author.workdir / "Broken.1.0.0.nupkg"
    not_a_zip.write_bytes(b"this is not a zip file")
    before = stored(live)
    pushed = author.run("push", str(not_a_zip), "-Source", "appliance", "-ApiKey", alice)
    assert pushed.returncode == 1
    assert ("Response status code does not indicate success: 400 (the package is not a valid .nupkg (a zip "
            "file): create it with `nuget pack` or `dotnet pack`).") in pushed.output

    unlinked = author.pack("Nowhere.Lib", "1.0.0")
    refused = author.run("push", str(unlinked), "-Source", "appliance", "-ApiKey", alice)
    assert refused.returncode == 1
    assert ("400 (no repository to link this package to: name a repository of alice (<repository type=\"git\" "
            f'url="http://127.0.0.1:{live.port}/alice/REPO" /> in the .nuspec (nuget pack drops it without type)) '
            "or create the repository alice/Nowhere.Lib)."
            ) in refused.output

    package = author.pack("Acme.Widgets", "3.0.0")
    wrong = author.run("push", str(package), "-Source", "appliance", "-ApiKey", "apt_not-a-token")
    assert wrong.returncode == 1
    assert "401 (bad credentials: the token is unknown, expired or revoked" in wrong.output
    reader = author.run("push", str(package), "-Source", "appliance", "-ApiKey", live.token("alice", "read:packages"))
    assert reader.returncode == 1
    assert "403 (this token lacks the scope for this: it needs write:packages)" in reader.output
    assert stored(live) == before
    with live.db():
        assert not PackageVersion.select().join(Package).where(
            (Package.lower_name == "acme.widgets") & (PackageVersion.version == "3.0.0")).exists()


# ---- the subdomain layout --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> Iterator[tuple[LiveAppliance, Path, str]]:
    if os.geteuid() != 0:
        pytest.skip("resolving nuget.appliance.test for mono alone needs a mount namespace: run as root")
    require_client("unshare")
    root = tmp_path_factory.mktemp("nuget-isolated")
    appliance = LiveAppliance(root / "home")
    appliance.set("hostname", ISOLATED_HOSTNAME)
    appliance.set("subdomain_isolation", True)
    appliance.user("alice")
    appliance.repo("alice/Sub.Lib")
    hosts_file = root / "hosts"
    hosts_file.write_text(f"127.0.0.1 localhost\n127.0.0.1 {ISOLATED_HOSTNAME} nuget.{ISOLATED_HOSTNAME}\n")
    appliance.start()
    try:
        yield appliance, hosts_file, appliance.token("alice", FULL_SCOPES)
    finally:
        appliance.stop()


def test_subdomain_layout_push_and_install(isolated, exe, tmp_path):
    appliance, hosts_file, token = isolated
    url = f"http://nuget.{ISOLATED_HOSTNAME}:{appliance.port}/alice/index.json"
    author = NuGet(exe, tmp_path / "author", url, token, user="alice", hosts_file=hosts_file)
    # Large enough that the push is spooled to disk on its way to the blob store.
    package = author.pack("Sub.Lib", "1.0.0", payload_bytes=3 << 20)
    pushed = author.run("push", str(package), "-Source", "appliance", "-ApiKey", token)
    assert pushed.returncode == 0, pushed.output
    assert f"http://nuget.{ISOLATED_HOSTNAME}:{appliance.port}/alice/api/v2/package" in pushed.output
    installed = author.run("install", "Sub.Lib", "-OutputDirectory", str(author.workdir / "out"), "-Source", "appliance")
    assert installed.returncode == 0, installed.output
    assert (author.workdir / "out" / "Sub.Lib.1.0.0" / "Sub.Lib.1.0.0.nupkg").read_bytes() == package.read_bytes()
