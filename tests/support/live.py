"""A real appliance for integration tests: its own home, gunicorn on a free loopback port, and
direct access to its database for arranging users, repositories and tokens."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from appliance.accounts import service as accounts
from appliance.auth.tokens import issue_token
from appliance.db import database, open_database
from appliance.migrate import migrate
from appliance.settings import Bootstrap, store_setting
from tests.support.databases import bootstrap_for_tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen | None, *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LiveAppliance:
    """One appliance node. `bootstrap` (its home replaced by `home`) lets several nodes share a
    database, a store and a secret key; by default the node has the embedded default of its own."""

    def __init__(self, home: Path, *, workers: int = 2, bootstrap: Bootstrap | None = None):
        self.home = home
        if bootstrap is None:
            bootstrap = bootstrap_for_tests(home)
            bootstrap.storage_path.mkdir(parents=True, exist_ok=True)
        self.bootstrap = dataclasses.replace(bootstrap, home=home)
        self.bootstrap.write()
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = home / "server.log"
        with self.db():
            migrate(database.obj)

    @contextlib.contextmanager
    def db(self):
        """Point the models at this appliance's database for the duration of the block."""
        db = open_database(self.bootstrap.database_url)
        try:
            with db.connection_context():
                yield db
        finally:
            close_all = getattr(db, "close_all", None)
            if close_all:  # a pool's connections would otherwise stay open until the test process ends
                close_all()

    # ---- the server ----

    @property
    def address(self) -> str:
        """host:port, as an upstream of nginx (tests/support/nginx.py)."""
        return f"127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveAppliance:
        env = dict(os.environ, APPLIANCE_HOME=str(self.home))
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - the server writes to it until stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the appliance exited: {self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(f"{self.origin}/_health", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"the appliance did not answer within 30 s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process, timeout=20)
        if self.process:
            self._log.close()

    def worker_pids(self) -> list[int]:
        """The gunicorn workers' process ids (the master's children)."""
        if self.process is None or self.process.poll() is not None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def kill(self) -> None:
        """`kill -9` of the node, as a machine that loses power: the master and every worker at once,
        with no request allowed to finish."""
        for pid in [*self.worker_pids(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    # ---- arranging data ----

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """`appliance ARGS` on this appliance's home, as its administrator runs it."""
        return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                              env=dict(os.environ, APPLIANCE_HOME=str(self.home)), check=False, timeout=60)

    def set(self, key: str, value) -> None:
        with self.db():
            store_setting(key, value)

    def user(self, login: str, *, site_admin: bool = False):
        with self.db():
            return accounts.create_user(login, password=f"{login}-password", site_admin=site_admin)

    def org(self, login: str, owner: str):
        with self.db():
            return accounts.create_organization(login, accounts.get_user(owner))

    def repo(self, full_name: str, visibility: str = "public"):
        owner, name = accounts.split_full_name(full_name)
        with self.db():
            return accounts.create_repository(accounts.get_account(owner), name, visibility)

    def grant(self, full_name: str, login: str, role: str) -> None:
        with self.db():
            accounts.grant(accounts.get_repository(full_name), accounts.get_user(login), role)

    def token(self, login: str, scopes: str = "read:packages,write:packages", **options) -> str:
        with self.db():
            wanted = [s for s in scopes.split(",") if s]
            return issue_token(accounts.get_user(login), wanted, **options)[1]


@contextlib.contextmanager
def subdomain_appliance(root: Path, hostname: str, fmt: str):
    """A running appliance with subdomain isolation on for `hostname`, and a hosts file that resolves
    it and `fmt.hostname` to 127.0.0.1, for clients run in a mount namespace of their own (needs root).
    Yields (appliance, hosts file)."""
    appliance = LiveAppliance(root / "home")
    appliance.set("hostname", hostname)
    appliance.set("subdomain_isolation", True)
    hosts_file = root / "hosts"
    hosts_file.write_text(f"127.0.0.1 localhost\n127.0.0.1 {hostname} {fmt}.{hostname}\n")
    appliance.start()
    try:
        yield appliance, hosts_file
    finally:
        appliance.stop()
