"""Running skopeo (and other OCI clients) against a live appliance whose docker.HOST resolves for the
client process alone: a mount namespace of its own with its own /etc/hosts (needs root)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.maven import RunResult


def run_with_hosts(hosts_file: Path, command: list[str], *, env: dict | None = None, cwd: Path | None = None,
                   timeout: int = 180) -> RunResult:
    wrapped = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts_file), *command]
    completed = subprocess.run(wrapped, check=False, capture_output=True, text=True, timeout=timeout,
                               env=env, cwd=cwd)
    return RunResult(completed.returncode, completed.stdout, completed.stderr)


class Skopeo:
    """skopeo with a HOME of its own (no stored logins), talking plain HTTP to `registry` (HOST:PORT)."""

    def __init__(self, hosts_file: Path, registry: str, home: Path):
        self.hosts_file = hosts_file
        self.registry = registry
        home.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home), REGISTRY_AUTH_FILE=str(home / "auth.json"))

    def ref(self, image: str) -> str:
        return f"docker://{self.registry}/{image}"

    def run(self, *args: str, timeout: int = 180) -> RunResult:
        return run_with_hosts(self.hosts_file, ["skopeo", *args], env=self.env, timeout=timeout)

    def copy(self, source: str, destination: str, creds: str | None, *extra: str) -> RunResult:
        options = []
        if source.startswith("docker://"):
            options += ["--src-tls-verify=false"] + ([f"--src-creds={creds}"] if creds else ["--src-no-creds"])
        if destination.startswith("docker://"):
            options += ["--dest-tls-verify=false"] + ([f"--dest-creds={creds}"] if creds else ["--dest-no-creds"])
        return self.run("copy", *options, *extra, source, destination)

    def remote(self, command: str, image: str, creds: str | None, *extra: str) -> RunResult:
        """inspect, list-tags or delete of a remote image."""
        auth = [f"--creds={creds}"] if creds else ["--no-creds"]
        return self.run(command, "--tls-verify=false", *auth, *extra, self.ref(image))
