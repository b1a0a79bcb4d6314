"""Prometheus metrics: counted at the request boundary and from package events, served at `/metrics`.

One module the app factory wires when `[metrics]` is in appliance.toml (without it nothing is counted and
there is no `/metrics`). Under gunicorn every worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR
(`appliance serve` sets it up, see `prepare_multiprocess_dir`), and a scrape adds up the files of every
worker, the live ones and those that exited, so counts are right across workers and worker restarts.

What other processes do (the scheduler's jobs, the storage they count) is read from the database at
scrape time from the rows the jobs keep current (JobStatus, StorageUsage): a scrape counts nothing itself.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, request

from appliance.settings import FORMATS, MetricsConfig

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ROUTE_KEY = "appliance.metrics.route"
DOWNLOAD_KEY = "appliance.metrics.download"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Seconds; a packument answers in milliseconds, a large upload or download may take minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def prepare_multiprocess_dir(home: Path, bind: str) -> Path:
    """Make an empty directory for the workers' metric files and point prometheus-client at it; called by
    `appliance serve` before any metric exists (prometheus-client picks its mode when first imported).
    Counts start at zero with each start of the server, as Prometheus expects of a restarted target."""
    name = "".join(c if c.isalnum() else "_" for c in bind)
    path = home / "run" / f"metrics-{name}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook (in the master): the worker's live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def worker_started(age: int, workers: int) -> None:
    """gunicorn's post_fork hook (in the new worker): a worker born after the first `workers` replaces
    one that exited (killed, timed out, or restarted by a reload)."""
    if age > workers:
        _metrics().worker_restarts.inc()


class _Metrics:
    """The metric objects, made once per process on first use (after PROMETHEUS_MULTIPROC_DIR is set)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        # Outside multiprocess mode (tests, `flask run`) they are collected from this registry.
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("appliance_http_requests_total", "HTTP requests answered, by registry format "
                                "(api for REST and GraphQL, web for the rest), route, method and status",
                                ["format", "route", "method", "status"], registry=registry)
        self.latency = Histogram("appliance_http_request_duration_seconds", "Time from a request's arrival "
                                 "to its last byte sent", ["format", "route"], buckets=LATENCY_BUCKETS,
                                 registry=registry)
        self.bytes_in = Counter("appliance_http_request_bytes_total", "Request body bytes received",
                                ["format"], registry=registry)
        self.bytes_out = Counter("appliance_http_response_bytes_total", "Response body bytes sent",
                                 ["format"], registry=registry)
        self.uploads = Gauge("appliance_http_uploads_in_flight", "Requests with a body (publishes, "
                             "uploads) being received or answered now", ["format"], multiprocess_mode="livesum",
                             registry=registry)
        self.downloads = Counter("appliance_package_downloads_total", "Stored package files sent to clients",
                                 ["format"], registry=registry)
        self.publishes = Counter("appliance_package_publishes_total", "Package versions published",
                                 ["format"], registry=registry)
        self.package_events = Counter("appliance_package_events_total", "Package events (published, "
                                      "updated, deleted, restored)", ["format", "action"], registry=registry)
        self.worker_restarts = Counter("appliance_worker_restarts_total", "gunicorn workers started to "
                                       "replace one that exited", registry=registry)
        # labels() takes a lock and builds a key; the request path looks its children up here instead.
        self._children: dict[tuple, tuple] = {}

    def request_children(self, fmt: str, route: str, method: str, status: str) -> tuple:
        """(requests, latency, bytes out) for one request's labels."""
        key = (fmt, route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(fmt, route, method, status),
                                              self.latency.labels(fmt, route), self.bytes_out.labels(fmt))
        return children


_instance: _Metrics | None = None


def _metrics() -> _Metrics:
    global _instance
    if _instance is None:
        _instance = _Metrics()
    return _instance


# ---- the request boundary --------------------------------------------------------------------------


def _format_of(path: str) -> str:
    """The registry a (dispatched) path belongs to: `/_registry/npm/...` is npm, `/api/...` the REST and
    GraphQL APIs, the rest web."""
    if path.startswith("/_registry/"):
        fmt = path[len("/_registry/"):].partition("/")[0]
        if fmt in FORMATS:
            return fmt
    if path.startswith("/api/"):
        return "api"
    return "web"


class _CountingInput:
    """wsgi.input, counting the bytes the application reads."""

    def __init__(self, stream, counter):
        self._stream = stream
        self._counter = counter

    def _count(self, data):
        if data:
            self._counter.inc(len(data))
        return data

    def read(self, *args):
        return self._count(self._stream.read(*args))

    def readline(self, *args):
        return self._count(self._stream.readline(*args))

    def readlines(self, *args):
        lines = self._stream.readlines(*args)
        self._count(b"".join(lines))
        return lines

    def __iter__(self):
        for line in self._stream:
            yield self._count(line)


