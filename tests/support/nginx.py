"""TLS in front of live appliances, the way production runs them: a test certificate authority, a server
certificate for HOST and *.HOST signed by it, and nginx started from `config/nginx.conf.example` (the
host name, the upstream servers, the listening ports and the certificate paths filled in; nothing else
changed) in front of one or more appliance nodes.

    ca = TestCA(tmp_path / "ca", "packages.test")
    with NginxProxy(tmp_path / "nginx", ca, [node1.address, node2.address]) as proxy:
        requests.get(f"{proxy.origin}/_health", verify=str(ca.cert))

Clients trust the CA with `ca.client_env()` (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, ...), Java with
`ca.java_truststore()`. HOST and its subdomains resolve to 127.0.0.1 only through a hosts file mounted
in a namespace of the client's own (`hosts_file()`; see CLIENTS.md), so tests that run clients by name
need root; tests that only use `requests` connect to 127.0.0.1 and send the Host header themselves
(`proxy.session()`).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from tests.support.live import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "nginx.conf.example"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class TestCA:
    """A throwaway certificate authority and one server certificate for `hostname` and `*.hostname`
    (and 127.0.0.1), written under `directory`. Use a host name with a dot in it (`packages.test`):
    TLS libraries refuse a wildcard directly under a single label such as `*.localhost`."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, hostname: str = "packages.test"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hostname = hostname
        self.cert = self.directory / "ca.pem"
        self.key = self.directory / "ca.key"
        self.server_cert = self.directory / "server.pem"
        self.server_key = self.directory / "server.key"
        self._make()

    def _make(self) -> None:
        d = self.directory
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3",
                 "-keyout", self.key.name, "-out", self.cert.name, "-subj", "/CN=Appliance Test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        (d / "server.ext").write_text(
            f"subjectAltName=DNS:{self.hostname},DNS:*.{self.hostname},IP:127.0.0.1\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", self.server_key.name,
                 "-out", "server.csr", "-subj", f"/CN={self.hostname}", cwd=d)
        _openssl("x509", "-req", "-in", "server.csr", "-CA", self.cert.name, "-CAkey", self.key.name,
                 "-CAcreateserial", "-sha256", "-days", "3", "-out", self.server_cert.name,
                 "-extfile", "server.ext", cwd=d)

    def client_env(self) -> dict[str, str]:
        """Variables that make OpenSSL- and Go-based clients (gh, gem, curl, skopeo), node (npm) and
        Python's requests trust this CA, and only it, for the process they are given to."""
        cert = str(self.cert)
        return {"SSL_CERT_FILE": cert, "NODE_EXTRA_CA_CERTS": cert, "REQUESTS_CA_BUNDLE": cert,
                "CURL_CA_BUNDLE": cert}

    def cert_dir(self) -> Path:
        """A directory holding the CA as `ca.crt`: skopeo's `--cert-dir` (containers' certs.d layout)."""
        directory = self.directory / "certs.d"
        directory.mkdir(exist_ok=True)
        shutil.copy(self.cert, directory / "ca.crt")
        return directory

    def java_truststore(self, password: str = "changeit") -> Path:
        """A PKCS#12 truststore with the CA, for `-Djavax.net.ssl.trustStore=...` (mvn, gradle)."""
        store = self.directory / "truststore.p12"
        if not store.exists():
            subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "appliance-test-ca",
                            "-file", str(self.cert), "-keystore", str(store), "-storetype", "PKCS12",
                            "-storepass", password], check=True, capture_output=True)
        return store

    def hosts_file(self, subdomains=("npm", "rubygems", "maven", "nuget", "docker")) -> Path:
        """A hosts file resolving HOST and its registry subdomains to 127.0.0.1, for
        `unshare -m sh -c 'mount --bind FILE /etc/hosts && exec CLIENT ...'`."""
        path = self.directory / "hosts"
        names = " ".join([self.hostname, *(f"{s}.{self.hostname}" for s in subdomains)])
        path.write_text(f"127.0.0.1 localhost\n127.0.0.1 {names}\n")
        return path


def has_ipv6_loopback() -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        return True
    return False


