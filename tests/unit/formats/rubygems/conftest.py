from __future__ import annotations

import subprocess

import pytest

from tests.clients.conftest import require_client


@pytest.fixture
def ruby(tmp_path):
    """Run a Ruby script with a file of bytes as ARGV[0]; its stdout."""
    require_client("ruby")

    def run(script: str, data: bytes) -> str:
        path = tmp_path / "input.bin"
        path.write_bytes(data)
        done = subprocess.run(["ruby", "-e", script, str(path)], check=False, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout
    return run
