"""The audit log: who did what to which package, token, setting or account, when and from which address.
Writing one entry (`record`) and reading them back filtered, a page at a time or as CSV."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from appliance.models.audit import AuditEvent


@dataclass(frozen=True)
class Operator:
    """Who changes something from the console or the CLI, and from where (for the audit log)."""

    login: str
    account_id: int | None = None
    address: str = ""


def record(operator: Operator, action: str, target: str, **data) -> AuditEvent:
    return AuditEvent.create(actor=operator.account_id, actor_login=operator.login, action=action,
                             target=target[:512], data=json.dumps(data, default=str),
                             remote_addr=(operator.address or "")[:64])


@dataclass(frozen=True)
class AuditFilter:
    """Each field narrows by a case-insensitive part of the column ("" leaves it out)."""

    actor: str = ""
    action: str = ""
    target: str = ""

    def query(self):
        query = AuditEvent.select()
        for column, text in ((AuditEvent.actor_login, self.actor), (AuditEvent.action, self.action),
                             (AuditEvent.target, self.target)):
            if text:
                query = query.where(column.contains(text.strip()))
        return query.order_by(AuditEvent.id.desc())


def audit_events(where: AuditFilter, *, limit: int = 100, before_id: int | None = None) -> list[AuditEvent]:
    """The newest entries matching `where`, older than `before_id` when given (the next page)."""
    query = where.query()
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(query.limit(limit))


CSV_COLUMNS = ("id", "created_at", "actor", "action", "target", "address", "data")


def audit_csv(where: AuditFilter) -> Iterator[str]:
    """Every entry matching `where`, newest first, as CSV lines (streamed, a header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row) -> str:
        buffer.seek(0)
        buffer.truncate()
        # A cell that starts like a formula would run in a spreadsheet: a quote keeps it text.
        writer.writerow([f"'{cell}" if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@") else cell
                         for cell in row])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for event in where.query().iterator():
        yield line((event.id, event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), event.actor_login, event.action,
                    event.target, event.remote_addr, event.data))
