"""An S3-compatible store for tests: moto's server (`moto[server]`, the test extra) on a free loopback
port, started and stopped by the tests; a bucket per test; and a server that answers 500 to everything,
for the faults a real store has."""
from __future__ import annotations

import contextlib
import http.server
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

from tests.support.live import free_port

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


class MotoServer:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - written until stop()
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                         "-p", str(self.port)], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                requests.get(f"{self.endpoint_url}/moto-api/", timeout=2)
                return self
            time.sleep(0.2)
        raise RuntimeError("moto_server did not answer within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self._log.close()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"appliance-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def options(self, bucket: str | None = None, **more) -> dict:
        """[storage] options of appliance.toml for a bucket of this server (a new one by default)."""
        return {"endpoint_url": self.endpoint_url, "bucket": bucket or self.new_bucket(), **CREDENTIALS,
                **more}


class _Failing(http.server.BaseHTTPRequestHandler):
    def _fail(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _fail

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def failing_store():
    """An endpoint URL whose every answer is a 500 InternalError."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
