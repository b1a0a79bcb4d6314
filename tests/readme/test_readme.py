"""The README as a test: every block marked `<!-- readme-test: FORMAT KIND -->` runs, as written, against a
live quick-start appliance (plain HTTP on a port, host name localhost, subdomain isolation on) through the
real clients, with only HOST, PORT, OWNER and TOKEN substituted.

KIND is what the block is: `install` (scripts/install.sh, which npm's walk starts with), `sh` (commands run in the newcomer's project), `consumer-sh` (run in another
project that installs it), `repository` (run from the checkout), `hosts` (the client's /etc/hosts), a
file name (`.npmrc`, `settings.xml`, `NuGet.Config`: written where the client reads it) or
`pom-repositories` (pasted into the consumer's pom) or `nuspec` (a line of the .nuspec the newcomer
writes anyway, and optional: without it the id names the repository, so it is not counted as a step) or
`distribution` (the pom's <distributionManagement>, the alternative to the deploy command's repository:
test_maven deploys a second version with it). What the newcomer brings (a package.json, a gemspec,
a pom, a .nuspec, an OCI layout) the test writes. Each format takes at most five steps after install.sh.
npm's newcomer starts from install.sh itself and uses the admin and token it printed.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance, free_port
from tests.support.maven import DEBIAN_MAVEN_REPO, missing_debian_plugins
from tests.support.oci import build_image, random_layer, write_oci_layout

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = re.compile(r"<!-- readme-test: (\S+) (\S+) -->\s*\n\s*```[a-z]*\n(.*?)\n\s*```", re.DOTALL)
OWNER = "alice"
FORMATS = ("npm", "rubygems", "maven", "nuget", "docker")
MAX_STEPS = 5
FILE_KINDS = (".npmrc", "settings.xml", "NuGet.Config")


@dataclass(frozen=True)
class Block:
    fmt: str
    kind: str
    text: str


def readme_blocks() -> list[Block]:
    blocks = []
    for fmt, kind, text in MARKER.findall(README.read_text()):
        lines = text.splitlines()
        indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
        blocks.append(Block(fmt, kind, "\n".join(line[indent:] for line in lines) + "\n"))
    return blocks


def blocks_of(fmt: str) -> list[Block]:
    return [b for b in readme_blocks() if b.fmt in (fmt, "all")]


def steps(blocks: list[Block]) -> int:
    """What a newcomer copies: a file or a pasted fragment is one step, a command line another."""
    count = 0
    for block in blocks:
        if block.kind in ("install", "nuspec", "distribution"):
            continue
        if block.kind in ("sh", "consumer-sh", "repository"):
            count += sum(1 for line in block.text.splitlines() if line.strip() and not line.startswith("#"))
        else:
            count += 1
    return count


def test_every_format_has_its_blocks_and_at_most_five_steps_after_install():
    for fmt in FORMATS:
        kinds = {b.kind for b in blocks_of(fmt)}
        assert {"repository", "sh", "consumer-sh"} <= kinds, (fmt, kinds)
        assert steps(blocks_of(fmt)) <= MAX_STEPS, (fmt, steps(blocks_of(fmt)))
    # the quick start's repository step is a real command of the appliance
    (repository,) = [b for b in readme_blocks() if b.kind == "repository"]
    assert repository.text.startswith(".venv/bin/appliance repos create OWNER/hello --visibility private")


@pytest.fixture
def quick_start(tmp_path_factory):
    """A fresh quick-start appliance per format: each newcomer makes the repository OWNER/hello."""
    if os.geteuid() != 0:
        pytest.skip("docker.localhost resolves for the clients in a mount namespace of their own: run as root")
    require_client("unshare")
    root = tmp_path_factory.mktemp("readme")
    appliance = LiveAppliance(root / "home")
    appliance.set("hostname", "localhost")
    appliance.start()
    appliance.user(OWNER)
    token = appliance.token(OWNER, "read:packages,write:packages")
    try:
        yield appliance, token
    finally:
        appliance.stop()


class Newcomer:
    """One format's walk through the README: a work directory with the project and a consumer in it."""

    def __init__(self, appliance: LiveAppliance | Installed, token: str, work: Path, owner: str = OWNER):
        self.appliance = appliance
        self.token = token
        self.owner = owner
        self.work = work
        self.project = work / "project"
        self.consumer = work / "consumer"
        for directory in (self.project, self.consumer, work / "home", work / "bin"):
            directory.mkdir(parents=True, exist_ok=True)
        self.hosts = work / "hosts"
        self.hosts.write_text("127.0.0.1 localhost\n")
        self.env = dict(
            os.environ, HOME=str(work / "home"), PATH=f"{work / 'bin'}:{os.environ['PATH']}",
            APPLIANCE_HOME=str(appliance.home), npm_config_cache=str(work / "npm-cache"),
            GEM_HOME=str(work / "gems"), GEM_PATH=str(work / "gems"), BUNDLE_PATH=str(work / "bundle"),
            BUNDLE_USER_HOME=str(work / "bundle-home"), XDG_RUNTIME_DIR=str(work / "home"),
            REGISTRY_AUTH_FILE=str(work / "home" / "auth.json"), MAVEN_OPTS="-Xmx512m")

    def substitute(self, text: str) -> str:
        port = str(self.appliance.port)
        return (text.replace("BUNDLE_HOST", "BUNDLE_LOCALHOST").replace("HOST:PORT", f"localhost:{port}")
                .replace("OWNER", self.owner).replace("TOKEN", self.token))

    def attempt(self, script: str, cwd: Path) -> subprocess.CompletedProcess:
        command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec bash -e -c "$1"',
                   str(self.hosts), script]
        return subprocess.run(command, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=600,
                              check=False)

    def run(self, script: str, cwd: Path) -> subprocess.CompletedProcess:
        done = self.attempt(script, cwd)
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
        return done

    def block(self, fmt: str, kind: str) -> str:
        (found,) = [b for b in readme_blocks() if (b.fmt, b.kind) == (fmt, kind)]
        return self.substitute(found.text)

    def follow(self, fmt: str, *, consumer_pom=None) -> None:
        """Run the README's blocks of `fmt` in the order a newcomer meets them."""
        for block in blocks_of(fmt):
            text = self.substitute(block.text)
            if block.kind in ("install", "nuspec", "distribution"):
                continue  # see `installed`, test_nuget and test_maven
            if block.kind == "repository":
                self.run(text, ROOT)
            elif block.kind == "hosts":
                self.hosts.write_text(self.hosts.read_text() + text)
            elif block.kind == "NuGet.Config":
                (self.work / block.kind).write_text(text)  # one level up: never packed
            elif block.kind in FILE_KINDS:
                for directory in (self.project, self.consumer):
                    (directory / block.kind).write_text(text)
            elif block.kind == "pom-repositories":
                (self.consumer / "pom.xml").write_text(consumer_pom(text))
            elif block.kind == "sh":
                self.run(text, self.project)
            elif block.kind == "consumer-sh":
                self.run(text, self.consumer)
            else:
                raise AssertionError(f"unknown readme-test kind {block.kind!r}")


