"""The scheduled jobs and the process that runs them (`appliance scheduler`)."""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from peewee import fn

from appliance import packages as service
from appliance.db import database
from appliance.jobs.leases import holder_name, lease
from appliance.models.base import utcnow
from appliance.models.jobs import JobStatus, StorageUsage
from appliance.models.packages import Blob, Package, PackageFile, PackageVersion
from appliance.settings import FORMATS, Bootstrap

log = logging.getLogger("appliance.scheduler")


class JobNotFound(Exception):
    """No job of that name runs on this appliance (as configured)."""


class JobFailed(Exception):
    """A job's run raised; the message is what JobStatus recorded."""


@dataclass(frozen=True)
class Job:
    name: str
    every: dt.timedelta
    run: Callable[[], str]  # returns one line for the log
    # Longer than a run can take: past it, another scheduler may take the job over.
    lease_ttl: dt.timedelta = dt.timedelta(hours=1)


def storage_cleanup() -> str:
    packages, versions = service.purge_expired_deletions()
    uploads = service.purge_abandoned_uploads(service.UPLOAD_EXPIRY)
    staged = service.purge_unused_staged_blobs(service.STAGED_BLOB_EXPIRY)
    blobs = service.collect_unreferenced_blobs()
    leftovers = service.sweep_storage_leftovers()
    # Multipart uploads of S3 that a worker began and never finished (it died) hold space until aborted.
    aborted = service.blob_store().storage.abort_stale_writes(service.LEFTOVER_FILE_MIN_AGE)
    return (f"purged {packages} deleted packages and {versions} deleted versions, dropped {uploads} abandoned "
            f"uploads, unstaged {staged} unused blobs, removed {blobs} unreferenced blobs and {leftovers} "
            f"leftover files, aborted {aborted} unfinished multipart uploads")


def webhook_deliveries() -> str:
    from appliance.api.ratelimit import forget_old_windows
    from appliance.webhooks.delivery import deliver_due

    forget_old_windows()
    return deliver_due()


# The row of StorageUsage that counts the blob store itself: blobs are shared across formats, so the
# formats' bytes add up to more than the disk holds.
ALL_BLOBS = service.ALL_BLOBS


def storage_usage() -> str:
    """Count packages, versions, files and bytes per format into StorageUsage, for /metrics to read."""
    now = utcnow()
    counts = {fmt: {"packages": 0, "versions": 0, "files": 0, "bytes": 0} for fmt in FORMATS}
    for fmt, number in (Package.select(Package.format, fn.COUNT(Package.id))
                        .where(Package.deleted_at.is_null()).group_by(Package.format).tuples()):
        counts[fmt]["packages"] = number
    for fmt, number in (PackageVersion.select(Package.format, fn.COUNT(PackageVersion.id)).join(Package)
                        .where(Package.deleted_at.is_null() & PackageVersion.deleted_at.is_null())
                        .group_by(Package.format).tuples()):
        counts[fmt]["versions"] = number
    # Files and bytes count what storage holds for the format, deleted-but-restorable ones included.
    for fmt, files, size in (PackageFile.select(Package.format, fn.COUNT(PackageFile.id), fn.SUM(Blob.size))
                             .join(Blob).switch(PackageFile).join(PackageVersion).join(Package)
                             .group_by(Package.format).tuples()):
        counts[fmt]["files"], counts[fmt]["bytes"] = files, int(size or 0)
    blobs, blob_bytes = Blob.select(fn.COUNT(Blob.id), fn.SUM(Blob.size)).scalar(as_tuple=True)
    counts[ALL_BLOBS] = {"packages": 0, "versions": 0, "files": blobs, "bytes": int(blob_bytes or 0)}
    with database.atomic():
        for fmt, row in counts.items():
            (StorageUsage.insert(format=fmt, updated_at=now, **row)
             .on_conflict(conflict_target=[StorageUsage.format], update={**row, "updated_at": now}).execute())
    owners = service.count_owner_storage()
    return (", ".join(f"{fmt}: {row['files']} files, {row['bytes']} bytes" for fmt, row in counts.items())
            + f"; {owners} owner and format totals")


