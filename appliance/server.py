"""Running the web application under gunicorn with threaded workers."""
from __future__ import annotations

from pathlib import Path

from gunicorn.app.base import BaseApplication


class ApplianceServer(BaseApplication):
    def __init__(self, home: Path, options: dict):
        self.home = home
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app after the fork, so no database connection crosses processes.
        from appliance import create_app

        return create_app(home=self.home)


def run_gunicorn(home: Path, *, bind: str, workers: int, threads: int) -> None:
    ApplianceServer(home, {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # Large uploads and downloads stream for minutes; the timeout is for stuck workers only.
        "timeout": 600,
        "graceful_timeout": 30,
        "accesslog": "-",
        "proc_name": "appliance",
    }).run()