@dataclass(frozen=True)
class Installed:
    """An appliance started by scripts/install.sh, as the README's first block runs it."""

    port: int
    home: Path
    printed: str


@pytest.fixture
def installed(tmp_path_factory):
    """The README's install block, run as written from the checkout (its venv is the one running the
    tests; install.sh reinstalls into it only when the declared dependencies changed), on a free port."""
    if os.geteuid() != 0:
        pytest.skip("docker.localhost resolves for the clients in a mount namespace of their own: run as root")
    require_client("unshare")
    (install,) = [b for b in readme_blocks() if b.kind == "install"]
    home, port = tmp_path_factory.mktemp("installed") / "home", free_port()
    output = home.parent / "install.out"
    with open(output, "wb") as sink:
        server = subprocess.Popen(["bash", "-e", "-c", install.text], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, APPLIANCE_HOME=str(home), APPLIANCE_BIND=f"127.0.0.1:{port}"),
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert server.poll() is None, output.read_text()
        yield Installed(port, home, output.read_text())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


@pytest.fixture
def newcomer(quick_start, tmp_path):
    appliance, token = quick_start
    return Newcomer(appliance, token, tmp_path)


def test_npm_from_install_sh(installed, tmp_path):
    require_client("npm")
    printed = installed.printed
    assert f"Sign in as the site admin at http://localhost:{installed.port}/login" in printed, printed
    (token,) = re.findall(r"token \(all scopes, shown once\): (apt_\S+)", printed)
    # what install.sh printed is the README's configuration and commands for this appliance
    newcomer = Newcomer(installed, token, tmp_path, owner="admin")
    nuget_push = next(line for line in newcomer.block("nuget", "sh").splitlines() if line.startswith("nuget push"))
    for line in [*newcomer.block("npm", ".npmrc").splitlines(), *newcomer.block("rubygems", "sh").splitlines(),
                 nuget_push, *newcomer.block("docker", "sh").splitlines()]:
        assert f"  {line}\n" in printed, (line, printed)
    (newcomer.project / "package.json").write_text('{"name": "@admin/hello", "version": "1.0.0", "main": "index.js"}\n')
    (newcomer.project / "index.js").write_text("module.exports = 'hello';\n")
    (newcomer.consumer / "package.json").write_text('{"name": "consumer", "version": "1.0.0"}\n')
    newcomer.follow("npm")
    assert (newcomer.consumer / "node_modules" / "@admin" / "hello" / "index.js").exists()


