"""The real Docker daemon (Debian's docker.io) and CLI for client tests: dockerd without networking, on
the vfs storage driver, in a mount namespace whose /etc/hosts resolves docker.HOST (tests/support/skopeo.py's
trick, as the daemon is what talks to registries), with a socket, data root and CLI config of its own."""
from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

from tests.support.live import stop_process
from tests.support.maven import RunResult

DOCKER = "/usr/bin/docker"  # the CLI of docker.io, the daemon's own version


class Dockerd:
    """`etc_docker`, when given, is mounted as the daemon's /etc/docker: its certs.d/HOST:PORT/ca.crt is the
    CA the daemon trusts for that registry (read at each connection), and the machine's is left alone."""

    def __init__(self, root: Path, hosts_file: Path, *, etc_docker: Path | None = None):
        self.root = root
        self.hosts_file = hosts_file
        self.etc_docker = etc_docker
        self.socket = root / "docker.sock"
        self.log_path = root / "dockerd.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Dockerd:
        self.root.mkdir(parents=True, exist_ok=True)
        command = ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                   "--pidfile", str(self.root / "dockerd.pid"), "-H", f"unix://{self.socket}",
                   "--storage-driver", "vfs", "--iptables=false", "--ip6tables=false", "--bridge=none",
                   "--insecure-registry", "127.0.0.0/8"]
        mounts = f"mount --bind {shlex.quote(str(self.hosts_file))} /etc/hosts && "
        if self.etc_docker is not None:
            self.etc_docker.mkdir(parents=True, exist_ok=True)
            # /etc/docker is where dockerd would make it on its first start anyway.
            mounts += f"mkdir -p /etc/docker && mount --bind {shlex.quote(str(self.etc_docker))} /etc/docker && "
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(["unshare", "-m", "sh", "-c", f'{mounts}exec "$@"', "dockerd", *command],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.run("version", config=self.root / "cli-probe").returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=30)

    def run(self, *args: str, config: Path, input: str | None = None, timeout: int = 300) -> RunResult:
        """The docker CLI against this daemon, with `config` as its DOCKER_CONFIG (the logins it keeps)."""
        env = dict(os.environ, DOCKER_HOST=f"unix://{self.socket}", DOCKER_CONFIG=str(config))
        completed = subprocess.run([DOCKER, *args], check=False, capture_output=True, text=True, timeout=timeout,
                                   env=env, input=input)
        return RunResult(completed.returncode, completed.stdout, completed.stderr)
