"""Debian's Prometheus scrapes a live appliance (two gunicorn workers) while the real npm publishes and
installs; PromQL gives the expected counts, also after a worker is killed and replaced."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from appliance.settings import Bootstrap, MetricsConfig
from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.npm import Npm
from tests.support.prometheus import Prometheus


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_client("npm")
    require_client("prometheus")
    home = tmp_path_factory.mktemp("appliance") / "home"
    bootstrap = dataclasses.replace(Bootstrap.embedded_default(home), metrics=MetricsConfig(allow=("127.0.0.1/32",)))
    bootstrap.storage_path.mkdir(parents=True)
    appliance = LiveAppliance(home, bootstrap=bootstrap, workers=2)
    appliance.set("hostname", "127.0.0.1")
    appliance.set("subdomain_isolation", False)
    appliance.start()
    yield appliance
    appliance.stop()


@pytest.fixture(scope="module")
def prometheus(live, tmp_path_factory):
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{live.port}").start()
    yield server
    server.stop()


def workers(live) -> list[int]:
    children = subprocess.run(["ps", "--ppid", str(live.process.pid), "-o", "pid="], capture_output=True,
                              text=True, check=True).stdout.split()
    return [int(pid) for pid in children]


def test_prometheus_counts_npm_publishes_installs_and_requests_across_workers(live, prometheus, tmp_path):
    live.user("alice")
    live.repo("alice/hello")
    token = live.token("alice")
    registry = f"{live.origin}/_registry/npm/"
    author = Npm(tmp_path / "author", registry, "alice", token)
    for version in ("1.0.0", "1.1.0"):
        author.write_package("@alice/hello", version, license="MIT")
        published = author.run("publish")
        assert published.returncode == 0, published.output
    for n in range(3):  # fresh projects and caches: each install downloads the tarball
        consumer = Npm(tmp_path / f"consumer-{n}", registry, "alice", token)
        consumer.write_consumer()
        installed = consumer.run("install", "@alice/hello")
        assert installed.returncode == 0, installed.output

    assert prometheus.wait_for('appliance_package_publishes_total{format="npm"}', 2) == 2
    assert prometheus.wait_for('appliance_package_downloads_total{format="npm"}', 3) == 3
    assert prometheus.value('sum(appliance_http_requests_total{format="npm", method="PUT"})') == 2
    assert prometheus.value('sum(appliance_http_requests_total{format="npm", method="GET", '
                            'route="/_registry/npm/@<scope>/<name>/-/<filename>", status="200"})') == 3
    assert prometheus.value('sum(appliance_http_response_bytes_total{format="npm"})') > 0
    assert prometheus.value('sum(appliance_http_request_bytes_total{format="npm"})') > 0
    assert prometheus.value('sum(appliance_http_uploads_in_flight)') == 0
    assert prometheus.value('sum(appliance_http_request_duration_seconds_count{format="npm"})') == (
        prometheus.value('sum(appliance_http_requests_total{format="npm"})'))

    # Requests spread over both workers, and one killed: the sum keeps what the dead worker counted.
    health = 'sum(appliance_http_requests_total{route="/_health"})'
    start = prometheus.settled(health)
    for _ in range(40):
        assert requests.get(f"{live.origin}/_health", timeout=10).status_code == 200
    before = prometheus.wait_for(health, start + 40)
    assert before == start + 40
    victim = workers(live)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (len(workers(live)) < 2 or victim in workers(live)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(10):
        assert requests.get(f"{live.origin}/_health", timeout=10).status_code == 200
    assert prometheus.wait_for("appliance_worker_restarts_total", 1) == 1
    assert prometheus.wait_for(health, before + 10) == before + 10
    assert prometheus.value('appliance_package_publishes_total{format="npm"}') == 2

    # Storage as the storage_usage job counted it; the job's own run.
    ran = subprocess.run([sys.executable, "-m", "appliance", "jobs", "run", "storage_usage"],
                         env=dict(os.environ, APPLIANCE_HOME=str(live.home)), capture_output=True, text=True,
                         check=False)
    assert ran.returncode == 0, ran.stderr
    assert prometheus.wait_for('appliance_storage_versions{format="npm"}', 2) == 2
    assert prometheus.value('appliance_storage_packages{format="npm"}') == 1
    assert prometheus.value('appliance_storage_bytes{format="npm"}') > 0
    assert prometheus.value('appliance_job_runs_total{job_name="storage_usage"}') == 1
    assert prometheus.value('appliance_disk_free_bytes{path="storage"}') > 0


def test_the_alert_rules_load_and_none_fires_on_a_healthy_appliance(prometheus):
    rules = {rule["name"]: rule for rule in prometheus.rules()}
    assert {"ApplianceErrors", "ApplianceSlowRegistry", "ApplianceDiskFilling", "ApplianceJobFailed",
            "ApplianceBackupMissing", "ApplianceLdapSyncFailing", "ApplianceWorkersRestarting"} <= set(rules)
    assert all(rule["health"] in ("ok", "unknown") for rule in rules.values()), rules
    assert rules["ApplianceJobFailed"]["state"] == "inactive"


def test_every_query_of_the_grafana_dashboard_runs(prometheus):
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "config" / "grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(queries) >= 15
    for query in queries:
        prometheus.query(query.replace("$__rate_interval", "1m"))  # asserts Prometheus took it
