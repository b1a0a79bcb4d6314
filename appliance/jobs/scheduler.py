"""The scheduled jobs and the process that runs them (`appliance scheduler`)."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from appliance.db import database
from appliance.jobs.leases import holder_name, lease
from appliance.packages import service

log = logging.getLogger("appliance.scheduler")


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
    return (f"purged {packages} deleted packages and {versions} deleted versions, dropped {uploads} abandoned "
            f"uploads, unstaged {staged} unused blobs, removed {blobs} unreferenced blobs and {leftovers} "
            f"leftover files")


def webhook_deliveries() -> str:
    from appliance.api.ratelimit import forget_old_windows
    from appliance.webhooks.delivery import deliver_due

    forget_old_windows()
    return deliver_due()


JOBS = [
    Job("storage_cleanup", dt.timedelta(hours=1), storage_cleanup),
    # Deliveries are recorded by the request that caused them and sent from here within seconds.
    Job("webhook_deliveries", dt.timedelta(seconds=2), webhook_deliveries, lease_ttl=dt.timedelta(minutes=5)),
]


def run_job(app: Flask, job: Job, holder: str) -> str | None:
    """Run `job` once if no other scheduler holds it; returns what it did, None when it was not ours."""
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            with lease(job.name, holder, job.lease_ttl) as held:
                if not held:
                    log.info("%s: another scheduler holds it", job.name)
                    return None
                outcome = job.run()
                log.info("%s: %s", job.name, outcome)
                return outcome
        finally:
            database.close()


def run_forever(app: Flask) -> None:
    """Run every job at its interval, the first time at once, until stopped (SIGTERM, Ctrl-C)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    holder = holder_name()
    scheduler = BlockingScheduler(timezone="UTC")
    for job in JOBS:
        scheduler.add_job(run_job, "interval", args=(app, job, holder), seconds=job.every.total_seconds(),
                          next_run_time=dt.datetime.now(dt.UTC), id=job.name, max_instances=1,
                          coalesce=True)
    log.info("scheduler %s running %s", holder, ", ".join(job.name for job in JOBS))
    scheduler.start()