def render_config(example: str, *, hostname: str, upstreams: list[str], https_port: int, http_port: int,
                  certificate: Path, certificate_key: Path, ipv6: bool = False) -> str:
    """The site configuration of `config/nginx.conf.example` for this test: HOSTNAME, the upstream
    servers, the ports and the certificate paths replaced; listeners on loopback only: the IPv6 ones on
    [::1] with `ipv6`, else dropped."""
    text = example.replace("HOSTNAME", hostname)
    servers = "".join(f"    server {address} max_fails=1 fail_timeout=5s;\n" for address in upstreams)
    text, count = re.subn(r"    server 127\.0\.0\.1:8080;\n", servers, text)
    assert count == 1, "config/nginx.conf.example no longer has the `server 127.0.0.1:8080;` upstream line"
    if ipv6:
        text = text.replace("listen [::]:80;", f"listen [::1]:{http_port};")
        text = text.replace("listen [::]:443 ssl", f"listen [::1]:{https_port} ssl")
    text = re.sub(r"^\s*listen \[::\].*\n", "", text, flags=re.MULTILINE)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate     {certificate};", text)
    text = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {certificate_key};", text)
    return text


class _HostAdapter(HTTPAdapter):
    """Connects to 127.0.0.1 for HOST and *.HOST (keeping the Host header), checking nginx's certificate
    against HOST: so `requests` reaches https://npm.HOST:PORT/ without a hosts file."""

    def __init__(self, hostname: str):
        self._hostname = hostname
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs.update(server_hostname=self._hostname, assert_hostname=self._hostname)
        super().init_poolmanager(*args, **kwargs)

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        if parts.hostname == self._hostname or (parts.hostname or "").endswith("." + self._hostname):
            request.headers["Host"] = parts.netloc
            request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port or 443}"))
        return super().send(request, **kwargs)


class NginxProxy:
    """nginx terminating TLS for `ca.hostname` and `*.ca.hostname` on a free loopback port, balancing
    over `upstreams` ("127.0.0.1:PORT" each). The appliances behind it need `trusted_proxies = 1`."""

    def __init__(self, directory: Path, ca: TestCA, upstreams: list[str]):
        self.directory = Path(directory)
        self.ca = ca
        self.hostname = ca.hostname
        self.upstreams = list(upstreams)
        # dockerd takes any registry at an address in 127.0.0.0/8 for insecure (TLS unverified, plain
        # HTTP tried): a test of its TLS reaches nginx at [::1].
        self.ipv6 = has_ipv6_loopback()
        self.port = free_port()
        self.http_port = free_port()
        self.process: subprocess.Popen | None = None
        self.config_path = self.directory / "nginx.conf"
        self.error_log = self.directory / "error.log"
        self.access_log = self.directory / "access.log"

    @property
    def origin(self) -> str:
        """https://HOST:PORT, as clients see the appliance."""
        return f"https://{self.hostname}:{self.port}"

    def url(self, subdomain: str = "") -> str:
        host = f"{subdomain}.{self.hostname}" if subdomain else self.hostname
        return f"https://{host}:{self.port}"

    def write_config(self) -> Path:
        d = self.directory
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / "temp" / name).mkdir(parents=True, exist_ok=True)
        site = render_config(EXAMPLE.read_text(), hostname=self.hostname, upstreams=self.upstreams,
                             https_port=self.port, http_port=self.http_port,
                             certificate=self.ca.server_cert, certificate_key=self.ca.server_key,
                             ipv6=self.ipv6)
        # Only the frame a distribution's /etc/nginx/nginx.conf gives a site file, pointed at this dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.config_path.write_text(
            f"{user}worker_processes 1;\npid {d / 'nginx.pid'};\nerror_log {self.error_log} info;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"    access_log {self.access_log};\n"
            f"    client_body_temp_path {d / 'temp/body'};\n    proxy_temp_path {d / 'temp/proxy'};\n"
            f"    fastcgi_temp_path {d / 'temp/fastcgi'};\n    uwsgi_temp_path {d / 'temp/uwsgi'};\n"
            f"    scgi_temp_path {d / 'temp/scgi'};\n"
            "    types { application/octet-stream bin; }\n"
            f"{site}\n}}\n")
        return self.config_path

    def start(self) -> NginxProxy:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write_config()
        command = [NGINX, "-p", str(self.directory), "-e", str(self.error_log), "-c", str(self.config_path)]
        check = subprocess.run([*command, "-t"], check=False, capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused the test configuration:\n{check.stderr}")
        self.process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log.read_text()[-3000:]}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                self.session().get(f"{self.origin}/_health", timeout=2)
                return self
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer within 15 s: {self.error_log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process, timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def session(self) -> requests.Session:
        """A requests session that trusts the test CA and reaches HOST and *.HOST on 127.0.0.1."""
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace `verify`
        session.verify = str(self.ca.cert)
        session.mount("https://", _HostAdapter(self.hostname))
        return session