def test_rubygems(newcomer):
    require_client("gem")
    require_client("bundle")
    (newcomer.project / "hello.gemspec").write_text(
        'Gem::Specification.new do |s|\n  s.name = "hello"\n  s.version = "1.0.0"\n  s.summary = "hello"\n'
        '  s.authors = ["newcomer"]\n  s.files = ["lib/hello.rb"]\n  s.license = "MIT"\nend\n')
    (newcomer.project / "lib").mkdir()
    (newcomer.project / "lib" / "hello.rb").write_text("module Hello; end\n")
    newcomer.run("gem build hello.gemspec", newcomer.project)
    (newcomer.consumer / "Gemfile").write_text(
        newcomer.substitute('source "http://HOST:PORT/_registry/rubygems/OWNER/"\ngem "hello"\n'))
    newcomer.follow("rubygems")
    assert list((newcomer.work / "gems" / "gems").glob("hello-1.0.0"))
    assert "hello (1.0.0)" in (newcomer.consumer / "Gemfile.lock").read_text()


NO_SUREFIRE = ("<build><plugins><plugin><artifactId>maven-surefire-plugin</artifactId><executions><execution>"
               "<id>default-test</id><phase>none</phase></execution></executions></plugin></plugins></build>")


def _pom(artifact: str, inside: str = "", version: str = "1.0.0") -> str:
    # Debian packages no surefire of the super-POM's version: these projects run none (a newcomer's do).
    return (f'<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            f"<groupId>com.example</groupId><artifactId>{artifact}</artifactId><version>{version}</version>"
            f"<properties><maven.compiler.release>17</maven.compiler.release></properties>{inside}"
            f"{NO_SUREFIRE}</project>\n")


