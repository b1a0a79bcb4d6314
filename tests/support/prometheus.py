"""Debian's Prometheus scraping a live appliance every second, and PromQL queries against it."""
from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import requests

from tests.support.live import free_port, stop_process

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    def __init__(self, directory: Path, target: str):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.target = target  # HOST:PORT of the appliance
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = directory / "prometheus.log"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        config = self.directory / "prometheus.yml"
        config.write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{Path(__file__).resolve().parents[2] / 'config' / 'prometheus-alerts.yml'}"]
scrape_configs:
  - job_name: appliance
    metrics_path: /metrics
    static_configs:
      - targets: ["{self.target}"]
""")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - prometheus writes to it until stop()
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.origin}/-/ready", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"prometheus was not ready within 30 s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        if self.process:
            self._log.close()

    def query(self, promql: str) -> list[dict]:
        answer = requests.get(f"{self.origin}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The value of a query that gives one series (None when it gives none)."""
        result = self.query(promql)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, expected: float, timeout: float = 30) -> float | None:
        """Poll until the query gives `expected` (scrapes come every second); returns the last value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.value(promql)
            if value == expected:
                return value
            time.sleep(0.5)
        return value

    def settled(self, promql: str, timeout: float = 30) -> float | None:
        """The query's value once it has stayed the same over three scrapes."""
        deadline = time.monotonic() + timeout
        last = self.value(promql)
        while time.monotonic() < deadline:
            time.sleep(3)
            value = self.value(promql)
            if value == last:
                return value
            last = value
        raise AssertionError(f"{promql} kept changing for {timeout} s")

    def rules(self) -> list[dict]:
        answer = requests.get(f"{self.origin}/api/v1/rules", timeout=10).json()
        return [rule for group in answer["data"]["groups"] for rule in group["rules"]]
