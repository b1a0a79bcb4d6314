"""Gems made in Python (a .gem as `gem build` writes it), and running the real `gem` and `bundle`
against a live appliance with a home, gem directory and bundle of their own."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

from tests.support.maven import RunResult


def _requirement_yaml(requirements: list[tuple[str, str]], indent: str) -> str:
    lines = [f"{indent}requirements:"]
    for op, version in requirements:
        lines += [f'{indent}- - "{op}"', f"{indent}  - !ruby/object:Gem::Version", f"{indent}    version: '{version}'"]
    return "\n".join(lines)


def gemspec_yaml(name: str, version: str, *, platform: str = "ruby", metadata: dict[str, str] | None = None,
                 dependencies: list[tuple[str, list[tuple[str, str]]]] = (), summary: str | None = None) -> str:
    """metadata.gz's YAML as rubygems 3.3 writes it."""
    deps = []
    for dep_name, requirements in dependencies:
        deps.append(f"- !ruby/object:Gem::Dependency\n  name: {dep_name}\n  requirement: !ruby/object:Gem::Requirement\n"
                    f"{_requirement_yaml(requirements, '    ')}\n  type: :runtime\n  prerelease: false\n"
                    f"  version_requirements: !ruby/object:Gem::Requirement\n{_requirement_yaml(requirements, '    ')}")
    meta = "".join(f"\n  {k}: {v}" for k, v in (metadata or {}).items()) or " {}"
    return (f"--- !ruby/object:Gem::Specification\nname: {name}\nversion: !ruby/object:Gem::Version\n"
            f"  version: '{version}'\nplatform: {platform}\nauthors:\n- Tester\ndate: 2024-05-01 00:00:00.000000000 Z\n"
            f"dependencies:{(chr(10) + chr(10).join(deps)) if deps else ' []'}\nfiles:\n- lib/{name}.rb\n"
            f"licenses:\n- MIT\nmetadata:{meta}\nrequire_paths:\n- lib\n"
            f"required_ruby_version: !ruby/object:Gem::Requirement\n{_requirement_yaml([('>=', '0')], '  ')}\n"
            f"required_rubygems_version: !ruby/object:Gem::Requirement\n{_requirement_yaml([('>=', '0')], '  ')}\n"
            f"rubygems_version: 3.3.15\nspecification_version: 4\nsummary: {summary or name + ' for tests'}\n")


def tar_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o444
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gem_members(spec_yaml: str, name: str = "demo", *, with_checksums: bool = True) -> dict[str, bytes]:
    """The members of a .gem: metadata.gz, data.tar.gz (one file, unique to the spec) and checksums."""
    metadata = gzip.compress(spec_yaml.encode(), mtime=0)
    source = f"# {hashlib.sha256(spec_yaml.encode()).hexdigest()}\nmodule Demo; end\n".encode()
    data = gzip.compress(tar_of({f"lib/{name}.rb": source}), mtime=0)
    members = {"metadata.gz": metadata, "data.tar.gz": data}
    if with_checksums:
        sums = "---\nSHA256:\n" + "".join(
            f"  {m}: {hashlib.sha256(members[m]).hexdigest()}\n" for m in ("metadata.gz", "data.tar.gz"))
        members["checksums.yaml.gz"] = gzip.compress(sums.encode(), mtime=0)
    return members


def gem_bytes(name: str, version: str, **spec) -> bytes:
    """A valid .gem of NAME and VERSION (options as `gemspec_yaml`)."""
    return tar_of(gem_members(gemspec_yaml(name, version, **spec), name))


