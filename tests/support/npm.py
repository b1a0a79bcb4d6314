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
    """npm in its own directory: `.npmrc` maps the scope to `registry` and carries `token`."""

    def __init__(self, workdir: Path, registry: str, scope: str, token: str | None):
        self.workdir = workdir
        self.registry = registry
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [f"@{scope}:registry={registry}"]
        if token:
            lines.append(f"//{registry.split('://', 1)[1]}:_authToken={token}")
        (workdir / ".npmrc").write_text("\n".join(lines) + "\n")
        self.env = dict(
            os.environ,
            npm_config_cache=str(workdir / ".npm-cache"),
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

    def run(self, *args: str, timeout: int = 120) -> NpmResult:
        """npm ARGS in the work directory; commands without a package name use `--registry` too."""
        completed = subprocess.run(["npm", *args, "--registry", self.registry], check=False, cwd=self.workdir,
                                   env=self.env, capture_output=True, text=True, timeout=timeout)
        return NpmResult(completed.returncode, completed.stdout, completed.stderr)
