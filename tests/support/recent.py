"""A clock the test moves for the app's recent answers (credentials and roles remembered for a second)."""
from __future__ import annotations

from appliance.auth.recent import EXTENSION, RecentAnswers


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recent_answers_on_a_clock(app) -> Clock:
    """The app's recent answers on a clock the test moves."""
    clock = Clock()
    app.extensions[EXTENSION] = RecentAnswers(clock=clock)
    return clock
