"""`python -m webapp serve` against clients that open many connections and send their headers slowly."""

from __future__ import annotations

import select
import socket
import time
import urllib.parse
import urllib.request

import pytest

DRIBBLERS = 150  # more than waitress's own connection limit of 100
HEADER_TIMEOUT = 2


def _dribble(sockets: list[socket.socket]) -> None:
    """Send one more header line on every connection still open (never the blank line that ends them)."""
    for sock in sockets:
        try:
            sock.sendall(b"X-Slow: still typing\r\n")
        except OSError:
            pass  # the server has closed it: what the test waits for


def _closed_by_server(sock: socket.socket) -> bool:
    poller = select.poll()  # not select(): a long test run may hand out descriptors above 1023
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(1024) == b""
    except OSError:
        return True


@pytest.mark.slow
def test_clients_dribbling_headers_neither_lock_others_out_nor_keep_their_connections(start_instance):
    url = start_instance(SHOEBOX_SERVER__HEADER_TIMEOUT=str(HEADER_TIMEOUT))
    address = urllib.parse.urlsplit(url)
    dribblers = [socket.create_connection((address.hostname, address.port)) for _ in range(DRIBBLERS)]
    try:
        started = time.monotonic()
        for sock in dribblers:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: shoebox.test\r\n")
        time.sleep(0.5)
        _dribble(dribblers)

        asked = time.monotonic()
        with urllib.request.urlopen(url + "/health", timeout=3) as response:
            assert response.status == 200
        assert time.monotonic() - asked < 1, "a normal request waited behind the slow clients"

        # Dribbling on, every half second, a line at a time: each connection is still closed once its
        # headers have taken longer than header_timeout (checked once a second).
        while time.monotonic() - started < HEADER_TIMEOUT + 2.5:
            time.sleep(0.5)
            _dribble(dribblers)
            if all(_closed_by_server(sock) for sock in dribblers):
                break
        still_open = sum(not _closed_by_server(sock) for sock in dribblers)
        assert still_open == 0, f"{still_open} of {DRIBBLERS} slow connections were still open " \
                                f"{time.monotonic() - started:.1f} s after they started"
    finally:
        for sock in dribblers:
            sock.close()


@pytest.mark.slow  # a server process started for it
def test_a_body_larger_than_any_upload_may_be_is_refused_from_its_headers_before_it_is_sent(start_instance):
    """Anyone may send a POST: a body over the instance's upload cap must not be read (or buffered to disk)."""
    url = start_instance(SHOEBOX_LIMITS__MAX_UPLOAD_BYTES="1 MiB")
    address = urllib.parse.urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: 52428800\r\n\r\n")  # 50 MiB declared, none of it sent
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