class _CountingBody:
    """The response body, counted as the server sends it; the request is done when the server closes it."""

    def __init__(self, body: Iterable[bytes], finish):
        self._body = body
        self._finish = finish

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._finish.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


class _Finish:
    """Records one request once its response is sent (or fails)."""

    __slots__ = ("done", "environ", "fmt", "length", "metrics", "sent", "started", "status", "upload")

    def __init__(self, metrics: _Metrics, environ: dict, fmt: str, upload: bool):
        self.metrics, self.environ, self.fmt, self.upload = metrics, environ, fmt, upload
        self.started = time.perf_counter()
        self.status = "500"
        self.sent = 0
        self.length = 0  # Content-Length, for bodies the server sends itself (sendfile)
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        metrics = self.metrics
        environ = self.environ
        route = environ.get(ROUTE_KEY) or "unmatched"
        requests, latency, bytes_out = metrics.request_children(self.fmt, route, environ.get("REQUEST_METHOD", ""),
                                                                self.status)
        requests.inc()
        latency.observe(time.perf_counter() - self.started)
        sent = self.sent or self.length
        if sent:
            bytes_out.inc(sent)
        if environ.get(DOWNLOAD_KEY) and self.status in ("200", "206") and environ.get("REQUEST_METHOD") == "GET":
            metrics.downloads.labels(self.fmt).inc()
        if self.upload:
            metrics.uploads.labels(self.fmt).dec()


class RequestMetrics:
    """WSGI middleware (inside the subdomain dispatch, so registry paths are already `/_registry/FMT/`)
    that counts every request: status, route, latency to the last byte, bytes each way, uploads in flight."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        metrics = _metrics()
        fmt = _format_of(environ.get("PATH_INFO", ""))
        upload = environ.get("REQUEST_METHOD") in BODY_METHODS
        if upload:
            metrics.uploads.labels(fmt).inc()
            environ["wsgi.input"] = _CountingInput(environ["wsgi.input"], metrics.bytes_in.labels(fmt))
        finish = _Finish(metrics, environ, fmt, upload)

        def counting_start_response(status, headers, exc_info=None):
            finish.status = status[:3]
            if environ.get("REQUEST_METHOD") != "HEAD":
                for name, value in headers:
                    if name.lower() == "content-length" and value.isdigit():
                        finish.length = int(value)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, counting_start_response)
        except BaseException:
            finish()
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            # gunicorn sends a file wrapper with sendfile() only when it gets it as it is: wrap its close()
            # (called once the file is sent) instead of the body.
            close = getattr(body, "close", None)

            def close_then_finish():
                try:
                    if close is not None:
                        close()
                finally:
                    finish()

            body.close = close_then_finish
            return body
        return _CountingBody(body, finish)


def _remember_route() -> None:
    """Routes, not paths, label the counts: what Flask matched, or nothing (`unmatched`)."""
    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.rule if rule is not None else None


def mark_download() -> None:
    """Called where a stored file is sent: counted as a download of the request's format once the
    response is a 200 or 206 (metrics on or off, it only marks the request)."""
    request.environ[DOWNLOAD_KEY] = True


# ---- package events --------------------------------------------------------------------------------


def count_package_event(event) -> None:
    """A subscriber of appliance.packages.events: publishes and other package events, by format."""
    metrics = _metrics()
    fmt = event.place.format
    metrics.package_events.labels(fmt, event.action).inc()
    if event.action == "published":
        metrics.publishes.labels(fmt).inc()


# ---- what the jobs keep in the database ------------------------------------------------------------


class DiskCollector:
    """Free and total bytes of the disks under APPLIANCE_HOME and the local blob store (one statvfs each)."""

    def __init__(self, paths: dict[str, Path]):
        self.paths = paths

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        free = GaugeMetricFamily("appliance_disk_free_bytes", "Bytes free to the appliance on the disk of "
                                 "its home or its local blob store", labels=["path"])
        size = GaugeMetricFamily("appliance_disk_size_bytes", "Size of that disk", labels=["path"])
        for name, path in self.paths.items():
            try:
                stat = os.statvfs(path)
            except OSError:
                continue
            free.add_metric([name], stat.f_bavail * stat.f_frsize)
            size.add_metric([name], stat.f_blocks * stat.f_frsize)
        yield from (free, size)


def _disks(bootstrap) -> dict[str, Path]:
    disks = {"home": bootstrap.home}
    if bootstrap.storage_backend == "local":
        disks["storage"] = bootstrap.storage_path
    return disks


class DatabaseCollector:
    """Storage usage and job outcomes as the scheduled jobs last recorded them (any node, any process)."""

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from appliance.jobs.scheduler import ALL_BLOBS
        from appliance.models.jobs import JobStatus, StorageUsage

        usage = list(StorageUsage.select())
        per_format = [row for row in usage if row.format != ALL_BLOBS]
        for name, help_text, attribute in (
                ("appliance_storage_bytes", "Bytes of the files of each format (shared blobs counted in each)",
                 "bytes"),
                ("appliance_storage_files", "Files of each format, deleted but restorable ones included", "files"),
                ("appliance_storage_packages", "Packages of each format, not deleted", "packages"),
                ("appliance_storage_versions", "Versions of each format, not deleted", "versions")):
            family = GaugeMetricFamily(name, help_text, labels=["format"])
            for row in per_format:
                family.add_metric([row.format], getattr(row, attribute))
            yield family
        for row in usage:
            if row.format == ALL_BLOBS:
                yield GaugeMetricFamily("appliance_storage_blob_bytes", "Bytes in the blob store (each "
                                        "content once)", value=row.bytes)
                yield GaugeMetricFamily("appliance_storage_blobs", "Blobs in the blob store", value=row.files)
                yield GaugeMetricFamily("appliance_storage_usage_updated_timestamp_seconds", "When the "
                                        "storage_usage job last counted", value=_timestamp(row.updated_at))

        # Not `job`: Prometheus gives every scraped series its scrape job's name in that label.
        statuses = list(JobStatus.select())
        runs = CounterMetricFamily("appliance_job_runs", "Scheduled job runs", labels=["job_name"])
        failures = CounterMetricFamily("appliance_job_failures", "Scheduled job runs that failed", labels=["job_name"])
        seconds = CounterMetricFamily("appliance_job_duration_seconds", "Time spent in scheduled job runs",
                                      labels=["job_name"])
        last = GaugeMetricFamily("appliance_job_last_duration_seconds", "How long the job's last run took",
                                 labels=["job_name"])
        last_failed = GaugeMetricFamily("appliance_job_last_run_failed", "1 when the job's last run failed",
                                        labels=["job_name"])
        succeeded_at = GaugeMetricFamily("appliance_job_last_success_timestamp_seconds",
                                         "When the job last succeeded", labels=["job_name"])
        ldap = CounterMetricFamily("appliance_ldap_sync_runs", "LDAP directory syncs, by outcome",
                                   labels=["outcome"])
        for status in statuses:
            runs.add_metric([status.name], status.runs)
            failures.add_metric([status.name], status.failures)
            seconds.add_metric([status.name], status.seconds_total)
            if status.last_duration_seconds is not None:
                last.add_metric([status.name], status.last_duration_seconds)
                last_failed.add_metric([status.name], 1 if status.last_outcome == "failed" else 0)
            if status.last_succeeded_at is not None:
                succeeded_at.add_metric([status.name], _timestamp(status.last_succeeded_at))
            if status.name == "ldap_sync":
                ldap.add_metric(["succeeded"], status.runs - status.failures)
                ldap.add_metric(["failed"], status.failures)
        yield from (runs, failures, seconds, last, last_failed, succeeded_at, ldap)


def _timestamp(naive_utc) -> float:
    import datetime as dt

    return naive_utc.replace(tzinfo=dt.UTC).timestamp()


class _LocalCollector:
    """This process's metrics, when there is no multiprocess directory."""

    def collect(self):
        return _metrics().registry.collect()