def test_maven(newcomer):
    require_client("mvn")
    if missing_debian_plugins():
        pytest.skip(f"Debian's Maven plugins are missing: {missing_debian_plugins()}")
    # Maven Central is out of reach here: Debian's plugins stand in through a global settings file that
    # each project's .mvn/maven.config names, so the README's settings.xml stays as written.
    global_settings = newcomer.work / "global-settings.xml"
    global_settings.write_text(
        f"<settings><localRepository>{newcomer.work / 'm2'}</localRepository><mirrors><mirror><id>debian</id>"
        f"<mirrorOf>central</mirrorOf><url>{DEBIAN_MAVEN_REPO}</url></mirror></mirrors></settings>\n")
    for directory, source in ((newcomer.project, "package hello; public class Hello {}"),
                              (newcomer.consumer, "package consumer; public class Main { hello.Hello h; }")):
        (directory / ".mvn").mkdir()
        (directory / ".mvn" / "maven.config").write_text(f"-B\n-gs\n{global_settings}\n")
        package = directory / "src/main/java" / source.split()[1].rstrip(";")
        package.mkdir(parents=True)
        (package / f"{source.split()[4]}.java").write_text(source + "\n")
    (newcomer.project / "pom.xml").write_text(_pom("hello"))
    dependency = ("<dependencies><dependency><groupId>com.example</groupId><artifactId>hello</artifactId>"
                  "<version>1.0.0</version></dependency></dependencies>")
    # Before the repository exists, mvn prints what to do (a 403's reason phrase; it drops a 404's).
    (newcomer.project / "settings.xml").write_text(newcomer.block("maven", "settings.xml"))
    early = newcomer.attempt(newcomer.block("maven", "sh"), newcomer.project)
    assert early.returncode != 0
    assert f"status: 403 repository {OWNER}/hello not found: create it (`appliance repos create {OWNER}/hello`)" \
        in early.stdout, early.stdout
    newcomer.follow("maven", consumer_pom=lambda repositories: _pom("consumer", dependency + repositories))
    assert (newcomer.consumer / "target/classes/consumer/Main.class").exists()
    # the pom's <distributionManagement> instead of -DaltDeploymentRepository
    (newcomer.project / "pom.xml").write_text(_pom("hello", newcomer.block("maven", "distribution"), "1.0.1"))
    newcomer.run("mvn -s settings.xml deploy", newcomer.project)
    metadata = requests.get(f"{newcomer.appliance.origin}/_registry/maven/{OWNER}/hello/com/example/hello/"
                            "maven-metadata.xml", auth=(OWNER, newcomer.token), timeout=30)
    assert "<version>1.0.1</version>" in metadata.text, metadata.text


def test_nuget(newcomer):
    from tests.support.nuget import require_nuget

    exe = require_nuget()
    (newcomer.work / "bin" / "nuget").write_text(f'#!/bin/sh\nexec mono "{exe}" "$@"\n')
    (newcomer.work / "bin" / "nuget").chmod(0o755)
    (newcomer.project / "lib/netstandard2.0").mkdir(parents=True)
    (newcomer.project / "lib/netstandard2.0/_._").write_text("")
    (newcomer.project / "Hello.nuspec").write_text(newcomer.substitute(
        '<?xml version="1.0"?><package><metadata><id>Hello</id><version>1.0.0</version>'
        '<authors>newcomer</authors><description>hello</description>'
        f'{newcomer.block("nuget", "nuspec").strip()}</metadata>'
        '<files><file src="lib/**" target="lib" /></files></package>\n'))
    newcomer.follow("nuget")
    assert (newcomer.consumer / "packages/Hello.1.0.0/Hello.1.0.0.nupkg").exists()


def test_docker(newcomer):
    require_client("skopeo")
    write_oci_layout(newcomer.project / "DIR", "1.0", build_image([random_layer(2048)]))
    # Before the repository exists, skopeo prints NAME_UNKNOWN's message, which says what to create.
    newcomer.hosts.write_text(newcomer.hosts.read_text() + newcomer.block("docker", "hosts"))
    early = newcomer.attempt(newcomer.block("docker", "sh"), newcomer.project)
    assert early.returncode != 0
    assert f"(`appliance repos create {OWNER}/hello`)" in early.stderr, early.stderr
    newcomer.hosts.write_text("127.0.0.1 localhost\n")
    newcomer.follow("docker")
    assert (newcomer.consumer / "BACK" / "index.json").exists()
