"""The scheduled jobs: which run where, and what each run leaves in JobStatus for `appliance jobs list`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.jobs.scheduler import JobFailed, JobNotFound, find_job, jobs_for, run_job
from appliance.models.jobs import JobStatus, StorageUsage
from appliance.settings import BackupConfig, LdapConfig


def test_backup_and_ldap_sync_run_only_when_configured(bootstrap):
    always = ["storage_cleanup", "storage_usage", "webhook_deliveries"]
    assert [job.name for job in jobs_for(bootstrap)] == always
    configured = dataclasses.replace(bootstrap, backup=BackupConfig(dir=Path("/backups")),
                                     ldap=LdapConfig(uris=("ldap://127.0.0.1:1",), user_base="dc=x"))
    assert [job.name for job in jobs_for(configured)] == [*always, "backup", "ldap_sync"]
    with pytest.raises(JobNotFound, match="no job named 'backup'"):
        find_job(bootstrap, "backup")


def test_each_run_is_recorded(app):
    job = find_job(app.config["BOOTSTRAP"], "storage_usage")
    run_job(app, job, "node-a")
    run_job(app, job, "node-a")
    status = JobStatus.get_by_id("storage_usage")
    assert (status.runs, status.failures, status.last_outcome, status.last_holder) == (2, 0, "succeeded", "node-a")
    assert status.last_started_at is not None and status.last_duration_seconds >= 0
    assert "npm: 0 files, 0 bytes" in status.last_summary
    assert StorageUsage.get_by_id("npm").bytes == 0


def test_a_failure_is_recorded_with_its_error(app):
    def broken():
        raise RuntimeError("the disk is gone")

    job = dataclasses.replace(find_job(app.config["BOOTSTRAP"], "storage_usage"), run=broken)
    with pytest.raises(JobFailed, match="the disk is gone"):
        run_job(app, job, "node-a")
    status = JobStatus.get_by_id("storage_usage")
    assert (status.runs, status.failures, status.last_outcome) == (1, 1, "failed")
    assert status.last_summary == "RuntimeError: the disk is gone"
    assert status.last_succeeded_at is None


def test_a_job_another_scheduler_holds_is_not_run_nor_recorded(app):
    from appliance.jobs.leases import acquire

    job = find_job(app.config["BOOTSTRAP"], "storage_usage")
    assert acquire("storage_usage", "node-b", job.lease_ttl)
    assert run_job(app, job, "node-a") is None
    assert JobStatus.get_or_none(JobStatus.name == "storage_usage") is None
