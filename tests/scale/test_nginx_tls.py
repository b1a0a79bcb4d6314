"""nginx from config/nginx.conf.example terminating TLS with the test CA in front of a live appliance."""
from __future__ import annotations

import dataclasses
import re

import pytest
import requests

from appliance.server import KEEPALIVE
from tests.support.live import LiveAppliance
from tests.support.nginx import EXAMPLE, NginxProxy, TestCA, render_config


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls")
    ca = TestCA(root / "ca", "packages.test")
    node = LiveAppliance(root / "home")
    node.bootstrap = dataclasses.replace(node.bootstrap, trusted_proxies=1)
    node.bootstrap.write()
    node.set("hostname", ca.hostname)
    node.start()
    with NginxProxy(root / "nginx", ca, [node.address]) as proxy:
        yield node, proxy
    node.stop()


def test_the_rendered_config_is_the_example_with_only_test_values_replaced():
    example = EXAMPLE.read_text()
    rendered = render_config(example, hostname="packages.test", upstreams=["127.0.0.1:1", "127.0.0.1:2"],
                             https_port=8443, http_port=8080, certificate="/c.pem", certificate_key="/c.key")
    assert "server_name packages.test *.packages.test;" in rendered
    assert "server 127.0.0.1:1 " in rendered and "server 127.0.0.1:2 " in rendered
    assert "listen 127.0.0.1:8443 ssl http2;" in rendered
    kept = [line for line in example.splitlines() if "proxy_" in line or "client_max_body_size" in line]
    assert kept and all(line in rendered for line in kept)


def test_the_appliance_answers_over_https_for_the_host_and_its_subdomains(proxied):
    _node, proxy = proxied
    session = proxy.session()
    assert session.get(f"{proxy.origin}/_health").status_code == 200
    npm = session.get(f"{proxy.url('npm')}/@nobody/nothing")
    assert npm.status_code == 401 and "_authToken" in npm.json()["error"]  # the npm registry answered
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://127.0.0.1:{proxy.port}/_health", timeout=5)  # not trusted without the CA


def test_urls_the_appliance_prints_carry_the_https_origin_clients_used(proxied):
    _node, proxy = proxied
    challenge = proxy.session().get(f"{proxy.url('docker')}/v2/")
    assert challenge.status_code == 401, challenge.text
    assert f'realm="{proxy.url("docker")}/' in challenge.headers["WWW-Authenticate"], challenge.headers


def test_nginx_drops_idle_upstream_connections_before_gunicorn_does():
    """Otherwise a publish sent on a connection gunicorn is closing gets a 502 (seen: 1 POST in 40 after
    five idle seconds)."""
    upstream = re.search(r"upstream appliance \{(.*?)\}", EXAMPLE.read_text(), re.DOTALL).group(1)
    seconds = int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1))
    assert seconds < KEEPALIVE
