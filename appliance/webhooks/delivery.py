"""Sending deliveries, off the request path: the scheduler's `webhook_deliveries` job takes the ones
that are due, sends them from a pool of threads (a receiver that hangs is cut after 10 s and holds up
no other), records each attempt, and retries a failure with backoff for a day."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import urllib3

from appliance.db import database
from appliance.models.base import utcnow
from appliance.models.webhooks import Hook, HookDelivery
from appliance.settings import RuntimeSettings
from appliance.webhooks.guard import AddressRefused, resolve

log = logging.getLogger("appliance.webhooks")

TIMEOUT_SECONDS = 10.0
RETRY_FOR = dt.timedelta(days=1)
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_WAIT = dt.timedelta(hours=1)
# A delivery taken by a scheduler that then died is taken again after this.
CLAIM = dt.timedelta(minutes=2)
THREADS = 8
# How long one run of the job goes on taking deliveries (within the job's lease).
RUN_SECONDS = 60.0
RESPONSE_BYTES = 64 * 1024
USER_AGENT = "GitHub-Hookshot/appliance"


@dataclass(frozen=True)
class Attempt:
    status_code: int  # 0 when no HTTP answer came
    status: str
    response_headers: dict
    response_body: str
    duration: float
    retry: bool

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]
    insecure_ssl: bool


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed attempt: 30 s, doubling, at most an hour."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)


def build_request(hook: Hook, delivery: HookDelivery) -> Request:
    """The body as the hook's content type wants it, signed with the hook's secret."""
    payload = delivery.payload
    if hook.content_type == "json":
        body, content_type = payload.encode(), "application/json"
    else:
        body, content_type = urlencode({"payload": payload}).encode(), "application/x-www-form-urlencoded"
    target_type = "repository" if hook.repository_id is not None else "organization"
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": content_type,
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Delivery": delivery.guid,
        "X-GitHub-Hook-ID": str(hook.id),
        "X-GitHub-Hook-Installation-Target-Type": target_type,
        "X-GitHub-Hook-Installation-Target-ID": str(hook.repository_id or hook.organization_id),
    }
    if hook.secret:
        key = hook.secret.encode()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    return Request(hook.url, body, headers, hook.insecure_ssl == "1")


def send(request: Request, *, allow_private: bool) -> Attempt:
    """One attempt: connect to the address the guard checked, post, read at most RESPONSE_BYTES of
    the answer, all within TIMEOUT_SECONDS."""
    started = time.monotonic()

    def failed(status: str, *, retry: bool = True) -> Attempt:
        return Attempt(0, status, {}, "", time.monotonic() - started, retry)

    try:
        addresses = resolve(request.url, allow_private=allow_private)
    except AddressRefused as refused:
        return failed(f"Refused: {refused}", retry=False)
    parts = urlsplit(request.url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    timeout = urllib3.Timeout(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS)
    if https:
        pool = urllib3.HTTPSConnectionPool(
            addresses[0], port, timeout=timeout, retries=False, server_hostname=parts.hostname,
            assert_hostname=False if request.insecure_ssl else parts.hostname,
            cert_reqs="CERT_NONE" if request.insecure_ssl else "CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(addresses[0], port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen("POST", path, body=request.body, headers={**request.headers, "Host": host_header},
                                redirect=False, preload_content=False)
        try:
            chunks, size = [], 0
            for chunk in response.stream(8192):
                chunks.append(chunk)
                size += len(chunk)
                if size >= RESPONSE_BYTES:
                    break
                if time.monotonic() - started > TIMEOUT_SECONDS:
                    return failed("timed out")
            body = b"".join(chunks)[:RESPONSE_BYTES].decode("utf-8", "replace")
        finally:
            response.release_conn()
    except urllib3.exceptions.TimeoutError:
        return failed("timed out")
    except urllib3.exceptions.SSLError as error:
        return failed(f"TLS error: {error}")
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return failed(f"failed to connect to host: {type(error).__name__}")
    finally:
        pool.close()
    duration = time.monotonic() - started
    if duration > TIMEOUT_SECONDS:
        return failed("timed out")
    ok = 200 <= response.status < 300
    status = "OK" if ok else f"Invalid HTTP Response: {response.status}"
    return Attempt(response.status, status, dict(response.headers), body, duration, retry=not ok)


def _record(delivery: HookDelivery, request: Request, attempt: Attempt) -> None:
    now = utcnow()
    attempts = delivery.attempts + 1
    if attempt.ok or not attempt.retry or now + backoff(attempts) > delivery.created_at + RETRY_FOR:
        next_attempt = None
    else:
        next_attempt = now + backoff(attempts)
    # The column is short (GitHub's statuses are); the hook keeps the whole message.
    (HookDelivery.update(status=attempt.status[:HookDelivery.status.max_length], status_code=attempt.status_code, attempts=attempts,
                         next_attempt_at=next_attempt, delivered_at=now, duration=round(attempt.duration, 3),
                         request_headers=json.dumps(request.headers),
                         response_headers=json.dumps(attempt.response_headers),
                         response_body=attempt.response_body)
     .where(HookDelivery.id == delivery.id).execute())
    (Hook.update(last_response_code=attempt.status_code or None,
                 last_response_status="active" if attempt.ok else "failed",
                 last_response_message=attempt.status)
     .where(Hook.id == delivery.hook_id).execute())


def _take_due(busy: set[int], count: int) -> list[HookDelivery]:
    """Claim up to `count` due deliveries, at most one per hook and none of a hook with one in flight:
    a hook whose receiver hangs holds one thread, never the others' deliveries."""
    now = utcnow()
    query = (HookDelivery.select(HookDelivery, Hook).join(Hook)
             .where(HookDelivery.next_attempt_at <= now).order_by(HookDelivery.next_attempt_at, HookDelivery.id)
             .limit(count * 4))
    if busy:
        query = query.where(HookDelivery.hook.not_in(list(busy)))
    taken: dict[int, HookDelivery] = {}
    for delivery in query:
        if delivery.hook_id not in taken and len(taken) < count:
            taken[delivery.hook_id] = delivery
    if taken:
        # Claimed first, so a scheduler that dies midway leaves them to be taken again later.
        ids = [d.id for d in taken.values()]
        HookDelivery.update(next_attempt_at=now + CLAIM).where(HookDelivery.id.in_(ids)).execute()
    return list(taken.values())


