"""Several appliance nodes behind nginx, the way an enterprise outgrows one machine: separate
APPLIANCE_HOMEs sharing one PostgreSQL database, one store (a shared directory, or an S3 bucket of moto's
server) and one secret key, with nginx from config/nginx.conf.example terminating TLS for HOST and *.HOST
with a test CA and balancing over them. On S3, blob downloads are redirected to the store
(`redirect_downloads`), as a deployment that keeps the bytes off its nodes runs.

The database is PostgreSQL whatever engine the run tests (APPLIANCE_TEST_DATABASE): one SQLite file cannot
be shared by machines, and PostgreSQL is always at 127.0.0.1:5432 here and in CI.

    with Cluster(tmp_path, store="s3", moto=moto) as cluster:
        cluster.nodes[0].user("alice")
        cluster.proxy.session().get(f"{cluster.proxy.url('npm')}/...")
"""
from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import Self

from appliance.settings import Bootstrap
from tests.support.databases import create_postgresql_database, drop_database
from tests.support.live import LiveAppliance
from tests.support.nginx import NginxProxy, TestCA
from tests.support.s3 import MotoServer

HOSTNAME = "packages.test"


def shared_bootstrap(root: Path, store: str, moto: MotoServer | None) -> Bootstrap:
    """What every node's appliance.toml says: the one database, the one store, the one secret key."""
    if store == "s3":
        if moto is None:
            raise ValueError("an S3 store needs moto's server")
        backend, options = "s3", moto.options(prefix="appliance", redirect_downloads=True)
    elif store == "local":
        backend, options = "local", {}
    else:
        raise ValueError(f"store must be local or s3, not {store!r}")
    return Bootstrap(home=root, database_url=create_postgresql_database(), storage_backend=backend,
                     storage_path=root / "shared-store", storage_options=options,
                     secret_key=secrets.token_hex(32), trusted_proxies=1)


class Cluster:
    def __init__(self, root: Path, *, store: str = "local", moto: MotoServer | None = None, nodes: int = 2,
                 workers: int = 2):
        self.root = Path(root)
        self.store = store
        self.moto = moto
        self.ca = TestCA(self.root / "ca", HOSTNAME)
        self.bootstrap = shared_bootstrap(self.root, store, moto)
        self.bootstrap.storage_path.mkdir(parents=True, exist_ok=True)
        self.nodes = [LiveAppliance(self.root / f"node{i + 1}", workers=workers, bootstrap=self.bootstrap)
                      for i in range(nodes)]
        self.nodes[0].set("hostname", HOSTNAME)
        self.proxy = NginxProxy(self.root / "nginx", self.ca, [node.address for node in self.nodes])

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        self.proxy.start()
        return self

    def stop(self) -> None:
        self.proxy.stop()
        for node in self.nodes:
            node.stop()
        drop_database(self.bootstrap.database_url)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def node_bootstrap(self, index: int, **changes) -> Bootstrap:
        """Node `index`'s bootstrap, with `changes`: for a process started on that node."""
        return dataclasses.replace(self.nodes[index].bootstrap, **changes)