def backup() -> str:
    from appliance.backup import create_backup, prune_snapshots

    bootstrap: Bootstrap = current_app.config["BOOTSTRAP"]
    report = create_backup(bootstrap, bootstrap.backup.dir, blob_store=service.blob_store())
    pruned = prune_snapshots(bootstrap.backup.dir, keep=bootstrap.backup.keep)
    return f"{report.summary()}; removed {pruned} old snapshots"


def ldap_sync() -> str:
    from appliance.accounts.ldap import directory_from_app

    return directory_from_app(current_app).sync().summary()


def jobs_for(bootstrap: Bootstrap) -> list[Job]:
    """The jobs this appliance runs: the storage ones always, backup and ldap_sync when configured."""
    jobs = [
        Job("storage_cleanup", dt.timedelta(hours=1), storage_cleanup),
        Job("storage_usage", dt.timedelta(minutes=5), storage_usage, lease_ttl=dt.timedelta(minutes=30)),
        # Deliveries are recorded by the request that caused them and sent from here within seconds.
        Job("webhook_deliveries", dt.timedelta(seconds=2), webhook_deliveries, lease_ttl=dt.timedelta(minutes=5)),
    ]
    if bootstrap.backup is not None:
        jobs.append(Job("backup", dt.timedelta(days=1), backup, lease_ttl=dt.timedelta(hours=6)))
    if bootstrap.ldap is not None:
        jobs.append(Job("ldap_sync", dt.timedelta(minutes=15), ldap_sync, lease_ttl=dt.timedelta(minutes=30)))
    return jobs


def find_job(bootstrap: Bootstrap, name: str) -> Job:
    jobs = jobs_for(bootstrap)
    for job in jobs:
        if job.name == name:
            return job
    raise JobNotFound(f"no job named {name!r} here; the jobs are {', '.join(job.name for job in jobs)}")


def job_statuses() -> dict[str, JobStatus]:
    return {status.name: status for status in JobStatus.select()}


def _record(job: Job, holder: str, started: dt.datetime, seconds: float, outcome: str, summary: str) -> None:
    succeeded = outcome == "succeeded"
    JobStatus.insert(name=job.name).on_conflict_ignore().execute()
    (JobStatus.update(runs=JobStatus.runs + 1, failures=JobStatus.failures + (0 if succeeded else 1),
                      seconds_total=JobStatus.seconds_total + seconds, last_started_at=started,
                      last_duration_seconds=seconds, last_outcome=outcome, last_summary=summary[:4000],
                      last_holder=holder,
                      **({"last_succeeded_at": utcnow()} if succeeded else {}))
     .where(JobStatus.name == job.name).execute())


def run_job(app: Flask, job: Job, holder: str) -> str | None:
    """Run `job` once if no other scheduler holds it; returns what it did, None when it was not ours.
    Every run is recorded in JobStatus; a failure is recorded, logged and raised as JobFailed."""
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            with lease(job.name, holder, job.lease_ttl) as held:
                if not held:
                    log.info("%s: another scheduler holds it", job.name)
                    return None
                started, clock = utcnow(), time.monotonic()
                try:
                    outcome = job.run()
                except Exception as e:
                    summary = f"{type(e).__name__}: {e}"
                    _record(job, holder, started, time.monotonic() - clock, "failed", summary)
                    log.exception("%s failed", job.name)
                    raise JobFailed(f"{job.name} failed: {summary}") from e
                _record(job, holder, started, time.monotonic() - clock, "succeeded", outcome)
                log.info("%s: %s", job.name, outcome)
                return outcome
        finally:
            database.close()


def run_forever(app: Flask) -> None:
    """Run every job at its interval, the first time at once, until stopped (SIGTERM, Ctrl-C)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    holder = holder_name()
    jobs = jobs_for(app.config["BOOTSTRAP"])
    scheduler = BlockingScheduler(timezone="UTC")
    for job in jobs:
        scheduler.add_job(run_job, "interval", args=(app, job, holder), seconds=job.every.total_seconds(),
                          next_run_time=dt.datetime.now(dt.UTC), id=job.name, max_instances=1,
                          coalesce=True)
    log.info("scheduler %s running %s", holder, ", ".join(job.name for job in jobs))
    scheduler.start()
