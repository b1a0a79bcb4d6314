"""The real `gem` and `bundle` (and, where they cannot say it, plain HTTP) against the appliance under
gunicorn: push, install with `gem install` and `bundle install` from a private source with credentials,
dependencies between private gems, platform gems and prereleases, yank and restore, the compact index's
ETag, digests and ranges, the legacy Marshal indexes, repository links, both URL layouts, and bad input
that gem prints a clear message for and that leaves nothing behind.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from appliance import packages as service
from appliance.auth.permissions import Actor
from appliance.formats.rubygems.metadata import MAX_YAML_NODES
from appliance.models.accounts import Account
from appliance.models.audit import AuditEvent
from appliance.models.packages import Blob, DownloadCount, Package, PackageFile, PackageVersion
from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance, subdomain_appliance
from tests.support.rubygems import RubyClients, gem_bytes, gem_members, gemspec_yaml, tar_of

FULL_SCOPES = "read:packages,write:packages,delete:packages,repo"
ISOLATED_HOSTNAME = "appliance.test"


@pytest.fixture(scope="module", autouse=True)
def _clients_installed():
    for command in ("ruby", "gem", "bundle"):
        require_client(command)


@dataclass(frozen=True)
class World:
    live: LiveAppliance
    alice: str  # full token of alice, who owns every repository below
    alice_read_write: str
    bob: str  # a stranger to alice's private repositories

    @property
    def source(self) -> str:
        """The gem source of alice, as `gem push --host` takes it."""
        return f"{self.live.origin}/_registry/rubygems/alice"

    def source_with(self, token: str, user: str = "alice") -> str:
        return f"http://{user}:{token}@127.0.0.1:{self.live.port}/_registry/rubygems/alice/"

    def get(self, path: str, token: str | None = None, **headers) -> requests.Response:
        if token:
            headers["Authorization"] = token
        return requests.get(f"{self.source}/{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def world(live) -> World:
    live.user("alice")
    live.user("bob")
    live.repo("alice/gems", "private")
    live.repo("alice/public-gems", "public")
    live.repo("alice/linked-by-url", "private")
    live.repo("bob/elsewhere", "public")
    return World(live, live.token("alice", FULL_SCOPES), live.token("alice", "read:packages,write:packages"),
                 live.token("bob", FULL_SCOPES))


@pytest.fixture
def clients(tmp_path) -> RubyClients:
    return RubyClients(tmp_path / "clients")


def pushed(world: World, clients: RubyClients, name: str, version: str, *, repo: str = "alice/gems",
           **options) -> Path:
    """gem build and gem push of NAME VERSION, linked to `repo` through `github_repo`."""
    metadata = {"github_repo": repo, **options.pop("metadata", {})} if repo else options.pop("metadata", None)
    gem = clients.build(name, version, metadata=metadata, **options)
    done = clients.push(gem, world.source, world.alice)
    assert done.returncode == 0, done.output
    return gem


def stored(live: LiveAppliance) -> dict:
    """Rows of every table a push touches, and the files in storage."""
    storage = live.bootstrap.storage_path
    with live.db():
        rows = {model.__name__: model.select().count()
                for model in (Package, PackageVersion, PackageFile, Blob, AuditEvent)}
    return {"rows": rows, "files": sorted(str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file())}


def listed_in_versions(world: World, name: str, token: str) -> tuple[list[str], str]:
    """What bundler reads of a gem from /versions: its versions after every line, and its last info MD5."""
    versions: list[str] = []
    info_md5 = ""
    for line in world.get("versions", token).text.splitlines()[2:]:
        gem, listed_versions, info_md5_of_line = line.split(" ")
        if gem != name:
            continue
        for version in listed_versions.split(","):
            if version.startswith("-"):
                versions.remove(version[1:])
            else:
                versions.append(version)
        info_md5 = info_md5_of_line
    return versions, info_md5


# ---- push and install ----------------------------------------------------------------------------------


def test_push_then_install_with_gem_and_bundler_from_a_private_source(world, clients):
    gem = pushed(world, clients, "tea", "1.0.0")
    assert gem.name == "tea-1.0.0.gem"
    pushed(world, clients, "kettle", "2.1.0", dependencies={"tea": "~> 1.0"})

    installed = clients.install("kettle", world.source_with(world.alice))
    assert installed.returncode == 0, installed.output
    assert "Successfully installed kettle-2.1.0" in installed.output
    assert clients.installed() == ["kettle-2.1.0", "tea-1.0.0"]
    loaded = clients.run("ruby", "-e", 'require "kettle"; require "tea"; puts Kettle::VERSION, Tea::VERSION')
    assert loaded.stdout.split() == ["2.1.0", "1.0.0"], loaded.output

    # bundler, credentials from a BUNDLE_HOST variable
    bundler = RubyClients(clients.workdir.parent / "bundler")
    done = bundler.bundle_install(f"{world.source}/", {"kettle": "2.1.0"},
                                  env={"BUNDLE_127__0__0__1": f"alice:{world.alice_read_write}"})
    assert done.returncode == 0, done.output
    assert "Installing kettle 2.1.0" in done.output and "Installing tea 1.0.0" in done.output
    assert bundler.installed() == ["kettle-2.1.0", "tea-1.0.0"]
    lock = (bundler.workdir / "project" / "Gemfile.lock").read_text()
    assert "kettle (2.1.0)\n      tea (~> 1.0)" in lock

    # bundler, credentials from `bundle config set --local` for the source URL
    configured = RubyClients(clients.workdir.parent / "configured")
    done = configured.bundle_install(f"{world.source}/", {"tea": None},
                                     config={f"{world.source}/": f"alice:{world.alice}"})
    assert done.returncode == 0, done.output
    assert configured.installed() == ["tea-1.0.0"]
    with world.live.db():
        version = PackageVersion.select().join(Package).where(
            (Package.name == "tea") & (PackageVersion.version == "1.0.0")).get()
        downloads = sum(d.count for d in DownloadCount.select().where(DownloadCount.version == version.id))
    assert downloads == 3
    # a HEAD, or a range that resumes a download, is not one more
    world.get("gems/tea-1.0.0.gem", world.alice, Range="bytes=100-")
    requests.head(f"{world.source}/gems/tea-1.0.0.gem", headers={"Authorization": world.alice}, timeout=30)
    with world.live.db():
        assert sum(d.count for d in DownloadCount.select().where(DownloadCount.version == version.id)) == 3


def test_private_source_without_credentials(world, clients):
    pushed(world, clients, "secret-sauce", "1.0.0")
    done = clients.install("secret-sauce", f"{world.source}/")
    # gem 3.3 takes the 401 of /info/secret-sauce for a gem that is not there, and says only that
    assert done.returncode != 0 and not clients.installed()
    assert "Could not find a valid gem 'secret-sauce'" in done.output, done.output
    assert world.get("info/secret-sauce").status_code == 401
    done = clients.bundle_install(f"{world.source}/", {"secret-sauce": None})
    assert done.returncode != 0 and not clients.installed()
    # bundler sees only the public gems of an owner without credentials; the private one is not among them
    assert "Could not find gem 'secret-sauce'" in done.output, done.output
    done = clients.install("secret-sauce", world.source_with(world.bob, "bob"))
    assert done.returncode != 0 and not clients.installed()
    done = clients.install("secret-sauce", world.source_with("apt_" + "x" * 40))
    assert done.returncode != 0 and not clients.installed()


def test_anonymous_install_of_a_public_gem(world, clients):
    pushed(world, clients, "open-kettle", "1.0.0", repo="alice/public-gems")
    anonymous = RubyClients(clients.workdir.parent / "anonymous")
    done = anonymous.install("open-kettle", f"{world.source}/")
    assert done.returncode == 0, done.output
    done = anonymous.bundle_install(f"{world.source}/", {"open-kettle": None})
    assert done.returncode == 0, done.output
    assert anonymous.installed() == ["open-kettle-1.0.0"]
    world.live.set("anonymous_read", False)
    try:
        refused = RubyClients(clients.workdir.parent / "refused")
        done = refused.bundle_install(f"{world.source}/", {"open-kettle": None})
        assert done.returncode != 0 and "Authentication is required" in done.output, done.output
        assert not refused.installed()
    finally:
        world.live.set("anonymous_read", True)


def test_platform_gems_and_prereleases(world, clients):
    pushed(world, clients, "native", "1.0.0")
    pushed(world, clients, "native", "1.0.0", platform="x86_64-linux")
    pushed(world, clients, "native", "1.1.0.rc1")
    info = world.get("info/native", world.alice).text
    assert [line.split(" ")[0] for line in info.splitlines()[1:]] == ["1.0.0", "1.0.0-x86_64-linux", "1.1.0.rc1"]
    assert listed_in_versions(world, "native", world.alice)[0] == ["1.0.0", "1.0.0-x86_64-linux", "1.1.0.rc1"]

    done = clients.install("native", world.source_with(world.alice))
    assert done.returncode == 0, done.output
    assert clients.installed() == ["native-1.0.0-x86_64-linux"]  # this machine's platform wins
    pre = RubyClients(clients.workdir.parent / "pre")
    done = pre.install("native", world.source_with(world.alice), "--pre")
    assert done.returncode == 0, done.output
    assert pre.installed() == ["native-1.1.0.rc1"]
    bundled = RubyClients(clients.workdir.parent / "bundled")
    done = bundled.bundle_install(f"{world.source}/", {"native": "1.1.0.rc1"},
                                  env={"BUNDLE_127__0__0__1": f"alice:{world.alice}"})
    assert done.returncode == 0, done.output
    assert bundled.installed() == ["native-1.1.0.rc1"]

    # the legacy indexes hold the same, in Ruby's Marshal format
    script = ("require 'rubygems'; Marshal.load(Gem::Util.gunzip(STDIN.read)).select { |n, _, _| n == 'native' }"
              ".each { |n, v, p| puts [n, v, p].join(' ') }")
    for index_name, expected in [
        ("specs.4.8.gz", ["native 1.0.0 ruby", "native 1.0.0 x86_64-linux"]),
        ("latest_specs.4.8.gz", ["native 1.0.0 ruby", "native 1.0.0 x86_64-linux"]),
        ("prerelease_specs.4.8.gz", ["native 1.1.0.rc1 ruby"]),
    ]:
        response = world.get(index_name, world.alice)
        assert response.status_code == 200
        out = subprocess.run(["ruby", "-e", script], input=response.content, capture_output=True, check=True)
        assert sorted(out.stdout.decode().splitlines()) == expected, index_name
    listed = clients.run("gem", "list", "--remote", "--all", "--clear-sources", "--source",
                         world.source_with(world.alice), "native")
    assert "native (1.0.0 ruby x86_64-linux)" in listed.stdout, listed.output


def test_quick_spec_and_dependency_api(world, clients):
    pushed(world, clients, "leaf", "0.1.0")
    pushed(world, clients, "branch", "0.2.0", dependencies={"leaf": ">= 0.1"})
    spec = world.get("quick/Marshal.4.8/branch-0.2.0.gemspec.rz", world.alice)
    assert spec.status_code == 200
    script = ("require 'rubygems'; s = Marshal.load(Gem::Util.inflate(STDIN.read)); "
              "puts s.full_name, s.dependencies.map(&:to_s).inspect, s.metadata['github_repo']")
    out = subprocess.run(["ruby", "-e", script], input=spec.content, capture_output=True, check=True)
    assert out.stdout.decode().splitlines() == ["branch-0.2.0", '["leaf (>= 0.1)"]', "alice/gems"]
    deps = world.get("api/v1/dependencies?gems=branch,leaf,no-such-gem", world.alice)
    out = subprocess.run(["ruby", "-e", "p Marshal.load(STDIN.read)"], input=deps.content, capture_output=True,
                         check=True)
    assert out.stdout.decode().strip() == (
        '[{:name=>"branch", :number=>"0.2.0", :platform=>"ruby", :dependencies=>[["leaf", ">= 0.1"]]}, '
        '{:name=>"leaf", :number=>"0.1.0", :platform=>"ruby", :dependencies=>[]}]')
    assert world.get("api/v1/dependencies.json?gems=leaf", world.alice).json() == [
        {"name": "leaf", "number": "0.1.0", "platform": "ruby", "dependencies": []}]
    probe = world.get("api/v1/dependencies", world.alice)
    assert probe.status_code == 200 and probe.content == b""
    assert world.get("quick/Marshal.4.8/branch-9.9.gemspec.rz", world.alice).status_code == 404


def test_file_names_of_gems_whose_names_end_in_digits(world, clients):
    pushed(world, clients, "twin", "1.0.0")
    pushed(world, clients, "twin-2", "1.0.0")
    response = world.get("gems/twin-2-1.0.0.gem", world.alice)
    assert response.status_code == 200 and b"twin-2" in gzip.decompress(tarfile_member(response.content,
                                                                                        "metadata.gz"))
    assert world.get("gems/twin-1.0.0.gem", world.alice).status_code == 200
    missing = world.get("gems/twin-2-9.9.gem", world.alice)
    assert missing.status_code == 404 and missing.text == "twin-2 has no version 9.9\n"


def tarfile_member(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.extractfile(name).read()


def test_versions_are_immutable(world, clients):
    gem = pushed(world, clients, "stone", "1.0.0")
    before = stored(world.live)
    gem.write_bytes(gem_bytes("stone", "1.0.0", metadata={"github_repo": "alice/gems"}))
    done = clients.push(gem, world.source, world.alice)
    assert done.returncode != 0
    assert "stone@1.0.0 already exists: versions cannot be replaced" in done.output, done.output
    assert stored(world.live) == before


def test_a_name_differing_only_in_case_is_refused_to_those_who_may_push_and_hidden_from_others(world, clients):
    pushed(world, clients, "Casey", "1.0.0")
    before = stored(world.live)

    def push(name: str, token: str) -> requests.Response:
        return requests.post(f"{world.source}/api/v1/gems", timeout=30,
                             data=gem_bytes(name, "2.0.0", metadata={"github_repo": "alice/gems"}),
                             headers={"Authorization": token, "Content-Type": "application/octet-stream"})

    refused = push("casey", world.alice_read_write)
    assert refused.status_code == 422 and "casey differs only in case from the gem Casey" in refused.text, refused.text
    # bob cannot see alice/gems: either spelling is answered as a name nobody took is, naming nothing
    free = push("never-taken", world.bob)
    assert free.status_code == 422 and "alice/gems, which does not exist" in free.text, free.text
    for name in ("casey", "Casey"):
        hidden = push(name, world.bob)
        assert (hidden.status_code, hidden.text) == (free.status_code, free.text)
    assert stored(world.live) == before


# ---- yank and restore ----------------------------------------------------------------------------------


def test_yank_removes_a_version_from_every_index_and_restore_brings_it_back(world, clients):
    pushed(world, clients, "brew", "1.0.0")
    pushed(world, clients, "brew", "1.1.0")
    installer = RubyClients(clients.workdir.parent / "installer")
    done = installer.bundle_install(f"{world.source}/", {"brew": None},
                                    env={"BUNDLE_127__0__0__1": f"alice:{world.alice}"})
    assert done.returncode == 0 and installer.installed() == ["brew-1.1.0"], done.output

    refused = clients.run("gem", "yank", "brew", "-v", "1.1.0", "--host", world.source,
                          env={"GEM_HOST_API_KEY": world.alice_read_write})
    assert "it needs delete:packages, read:packages and repo" in refused.output, refused.output
    done = clients.run("gem", "yank", "brew", "-v", "1.1.0", "--host", world.source,
                       env={"GEM_HOST_API_KEY": world.alice})
    assert "Successfully deleted gem: brew (1.1.0)" in done.output, done.output
    again = clients.run("gem", "yank", "brew", "-v", "1.1.0", "--host", world.source,
                        env={"GEM_HOST_API_KEY": world.alice})
    assert "brew has no version 1.1.0 to yank (or it is yanked already)" in again.output, again.output

    assert listed_in_versions(world, "brew", world.alice)[0] == ["1.0.0"]
    assert "1.1.0" not in world.get("info/brew", world.alice).text
    assert world.get("gems/brew-1.1.0.gem", world.alice).status_code == 404
    assert world.get("quick/Marshal.4.8/brew-1.1.0.gemspec.rz", world.alice).status_code == 404
    assert b"1.1.0" not in gzip.decompress(world.get("specs.4.8.gz", world.alice).content)
    # bundler, updating the copy of the index it keeps from the first install, settles on what is left
    assert fresh_bundle(installer, world, "after-yank") == "1.0.0"
    with world.live.db():  # no client restores: the service does, within the retention period
        version = PackageVersion.select().join(Package).where(
            (Package.name == "brew") & (PackageVersion.version == "1.1.0")).get()
        service.restore_version(Actor(user=Account.get(Account.login == "alice")), version)
    assert listed_in_versions(world, "brew", world.alice)[0] == ["1.0.0", "1.1.0"]
    assert fresh_bundle(installer, world, "after-restore") == "1.1.0"


def fresh_bundle(clients: RubyClients, world: World, bundle_path: str) -> str:
    """`bundle install` of the project again into an empty bundle, with bundler's index copy kept (it
    would otherwise use the gems it installed before): the version of brew it chose."""
    project = clients.workdir / "project"
    (project / "Gemfile.lock").unlink()
    done = clients.run("bundle", "install", cwd=project, env={
        "BUNDLE_127__0__0__1": f"alice:{world.alice}", "BUNDLE_PATH": str(clients.workdir / bundle_path)})
    assert done.returncode == 0, done.output
    return (project / "Gemfile.lock").read_text().split("brew (", 1)[1].split(")", 1)[0]


def test_yank_of_a_platform_version(world, clients):
    pushed(world, clients, "ember", "1.0.0")
    pushed(world, clients, "ember", "1.0.0", platform="java")
    done = clients.run("gem", "yank", "ember", "-v", "1.0.0", "--platform", "java", "--host", world.source,
                       env={"GEM_HOST_API_KEY": world.alice})
    assert "Successfully deleted gem: ember (1.0.0-java)" in done.output, done.output
    assert listed_in_versions(world, "ember", world.alice)[0] == ["1.0.0"]


# ---- the compact index over HTTP -----------------------------------------------------------------------


def test_compact_index_etags_digests_and_ranges(world, clients):
    pushed(world, clients, "ranged", "1.0.0")
    info = world.get("info/ranged", world.alice)
    body = info.content
    assert info.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    sha256 = hashlib.sha256(body).digest()
    assert info.headers["Repr-Digest"] == f"sha-256=:{base64.b64encode(sha256).decode()}:"
    assert info.headers["Digest"] == f"sha-256={base64.b64encode(sha256).decode()}"
    assert world.get("info/ranged", world.alice, **{"If-None-Match": info.headers["ETag"]}).status_code == 304
    versions = world.get("versions", world.alice)
    assert listed_in_versions(world, "ranged", world.alice) == (["1.0.0"], hashlib.md5(body).hexdigest())
    assert versions.text.startswith("created_at: ") and "\n---\n" in versions.text
    names = world.get("names", world.alice).text.splitlines()
    assert names[0] == "---" and "ranged" in names and names[1:] == sorted(names[1:])

    # a new version is a line appended to /info: bundler's `Range: bytes=N-` gets the tail
    pushed(world, clients, "ranged", "1.1.0")
    tail = world.get("info/ranged", world.alice, Range=f"bytes={len(body) - 1}-",
                     **{"If-None-Match": info.headers["ETag"]})
    assert tail.status_code == 206
    whole = body[:-1] + tail.content
    assert tail.headers["ETag"] == f'"{hashlib.md5(whole).hexdigest()}"'
    assert whole.decode().splitlines()[-1].startswith("1.1.0 |checksum:")
    # so is a push (and a yank) to /versions
    after = world.get("versions", world.alice, Range=f"bytes={len(versions.content) - 1}-",
                      **{"If-None-Match": versions.headers["ETag"]})
    assert after.status_code == 206
    grown = versions.content[:-1] + after.content
    assert after.headers["ETag"] == f'"{hashlib.md5(grown).hexdigest()}"'
    assert grown.decode().splitlines()[-1] == f"ranged 1.1.0 {hashlib.md5(whole).hexdigest()}"
    beyond = world.get("info/ranged", world.alice, Range=f"bytes={len(whole) + 100}-")
    assert beyond.status_code == 200 and beyond.content == whole


def test_bundler_picks_up_new_versions_through_its_index_copy(world, clients):
    pushed(world, clients, "fresh", "1.0.0")
    env = {"BUNDLE_127__0__0__1": f"alice:{world.alice}"}
    done = clients.bundle_install(f"{world.source}/", {"fresh": None}, env=env)
    assert done.returncode == 0 and clients.installed() == ["fresh-1.0.0"], done.output
    pushed(world, clients, "fresh", "1.0.1")
    pushed(world, clients, "fresh-extra", "0.1.0")
    done = clients.run("bundle", "update", cwd=clients.workdir / "project", env=env)
    assert done.returncode == 0, done.output
    assert "fresh (1.0.1)" in (clients.workdir / "project" / "Gemfile.lock").read_text()


# ---- repository links ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "metadata", "repository"),
    [
        ("linked-github-repo", {"github_repo": "alice/linked-by-url"}, "alice/linked-by-url"),
        ("linked-source-uri", {"source_code_uri": "https://git.example.com/alice/linked-by-url/tree/main"},
         "alice/linked-by-url"),
        ("gems", {}, "alice/gems"),  # named like the gem
    ],
)
def test_repository_links(world, clients, name, metadata, repository):
    gem = clients.build(name, "1.0.0", metadata=metadata or None)
    done = clients.push(gem, world.source, world.alice)
    assert done.returncode == 0, done.output
    with world.live.db():
        assert Package.get(Package.name == name).repository.full_name == repository


@pytest.mark.parametrize(
    ("name", "metadata", "message"),
    [
        ("unlinked", {}, ("no repository to link this package to: name a repository of alice "
                         '(spec.metadata["github_repo"] = "OWNER/REPOSITORY"')),
        ("linked-nowhere", {"github_repo": "alice/nowhere"}, "names the repository alice/nowhere, which does not exist"),
        ("linked-elsewhere", {"source_code_uri": "https://git.example.com/bob/elsewhere"},
         ('the gemspec\'s metadata "source_code_uri" names the repository bob/elsewhere, but a package of alice '
         "belongs to a repository of alice: name a repository of alice")),
        ("linked-garbage", {"github_repo": "not a repository"}, "names no repository"),
    ],
)
def test_unusable_repository_links_are_refused_with_how_to_link(world, clients, name, metadata, message):
    before = stored(world.live)
    gem = clients.build(name, "1.0.0", metadata=metadata or None)
    done = clients.push(gem, world.source, world.alice)
    assert done.returncode != 0 and message in done.output, done.output
    assert stored(world.live) == before


# ---- bad input -----------------------------------------------------------------------------------------


def hostile(text: str) -> bytes:
    return tar_of(gem_members(text))


BAD_GEMS = {
    "checksum mismatch": (tar_of({**gem_members(gemspec_yaml("x", "1.0.0")),
                                  "data.tar.gz": gem_members(gemspec_yaml("x", "2.0.0"))["data.tar.gz"]}),
                          "data.tar.gz does not match its SHA256 in checksums.yaml.gz"),
    "not a gem": (b"PK\x03\x04 this is a zip, not a gem" * 20, "not a gem"),
    "empty": (b"", "not a gem"),
    "corrupt tar": (gem_bytes("x", "1.0.0")[:1500], "not a gem"),
    "corrupt metadata gzip": (tar_of({**gem_members(gemspec_yaml("x", "1.0.0"), with_checksums=False),
                                      "metadata.gz": b"\x1f\x8bnope"}),
                              "metadata.gz is not valid gzip"),
    "corrupt data gzip": (tar_of({**gem_members(gemspec_yaml("x", "1.0.0")), "data.tar.gz": b"\x1f\x8bnope"}),
                          "data.tar.gz is not a valid gzipped tar"),
    "unknown ruby tag": (hostile("--- !ruby/object:Gem::Specification\nname: x\nversion: !ruby/object:Gem::Version\n"
                                 "  version: '1'\nx: !ruby/object:Gem::Installer\n  a: 1\n"),
                         "metadata.gz holds something a gemspec cannot"),
    "alias bomb": (hostile("--- !ruby/object:Gem::Specification\nname: x\na: &a [x,x,x,x,x,x,x,x,x,x]\n"
                           + "\n".join(f"b{i}: &b{i} [{','.join(['*a' if i == 0 else f'*b{i - 1}'] * 10)}]"
                                       for i in range(12)) + "\n"),
                   f"metadata.gz expands to more than {MAX_YAML_NODES} YAML nodes"),
    "name with a path": (hostile(gemspec_yaml("x", "1.0.0").replace("name: x", "name: ../../x")), "invalid gem name"),
    "version with a path": (hostile(gemspec_yaml("x", "1.0.0").replace("version: '1.0.0'", "version: '1/../../2'")),
                            "invalid gem version"),
    "platform with a path": (hostile(gemspec_yaml("x", "1.0.0", platform="../../etc")), "invalid gem platform"),
}


@pytest.mark.parametrize("case", list(BAD_GEMS))
def test_bad_gems_are_refused_with_a_message_and_leave_nothing(world, clients, case):
    data, message = BAD_GEMS[case]
    before = stored(world.live)
    # As gem push sends it; gem itself refuses some of these before sending, so HTTP says what we answer.
    response = requests.post(f"{world.source}/api/v1/gems", data=data, timeout=30, headers={
        "Authorization": world.alice, "Content-Type": "application/octet-stream"})
    assert response.status_code == 422 and message in response.text, response.text
    assert stored(world.live) == before
    path = clients.workdir / "bad.gem"
    path.write_bytes(data)
    done = clients.push(path, world.source, world.alice)
    assert done.returncode != 0
    refused_by_gem = "Exception while verifying" in done.output or "Pushing gem" not in done.output
    assert refused_by_gem or message in done.output, done.output
    assert stored(world.live) == before


@pytest.mark.parametrize(
    ("key", "message"),
    [(None, "authentication required: for gem push and gem yank set GEM_HOST_API_KEY"),
     ("apt_" + "y" * 40, "bad credentials: the token is unknown, expired or revoked")],
)
def test_push_without_a_valid_key(world, clients, key, message):
    gem = clients.build("keyless", "1.0.0", metadata={"github_repo": "alice/gems"})
    before = stored(world.live)
    if key is None:
        # gem push asks for credentials on a terminal when it has no key; over HTTP, as it would send it.
        response = requests.post(f"{world.source}/api/v1/gems", data=gem.read_bytes(), timeout=30,
                                 headers={"Content-Type": "application/octet-stream"})
        assert response.status_code == 401 and message in response.text
        assert response.headers["WWW-Authenticate"] == 'Basic realm="RubyGems"'
    else:
        done = clients.push(gem, world.source, key)
        assert done.returncode != 0 and message in done.output, done.output
    assert stored(world.live) == before


def test_upload_over_the_limit(world, clients):
    gem = clients.build("heavy", "1.0.0", metadata={"github_repo": "alice/gems"})
    world.live.set("max_upload_bytes", 1000)
    try:
        before = stored(world.live)
        done = clients.push(gem, world.source, world.alice)
        assert done.returncode != 0 and "this appliance accepts up to 1000" in done.output, done.output
        assert stored(world.live) == before
    finally:
        world.live.set("max_upload_bytes", 2 * 1024**3)


def test_unrouted_urls_answer_in_plain_text(world):
    for path, status, text in [("/_registry/rubygems/", 404, "every owner has a gem source of its own"),
                               ("/_registry/rubygems/alice/nothing/here", 404, "not found"),
                               ("/_registry/rubygems/alice/versions", 405, "not supported")]:
        method = "PUT" if status == 405 else "GET"
        response = requests.request(method, f"{world.live.origin}{path}", timeout=30)
        assert response.status_code == status and text in response.text
        assert response.headers["Content-Type"].startswith("text/plain")


def test_a_disabled_registry_says_so(world, clients):
    gem = clients.build("switched-off", "1.0.0", metadata={"github_repo": "alice/gems"})
    world.live.set("formats.rubygems.enabled", False)
    try:
        before = stored(world.live)
        done = clients.push(gem, world.source, world.alice)
        assert done.returncode != 0 and "the rubygems registry is switched off on this appliance" in done.output
        for path in ("versions", "info/tea", "nothing/here"):
            response = world.get(path, world.alice)
            assert response.status_code == 403 and "registry is switched off" in response.text
        assert stored(world.live) == before
    finally:
        world.live.set("formats.rubygems.enabled", True)


# ---- subdomain layout ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Isolated:
    live: LiveAppliance
    hosts_file: Path
    token: str

    @property
    def source(self) -> str:
        return f"http://rubygems.{ISOLATED_HOSTNAME}:{self.live.port}/alice"


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> Iterator[Isolated]:
    if os.geteuid() != 0:
        pytest.skip("resolving rubygems.appliance.test for gem alone needs a mount namespace: run as root")
    require_client("unshare")
    with subdomain_appliance(tmp_path_factory.mktemp("isolated"), ISOLATED_HOSTNAME, "rubygems") as (appliance,
                                                                                                  hosts_file):
        appliance.user("alice")
        appliance.repo("alice/sub", "private")
        yield Isolated(appliance, hosts_file, appliance.token("alice", FULL_SCOPES))


def test_subdomain_layout(isolated, tmp_path):
    clients = RubyClients(tmp_path / "clients", hosts_file=isolated.hosts_file)
    gem = clients.build("sub", "1.0.0")
    done = clients.push(gem, isolated.source, isolated.token)
    assert done.returncode == 0 and "Successfully registered gem: sub (1.0.0)" in done.output, done.output
    source = f"http://alice:{isolated.token}@rubygems.{ISOLATED_HOSTNAME}:{isolated.live.port}/alice/"
    done = clients.install("sub", source)
    assert done.returncode == 0, done.output
    done = clients.bundle_install(f"{isolated.source}/", {"sub": None},
                                  env={"BUNDLE_RUBYGEMS__APPLIANCE__TEST": f"alice:{isolated.token}"})
    assert done.returncode == 0, done.output
    assert clients.installed() == ["sub-1.0.0"]
    done = clients.run("gem", "yank", "sub", "-v", "1.0.0", "--host", isolated.source,
                       env={"GEM_HOST_API_KEY": isolated.token})
    assert "Successfully deleted gem: sub (1.0.0)" in done.output, done.output
    # the path layout keeps answering while subdomains are on, so configured URLs survive the switch
    path_source = f"http://{ISOLATED_HOSTNAME}:{isolated.live.port}/_registry/rubygems/alice"
    done = clients.push(clients.build("sub", "1.0.1"), path_source, isolated.token)
    assert done.returncode == 0 and "Successfully registered gem: sub (1.0.1)" in done.output, done.output


def test_quick_spec_is_deflated_marshal(world, clients):
    pushed(world, clients, "deflated", "3.0.0")
    data = world.get("quick/Marshal.4.8/deflated-3.0.0.gemspec.rz", world.alice).content
    assert zlib.decompress(data)[:2] == b"\x04\x08"
    gem = world.get("gems/deflated-3.0.0.gem", world.alice)
    assert gem.status_code == 200 and tarfile_members(gem.content) == ["metadata.gz", "data.tar.gz",
                                                                       "checksums.yaml.gz"]


def tarfile_members(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.getnames()


# ---- what tools read besides the indexes -----------------------------------------------------------------


def test_gem_info_remote_and_the_json_api(world, clients):
    pushed(world, clients, "described", "1.0.0", repo="alice/public-gems")
    pushed(world, clients, "described", "1.1.0", repo="alice/public-gems", dependencies={"rack": ">= 2"})
    pushed(world, clients, "described", "2.0.0.pre", repo="alice/public-gems")
    pushed(world, clients, "described-extra", "0.1.0", repo="alice/public-gems")

    info = clients.run("gem", "info", "described", "--remote", "--clear-sources", "--source",
                       world.source_with(world.alice))
    assert info.returncode == 0, info.output
    assert "described (1.1.0)" in info.stdout
    assert "Author: Tester" in info.stdout and "described for tests" in info.stdout

    gem = world.get("api/v1/gems/described.json")
    assert gem.status_code == 200 and gem.headers["Content-Type"] == "application/json"
    document = gem.json()
    assert (document["name"], document["version"], document["authors"]) == ("described", "1.1.0", "Tester")
    assert document["dependencies"] == {"development": [], "runtime": [{"name": "rack", "requirements": ">= 2"}]}
    assert document["gem_uri"] == f"{world.source}/gems/described-1.1.0.gem"
    assert document["project_uri"] == (f"http://127.0.0.1:{world.live.port}/users/alice/packages/rubygems/"
                                       "package/described")
    assert document["metadata"] == {"github_repo": "alice/public-gems"}
    page = requests.get(document["project_uri"], timeout=30)
    assert page.status_code == 200 and "described" in page.text

    versions = world.get("api/v1/versions/described.json").json()
    assert [(v["number"], v["prerelease"]) for v in versions] == [
        ("2.0.0.pre", True), ("1.1.0", False), ("1.0.0", False)]
    assert all(len(v["sha"]) == 64 and v["licenses"] == ["MIT"] for v in versions)

    found = world.get("api/v1/search.json?query=described").json()
    assert [g["name"] for g in found] == ["described", "described-extra"]
    assert world.get("api/v1/search.json?query=described&page=2").json() == []


def test_the_json_api_hides_private_gems_and_refuses_bad_input(world, clients):
    pushed(world, clients, "secretive", "1.0.0")  # alice/gems is private
    assert world.get("api/v1/gems/secretive.json").status_code == 401
    assert world.get("api/v1/gems/secretive.json", basic_auth("bob", world.bob)).status_code == 404
    assert world.get("api/v1/gems/secretive.json", basic_auth("alice", world.alice)).json()["name"] == "secretive"
    assert world.get("api/v1/search.json?query=secretive", basic_auth("bob", world.bob)).json() == []
    assert [g["name"] for g in world.get("api/v1/search.json?query=secretive",
                                         basic_auth("alice", world.alice)).json()] == ["secretive"]
    for path, status, message in (("api/v1/gems/no-such-gem.json", 404, "not found"),
                                  ("api/v1/versions/..%2Fx.json", 404, "not found"),
                                  ("api/v1/gems/bad%20name.json", 422, "gem name"),
                                  ("api/v1/search.json?query=x&page=0", 422, "page must be a whole number"),
                                  ("api/v1/search.json?query=x&page=abc", 422, "page must be a whole number")):
        response = world.get(path, basic_auth("alice", world.alice))
        assert response.status_code == status, (path, response.text)
        assert message in response.text, (path, response.text)


def basic_auth(user: str, token: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
