"""A local aiosmtpd server, reached over real SMTP, that keeps every message it receives.

Import the fixtures into a test module: ``from tests.smtpserver import smtp_server  # noqa: F401``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USERNAME = "shoebox"
SMTP_PASSWORD = "mail-secret"


@dataclass
class ReceivedMessage:
    """One message as the server got it: the envelope, the parsed message and who logged in to send it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


class SMTPServer:
    """Records messages; `hold()` makes it wait before accepting them until `release()`."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        self._open = threading.Event()
        self._open.set()

    async def handle_DATA(self, server, session, envelope):
        deadline = time.monotonic() + 10
        # Polled rather than awaited in an executor, so stopping the server never leaves a thread behind.
        while not self._open.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        with self._arrived:
            self.messages.append(ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), parsed, login))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 5) -> list[ReceivedMessage]:
        """The messages, once at least `count` have arrived; fails the test after `timeout` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                pytest.fail(f"expected {count} email(s) within {timeout}s, got {len(self.messages)}")
            return list(self.messages)

    def hold(self) -> None:
        """Keep incoming messages waiting (at most 10 s), to look at a delivery in progress."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """Accept only SMTP_USERNAME with SMTP_PASSWORD."""
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USERNAME.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def free_port() -> int:
    """A loopback port nobody listens on right now (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(**options):
    server = SMTPServer("127.0.0.1", free_port())
    controller = Controller(server, hostname=server.host, port=server.port, **options)
    controller.start()
    return server, controller


@pytest.fixture
def smtp_server():
    """A plain SMTP server on a free loopback port (no TLS, no login)."""
    server, controller = _run()
    yield server
    server.release()
    controller.stop()


@pytest.fixture
def smtp_server_with_login():
    """An SMTP server that offers AUTH over plain text and accepts SMTP_USERNAME / SMTP_PASSWORD."""
    # Login is offered, not required: aiosmtpd warns when AUTH is required without TLS. Each
    # received message records who logged in, so a test can still see that login happened.
    server, controller = _run(authenticator=check_login, auth_require_tls=False)
    yield server
    server.release()
    controller.stop()
