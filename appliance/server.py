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


def _child_exit(server, worker) -> None:
    from appliance.metrics import worker_exited

    worker_exited(worker.pid)


def _post_fork(server, worker) -> None:
    from appliance.metrics import worker_started

    worker_started(worker.age, server.num_workers)


def run_gunicorn(home: Path, *, bind: str, workers: int, threads: int, metrics: bool = False) -> None:
    """Serve the appliance of `home`; with `metrics`, the workers share a fresh multiprocess directory."""
    hooks = {}
    if metrics:
        from appliance.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(home, bind)
        hooks = {"child_exit": _child_exit, "post_fork": _post_fork}
    ApplianceServer(home, {
        **hooks,
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # A worker takes no more connections than it has threads to serve: one that accepted more would
        # keep them waiting while another worker idles (under load one worker took all 16 of wrk's
        # keep-alive connections and served half of what two do). The rest wait in the listen backlog
        # for whichever worker frees a thread first.
        "worker_connections": threads,
        # Large uploads and downloads stream for minutes; the timeout is for stuck workers only.
        "timeout": 600,
        "graceful_timeout": 30,
        "accesslog": "-",
        "proc_name": "appliance",
    }).run()