# ---- /metrics --------------------------------------------------------------------------------------

blueprint = Blueprint("metrics", __name__)


def _allowed(config: MetricsConfig) -> bool | Response:
    """True for the [metrics] allow addresses and site administrators' tokens; else the refusal."""
    from appliance.auth.credentials import BadCredentials, actor_from_request

    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is not None and any(ip in ipaddress.ip_network(net, strict=False) for net in config.allow):
        return True
    challenge = {"WWW-Authenticate": 'Bearer realm="metrics"'}
    try:
        actor = actor_from_request(request)
    except BadCredentials as e:
        return Response(f"{e}\n", 401, challenge, mimetype="text/plain")
    if actor.user is None:
        return Response("metrics are for site administrators' tokens and the addresses in [metrics] allow\n",
                        401, challenge, mimetype="text/plain")
    if not actor.user.site_admin:
        return Response("metrics are for site administrators\n", 403, mimetype="text/plain")
    return True


@blueprint.get("/metrics")
def scrape():
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    bootstrap = current_app.config["BOOTSTRAP"]
    allowed = _allowed(bootstrap.metrics)
    if allowed is not True:
        return allowed
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_LocalCollector())
    registry.register(DatabaseCollector())
    registry.register(DiskCollector(_disks(bootstrap)))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Wire the metrics into `app` when `[metrics]` is configured: the request boundary, package
    events, and /metrics."""
    if app.config["BOOTSTRAP"].metrics is None:
        return
    from appliance.packages.events import subscribe

    _metrics()
    app.before_request(_remember_route)
    app.register_blueprint(blueprint)
    app.wsgi_app = RequestMetrics(app.wsgi_app)
    subscribe(count_package_event, app=app)
