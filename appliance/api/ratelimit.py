"""GitHub's rate limit: requests per hour per user (or per address for anonymous callers), counted in
the database, answered in the X-RateLimit-* headers and at /rate_limit. A limit of 0 turns it off,
as on a GitHub Enterprise Server with rate limiting disabled."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.auth.permissions import Actor
from appliance.models.api import ApiRateWindow
from appliance.models.base import utcnow
from appliance.settings import current_settings

WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class RateLimit:
    limit: int
    used: int
    reset: dt.datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset.replace(tzinfo=dt.UTC).timestamp())),
            "X-RateLimit-Used": str(min(self.used, self.limit)),
            "X-RateLimit-Resource": "core",
        }

    def as_json(self) -> dict:
        return {"limit": self.limit, "remaining": self.remaining, "used": min(self.used, self.limit),
                "reset": int(self.reset.replace(tzinfo=dt.UTC).timestamp()), "resource": "core"}


def _key(actor: Actor, address: str) -> tuple[str, int]:
    settings = current_settings()
    if actor.is_anonymous:
        return f"address:{address}", settings["api.anonymous_rate_limit"]
    return f"user:{actor.user.id}", settings["api.rate_limit"]


def count_request(actor: Actor, address: str) -> RateLimit | None:
    """Count one request of the caller; None when rate limiting is off for callers of its kind."""
    key, limit = _key(actor, address)
    if not limit:
        return None
    now = utcnow()
    start = now.replace(minute=0, second=0, microsecond=0)
    (ApiRateWindow.insert(key=key, window_start=start, used=1)
     .on_conflict(conflict_target=[ApiRateWindow.key, ApiRateWindow.window_start],
                  update={ApiRateWindow.used: ApiRateWindow.used + 1})
     .execute())
    used = (ApiRateWindow.select(ApiRateWindow.used)
            .where((ApiRateWindow.key == key) & (ApiRateWindow.window_start == start)).scalar())
    return RateLimit(limit=limit, used=int(used or 0), reset=start + WINDOW)


def current_limit(actor: Actor, address: str) -> RateLimit | None:
    """The caller's standing without counting a request (what /rate_limit shows)."""
    key, limit = _key(actor, address)
    if not limit:
        return None
    start = utcnow().replace(minute=0, second=0, microsecond=0)
    used = (ApiRateWindow.select(ApiRateWindow.used)
            .where((ApiRateWindow.key == key) & (ApiRateWindow.window_start == start)).scalar())
    return RateLimit(limit=limit, used=int(used or 0), reset=start + WINDOW)


def forget_old_windows() -> int:
    return ApiRateWindow.delete().where(ApiRateWindow.window_start < utcnow() - 2 * WINDOW).execute()
