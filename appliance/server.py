"""Running the web application under gunicorn with threaded workers."""
from __future__ import annotations

import select
import socket
from pathlib import Path

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.sock import TCPSocket
from gunicorn.workers.gthread import ThreadWorker

# Seconds an idle kept-alive connection waits for its next request (npm, mvn, NuGet and docker reuse
# their connections between the requests of an install).
KEEPALIVE = 5
# The first bytes of a TLS ClientHello: a record of type handshake (22), protocol version 3.x.
TLS_HANDSHAKE = b"\x16\x03"
# How long a new connection's thread waits for its first bytes before parsing as gunicorn does anyway.
FIRST_BYTES_WAIT_MS = 1000


class ApplianceServer(BaseApplication):
    def __init__(self, home: Path, options: dict):
        self.home = home
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app after the fork, so no database connection crosses processes.
        from appliance import create_app

        return create_app(home=self.home)


class SpreadWorker(ThreadWorker):
    """A threaded worker that also listens on a socket of its own, bound to the same address with
    SO_REUSEPORT, beside the one the master shares with every worker.

    A kept-alive connection stays with the worker that accepted it. On the shared socket alone, the
    worker that happens to wake first accepts most of a burst of new connections (measured: one worker
    took all 16 of wrk's, and served half of what two do). With a socket per worker the kernel hashes
    each new connection onto one of the listening sockets, so connections, and the requests they carry,
    spread over the workers whatever each is doing at that moment.
    """

    def init_process(self):
        own = [type(listener)(listener.cfg_addr, self.cfg, self.log)
               for listener in self.sockets if isinstance(listener, TCPSocket)]
        self.sockets = [*self.sockets, *own]
        super().init_process()

    def handle(self, conn):
        """skopeo and docker try HTTPS first on a registry they are told is insecure, and fall back to
        HTTP when the answer is not TLS. gunicorn parsed each ClientHello as a request line and logged a
        WARNING ("Invalid HTTP request line: 'bare LF as line terminator'"), which reads like a fault.
        The same 400 goes back, and the log says in one INFO line what it was."""
        if not conn.initialized and not self.cfg.is_ssl and _opens_with_tls_handshake(conn.sock):
            self.log.info("TLS handshake from ip=%s on this plain-HTTP port (a client trying HTTPS "
                          "first, as skopeo and docker do): answered 400, the client retries over HTTP",
                          conn.client[0] if isinstance(conn.client, tuple) else conn.client)
            try:
                conn.sock.setblocking(True)
                util.write_error(conn.sock, 400, "Bad Request", "This port speaks plain HTTP, not HTTPS.")
            except OSError:
                pass
            return False
        return super().handle(conn)


def _opens_with_tls_handshake(client: socket.socket) -> bool:
    """Whether the connection's first bytes, once they arrive (read without taking them), are a TLS
    ClientHello."""
    waiting = select.poll()
    waiting.register(client, select.POLLIN)
    if not waiting.poll(FIRST_BYTES_WAIT_MS):
        return False
    try:
        return client.recv(len(TLS_HANDSHAKE), socket.MSG_PEEK) == TLS_HANDSHAKE
    except OSError:
        return False


def _child_exit(server, worker) -> None:
    from appliance.metrics import worker_exited

    worker_exited(worker.pid)


def _post_fork(server, worker) -> None:
    from appliance.metrics import worker_started

    worker_started(worker.age, server.num_workers)


def gunicorn_options(*, bind: str, workers: int, threads: int) -> dict:
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "appliance.server.SpreadWorker",
        # Every worker's socket and the master's form one SO_REUSEPORT group (see SpreadWorker).
        "reuse_port": True,
        "keepalive": KEEPALIVE,
        # Kept-alive connections wait in the worker's poller, not in a thread: a worker holds up to this
        # many connections and serves `threads` requests of them at a time.
        "worker_connections": 1000,
        # Large uploads and downloads stream for minutes; the timeout is for stuck workers only.
        "timeout": 600,
        "graceful_timeout": 30,
        "accesslog": "-",
        # gunicorn's default line, and the id each answer carries (X-Request-Id), so the site administrators
        # find the request a user reports by the id their client or page showed.
        "access_log_format": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" request_id=%({x-request-id}o)s',
        "proc_name": "appliance",
    }


def run_gunicorn(home: Path, *, bind: str, workers: int, threads: int, metrics: bool = False) -> None:
    """Serve the appliance of `home`; with `metrics`, the workers share a fresh multiprocess directory."""
    hooks = {}
    if metrics:
        from appliance.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(home, bind)
        hooks = {"child_exit": _child_exit, "post_fork": _post_fork}
    ApplianceServer(home, {**hooks, **gunicorn_options(bind=bind, workers=workers, threads=threads)}).run()