class RubyClients:
    """`gem` and `bundle` with a home, gem directory, spec cache and bundle of their own under `workdir`.

    With `hosts_file`, they run in a mount namespace of their own where that file is /etc/hosts, so
    names such as `rubygems.appliance.test` resolve for them alone (needs root).
    """

    def __init__(self, workdir: Path, *, hosts_file: Path | None = None):
        self.workdir = workdir
        self.hosts_file = hosts_file
        workdir.mkdir(parents=True, exist_ok=True)
        home = workdir / "home"
        home.mkdir(exist_ok=True)
        self.gem_home = workdir / "gems"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GEM_HOME": str(self.gem_home),
            "GEM_PATH": str(self.gem_home),
            "GEM_SPEC_CACHE": str(workdir / "spec-cache"),
            "BUNDLE_USER_HOME": str(workdir / "bundle-home"),
            "BUNDLE_PATH": str(workdir / "bundle"),
            "BUNDLE_APP_CONFIG": str(workdir / "project" / ".bundle"),
            "LANG": "C.UTF-8",
        }

    def write_gemspec(self, name: str, version: str, *, platform: str | None = None,
                      metadata: dict[str, str] | None = None, dependencies: dict[str, str] | None = None) -> Path:
        """A gem project in its own directory, for `gem build`."""
        project = self.workdir / f"src-{name}-{version}-{platform or 'ruby'}"
        (project / "lib").mkdir(parents=True, exist_ok=True)
        (project / "lib" / f"{name}.rb").write_text(f'module {name.title().replace("_", "").replace("-", "")}\n'
                                                    f'  VERSION = "{version}"\nend\n')
        lines = ["Gem::Specification.new do |s|", f"  s.name = {name!r}", f"  s.version = {version!r}",
                 f"  s.summary = {name + ' for tests'!r}", '  s.authors = ["Tester"]',
                 f"  s.files = [\"lib/{name}.rb\"]", '  s.license = "MIT"']
        if platform:
            lines.append(f"  s.platform = {platform!r}")
        if metadata:
            lines.append(f"  s.metadata = {{{', '.join(f'{k!r} => {v!r}' for k, v in metadata.items())}}}")
        for dependency, requirement in (dependencies or {}).items():
            lines.append(f"  s.add_dependency {dependency!r}, {requirement!r}")
        lines.append("end")
        (project / f"{name}.gemspec").write_text("\n".join(lines) + "\n")
        return project

    def build(self, name: str, version: str, **options) -> Path:
        """`gem build`: the path of the .gem it wrote."""
        project = self.write_gemspec(name, version, **options)
        done = self.run("gem", "build", f"{name}.gemspec", cwd=project)
        assert done.returncode == 0, done.output
        return next(project.glob("*.gem"))

    def run(self, *command: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: int = 180) -> RunResult:
        argv = list(command)
        if self.hosts_file is not None:
            argv = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                    str(self.hosts_file), *argv]
        done = subprocess.run(argv, check=False, cwd=cwd or self.workdir, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        return RunResult(done.returncode, done.stdout, done.stderr)

    def push(self, gem: Path, host: str, key: str | None) -> RunResult:
        return self.run("gem", "push", str(gem), "--host", host, env={"GEM_HOST_API_KEY": key or ""})

    def install(self, name: str, source: str, *extra: str) -> RunResult:
        return self.run("gem", "install", name, "--clear-sources", "--source", source, "--install-dir",
                        str(self.gem_home), "--no-document", *extra)

    def installed(self) -> list[str]:
        """NAME-VERSION[-PLATFORM] of every gem installed by `gem install` or bundler."""
        found = {p.name.removesuffix(".gemspec") for p in self.gem_home.glob("specifications/*.gemspec")}
        found |= {p.name.removesuffix(".gemspec")
                  for p in (self.workdir / "bundle").glob("ruby/*/specifications/*.gemspec")}
        return sorted(found)

    def bundle_install(self, source: str, gems: dict[str, str | None], *, env: dict[str, str] | None = None,
                       config: dict[str, str] | None = None) -> RunResult:
        """`bundle install` of a Gemfile with `source` alone; `config` is `bundle config set --local`."""
        project = self.workdir / "project"
        project.mkdir(exist_ok=True)
        lines = [f'source "{source}"', ""]
        lines += [f'gem "{name}"' + (f', "{requirement}"' if requirement else "") for name, requirement in gems.items()]
        (project / "Gemfile").write_text("\n".join(lines) + "\n")
        for key, value in (config or {}).items():
            done = self.run("bundle", "config", "set", "--local", key, value, cwd=project)
            assert done.returncode == 0, done.output
        return self.run("bundle", "install", "--jobs", "4", cwd=project, env=env)
