"""Metrics at the request boundary, from package events and from what the jobs record, and who may
read /metrics. (Across gunicorn workers and with a real Prometheus: tests/clients/test_prometheus.py.)"""
from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest

from appliance import create_app, metrics
from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.jobs.leases import holder_name
from appliance.jobs.scheduler import Job, JobFailed, find_job, run_job
from appliance.settings import MetricsConfig


@pytest.fixture
def app(bootstrap):
    app = create_app(dataclasses.replace(bootstrap, metrics=MetricsConfig(allow=("10.9.0.0/16",))))
    app.config["TESTING"] = True
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    """Responses read and closed at once, as a server does: a request is counted when it is closed."""
    client = app.test_client()
    client.open = _buffered(client.open)
    return client


def _buffered(open_):
    def open_buffered(*args, **kwargs):
        return open_(*args, buffered=True, **kwargs)

    return open_buffered


def sample(name: str, **labels) -> float:
    return metrics._metrics().registry.get_sample_value(name, labels) or 0.0


def scrape(client, **headers) -> str:
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": "10.9.1.1"})
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/plain"
    return response.text


def test_requests_are_counted_by_format_route_method_and_status(client):
    before = sample("appliance_http_requests_total", format="web", route="/_health", method="GET", status="200")
    for _ in range(3):
        assert client.get("/_health").status_code == 200
    # npm answers a path none of its routes match itself (a 4xx in its own shape).
    unmatched = {"format": "npm", "route": "unmatched", "method": "GET"}
    missing = {status: sample("appliance_http_requests_total", **unmatched, status=status) for status in ("400", "404")}
    status = str(client.get("/_registry/npm/no/such/path/at/all").status_code)

    assert sample("appliance_http_requests_total", format="web", route="/_health", method="GET",
                  status="200") == before + 3
    # A path no route matched is counted under one label, so made-up URLs add no series.
    assert sample("appliance_http_requests_total", **unmatched, status=status) == missing[status] + 1
    assert sample("appliance_http_request_duration_seconds_count", format="web", route="/_health") >= 3


def test_bytes_in_and_out_and_uploads_in_flight(client):
    received = sample("appliance_http_request_bytes_total", format="npm")
    sent = sample("appliance_http_response_bytes_total", format="npm")
    response = client.put("/_registry/npm/@alice%2fhello", data=b"x" * 1000,
                          headers={"Content-Type": "application/json"})
    assert response.status_code >= 400
    assert sample("appliance_http_response_bytes_total", format="npm") == sent + len(response.data)
    # What the application read of the body (it may refuse before reading all of it).
    assert received <= sample("appliance_http_request_bytes_total", format="npm") <= received + 1000
    assert sample("appliance_http_uploads_in_flight", format="npm") == 0


def test_package_events_count_publishes_by_format():
    published = sample("appliance_package_publishes_total", format="rubygems")
    event = SimpleNamespace(action="published", place=SimpleNamespace(format="rubygems"))
    metrics.count_package_event(event)
    metrics.count_package_event(SimpleNamespace(action="deleted", place=SimpleNamespace(format="rubygems")))
    assert sample("appliance_package_publishes_total", format="rubygems") == published + 1
    assert sample("appliance_package_events_total", format="rubygems", action="deleted") >= 1


def test_storage_and_job_figures_come_from_what_the_jobs_recorded(app, client):
    text = scrape(client)
    assert "appliance_storage_bytes{" not in text  # the storage_usage job has not run yet

    user = create_user("alice")
    create_repository(user, "hello")
    run_job(app, find_job(app.config["BOOTSTRAP"], "storage_usage"), holder_name())
    text = scrape(client)
    assert 'appliance_storage_bytes{format="npm"} 0.0' in text
    assert "appliance_storage_blob_bytes 0.0" in text
    assert 'appliance_job_runs_total{job_name="storage_usage"} 1.0' in text
    assert 'appliance_job_failures_total{job_name="storage_usage"} 0.0' in text
    assert 'appliance_job_last_run_failed{job_name="storage_usage"} 0.0' in text
    assert 'appliance_disk_free_bytes{path="storage"}' in text and 'appliance_disk_size_bytes{path="home"}' in text


def test_a_failed_job_is_counted_and_flagged(app, client, monkeypatch):
    job = dataclasses.replace(find_job(app.config["BOOTSTRAP"], "storage_usage"), run=lambda: 1 / 0)
    with pytest.raises(JobFailed):
        run_job(app, job, holder_name())
    text = scrape(client)
    assert 'appliance_job_failures_total{job_name="storage_usage"} 1.0' in text
    assert 'appliance_job_last_run_failed{job_name="storage_usage"} 1.0' in text


def test_ldap_sync_outcomes_are_counted(app, client):
    def sync_failing() -> str:
        raise ConnectionError("the directory is down")

    succeeding = Job("ldap_sync", dt.timedelta(hours=1), lambda: "synced 3 users")
    run_job(app, succeeding, holder_name())
    run_job(app, succeeding, holder_name())
    with pytest.raises(JobFailed):
        run_job(app, dataclasses.replace(succeeding, run=sync_failing), holder_name())
    text = scrape(client)
    assert 'appliance_ldap_sync_runs_total{outcome="succeeded"} 2.0' in text
    assert 'appliance_ldap_sync_runs_total{outcome="failed"} 1.0' in text
    assert 'appliance_job_last_run_failed{job_name="ldap_sync"} 1.0' in text


def test_metrics_are_for_allowed_addresses_and_site_administrators(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.9.200.7"}).status_code == 200

    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")

    admin = create_user("root", site_admin=True)
    _, admin_token = issue_token(admin, ["read:packages"])
    _, user_token = issue_token(create_user("bob"), ["read:packages"])
    elsewhere = {"REMOTE_ADDR": "192.0.2.1"}
    assert client.get("/metrics", headers={"Authorization": f"Bearer {admin_token}"},
                      environ_base=elsewhere).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"Bearer {user_token}"},
                      environ_base=elsewhere).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer apt_nonsense"},
                      environ_base=elsewhere).status_code == 401


def test_without_a_metrics_section_nothing_is_served(bootstrap):
    app = create_app(bootstrap)
    assert app.test_client().get("/metrics").status_code == 404


def test_a_publish_through_the_service_is_counted_once_committed(app):
    from appliance import packages as service
    from appliance.auth.permissions import Actor
    from appliance.packages import FileUpload, VersionDraft

    published = sample("appliance_package_publishes_total", format="npm")
    with app.test_request_context():
        user = create_user("alice")
        create_repository(user, "hello")
        service.publish_version(
            Actor(user=user), owner_login="alice", fmt="npm", name="hello",
            draft=VersionDraft("1.0.0", {"name": "hello", "version": "1.0.0"}),
            uploads=[FileUpload("hello-1.0.0.tgz", [b"bytes"])],
            repository_name=None, default_repository_name="hello")
    assert sample("appliance_package_publishes_total", format="npm") == published + 1
