"""gunicorn keeps connections alive, new connections spread over the workers, and a TLS handshake on the
plain-HTTP port is answered and logged as what it is (appliance.server)."""
from __future__ import annotations

import http.client
import os
import re
import socket
import ssl

import pytest


def connections_per_process(port: int) -> dict[int, int]:
    """Established connections to `port` held by each process, from /proc."""
    inodes = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:  # noqa: SIM115 - one read
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    held: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        count = sum(1 for link in links if (m := re.fullmatch(r"socket:\[(\d+)\]", link)) and m.group(1) in inodes)
        if count:
            held[int(pid)] = count
    return held


def test_connections_are_kept_alive_and_spread_over_the_workers(live):
    connections = []
    for _ in range(16):
        connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
        connection.request("GET", "/_health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and response.getheader("Connection") != "close"
        connections.append(connection)
    try:
        held = connections_per_process(live.port)
        workers = {pid for pid in held if pid != os.getpid()}
        assert len(workers) == live.workers, held  # every worker holds some of the 16
        for connection in connections:  # and each connection serves its next request
            connection.request("GET", "/_health")
            assert connection.getresponse().status == 200
            assert connection.sock is not None
    finally:
        for connection in connections:
            connection.close()
    assert "No keepalived connections" not in live.log_path.read_text()


def test_a_tls_handshake_on_the_plain_port_is_answered_400_and_logged_as_one_info_line(live):
    """What skopeo and docker do first: gunicorn logged it as a WARNING about a bare LF."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw,
          pytest.raises(ssl.SSLError, match="WRONG_VERSION_NUMBER")):  # the answer is not TLS
        context.wrap_socket(raw, server_hostname="appliance.test")
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello")
        assert raw.recv(4096).startswith(b"HTTP/1.1 400 Bad Request")
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    connection.request("GET", "/_health")
    assert connection.getresponse().status == 200
    connection.close()
    log = live.log_path.read_text()
    assert log.count("TLS handshake from ip=127.0.0.1 on this plain-HTTP port") == 2, log
    assert "bare LF" not in log and "Invalid request" not in log
