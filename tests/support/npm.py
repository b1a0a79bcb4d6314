"""Running the real npm client against a live appliance, with a project-local .npmrc and cache."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class NpmResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Npm:
    """npm in its own directory: `.npmrc` maps the scope to `registry` and carries `token`.

    With `hosts_file`, npm runs in a mount namespace of its own where that file is /etc/hosts, so
    names such as `npm.appliance.test` resolve for this npm process only (needs root).
    """

    def __init__(self, workdir: Path, registry: str, scope: str, token: str | None, *,
                 hosts_file: Path | None = None):
        self.workdir = workdir
        self.registry = registry
        self.hosts_file = hosts_file
        # Beside the project, never in it: `npm publish` packs whatever the project directory holds.
        self.cache = workdir.parent / f"{workdir.name}.npm-cache"
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [f"@{scope}:registry={registry}"]
        if token:
            lines.append(f"//{registry.split('://', 1)[1]}:_authToken={token}")
        (workdir / ".npmrc").write_text("\n".join(lines) + "\n")
        self.env = dict(
            os.environ,
            npm_config_cache=str(self.cache),
            # Never the user's own ~/.npmrc: only this directory's settings apply.
            npm_config_userconfig=str(workdir / ".npmrc-user"),
            npm_config_update_notifier="false",
            npm_config_audit="false",
            npm_config_fund="false",
        )

    def write_package(self, name: str, version: str, **fields) -> None:
        manifest = {"name": name, "version": version, "main": "index.js", **fields}
        (self.workdir / "package.json").write_text(json.dumps(manifest, indent=2))
        (self.workdir / "index.js").write_text(f"module.exports = {json.dumps(name + '@' + version)};\n")
        (self.workdir / "README.md").write_text(f"# {name}\n\nVersion {version}.\n")

    def write_consumer(self) -> None:
        """An empty project to install into."""
        (self.workdir / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0"}))

    def installed_version(self, name: str) -> str | None:
        """The version of `name` in node_modules, or None when it is not installed."""
        manifest = self.workdir / "node_modules" / name / "package.json"
        return json.loads(manifest.read_text())["version"] if manifest.exists() else None

    def cached_responses(self) -> list[dict]:
        """What npm's HTTP cache kept of each response: `url`, `reqHeaders` and `resHeaders`."""
        entries = []
        for index in sorted((self.cache / "_cacache" / "index-v5").rglob("*")):
            if index.is_file():
                for line in index.read_text().splitlines():
                    _, _, entry = line.partition("\t")
                    metadata = json.loads(entry).get("metadata") if entry else None
                    if metadata:  # entries without metadata mark removals
                        entries.append(metadata)
        return entries

    def run(self, *args: str, timeout: int = 120) -> NpmResult:
        """npm ARGS in the work directory; commands without a package name use `--registry` too."""
        command = ["npm", *args, "--registry", self.registry]
        if self.hosts_file is not None:
            command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                       str(self.hosts_file), *command]
        completed = subprocess.run(command, check=False, cwd=self.workdir, env=self.env, capture_output=True,
                                   text=True, timeout=timeout)
        return NpmResult(completed.returncode, completed.stdout, completed.stderr)