def deliver_due(*, run_for: float = RUN_SECONDS) -> str:
    """The scheduler job: send what is due from THREADS threads, taking more as threads free up, until
    nothing is due or `run_for` seconds have passed (then the next run goes on)."""
    allow_private = RuntimeSettings.load()["webhooks.allow_private_addresses"]
    deadline = time.monotonic() + run_for
    in_flight: dict[Future, tuple[HookDelivery, Request]] = {}
    sent = attempted = 0
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="webhook") as pool:
        while True:
            free = THREADS - len(in_flight)
            if free and time.monotonic() < deadline:
                busy = {delivery.hook_id for delivery, _ in in_flight.values()}
                for delivery in _take_due(busy, free):
                    request = build_request(delivery.hook, delivery)
                    in_flight[pool.submit(send, request, allow_private=allow_private)] = (delivery, request)
            if not in_flight:
                break
            done, _ = wait(list(in_flight), timeout=0.2, return_when=FIRST_COMPLETED)
            with database.atomic():  # one write for every attempt that ended meanwhile
                for future in done:
                    delivery, request = in_flight.pop(future)
                    attempt = future.result()
                    _record(delivery, request, attempt)
                    attempted += 1
                    sent += attempt.ok
                    if not attempt.ok:
                        # The status says what failed; the URL is the hook's, never its secret.
                        log.info("delivery %s to hook %s: %s", delivery.guid, delivery.hook_id, attempt.status)
    if not attempted:
        return "nothing due"
    return f"sent {sent} of {attempted} due deliveries"
