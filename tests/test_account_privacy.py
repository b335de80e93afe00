"""Whether an address has an account must not show, not in the answer and not in how long it takes:
the request does the same work either way, and what depends on the answer happens afterwards."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from


@contextmanager
def statements_of_this_thread(app):
    """The SQL the request runs (the test client answers on this thread; background work does not)."""
    from webapp.extensions import db

    seen, me = [], threading.get_ident()

    def record(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def outbox_to(app, to):
    from webapp import mail
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    mail.wait_for_delivery()
    with app.app_context():
        return [m.subject for m in db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.to == to))]


@pytest.mark.parametrize("via", ["form", "api"])
def test_forgot_password_runs_the_same_statements_for_known_and_unknown_addresses(app, client, make_user, via):
    make_user(email="kim@example.com", username="kim")
    token = csrf_token_from(client.get("/password/forgot").get_data(as_text=True))

    def ask(email):
        with statements_of_this_thread(app) as seen:
            if via == "api":
                response = client.post("/api/v1/auth/forgot-password", json={"email": email})
            else:
                response = client.post("/password/forgot", data={"email": email, "csrf_token": token})
        # The CSRF token on the page is signed with the time in seconds: two renders may straddle a second.
        return response.status_code, _without_csrf(response.get_data(as_text=True)), seen

    known, unknown = ask("kim@example.com"), ask("nobody@example.com")
    assert known[0] == unknown[0] == (202 if via == "api" else 200)
    assert known[1] == unknown[1].replace("nobody@", "kim@")
    assert known[2] == unknown[2]
    assert outbox_to(app, "kim@example.com") == ["Reset your password"]
    assert outbox_to(app, "nobody@example.com") == []


def test_resend_verification_runs_the_same_statements_for_known_and_unknown_addresses(app, client, make_user):
    make_user(email="kim@example.com", username="kim", verified=False)

    def ask(email):
        with statements_of_this_thread(app) as seen:
            response = client.post("/api/v1/auth/resend-verification", json={"email": email})
        return response.status_code, seen

    known = ask("kim@example.com")
    assert known[0] == 202 and known == ask("nobody@example.com")
    assert outbox_to(app, "kim@example.com") == ["Confirm your email address"]


def test_browser_signup_hashes_a_password_and_commits_once_whether_or_not_the_address_is_taken(
        app, client, make_user, monkeypatch):
    from webapp import mail
    from webapp.auth import service

    make_user(email="admin@example.com", username="admin", role="admin")
    with app.app_context():
        from webapp import instance

        instance.put("registration", "open")
    hashes, sent_in_request = [], []
    real_hash, real_send = service.hash_password, mail.send
    monkeypatch.setattr(service, "hash_password", lambda password: hashes.append(1) or real_hash(password))
    me = threading.get_ident()

    def watching_send(*args, **kwargs):
        if threading.get_ident() == me:
            sent_in_request.append(args[0])
        return real_send(*args, **kwargs)

    monkeypatch.setattr(mail, "send", watching_send)
    token = csrf_token_from(client.get("/signup").get_data(as_text=True))

    def sign_up(email, username):
        hashes.clear()
        with statements_of_this_thread(app) as seen:
            response = client.post("/signup", data={"email": email, "username": username, "password": STRONG_PASSWORD,
                                                    "confirm": STRONG_PASSWORD, "csrf_token": token})
        commits = sum(1 for statement in seen if statement.strip().upper() == "COMMIT")
        return response.status_code, len(hashes), "Check your inbox" in response.get_data(as_text=True), commits

    taken = sign_up("admin@example.com", "someone")
    fresh = sign_up("new@example.com", "newcomer")
    assert taken == fresh and taken[:3] == (200, 1, True)
    assert sent_in_request == []  # the emails are rendered and written after the answer
    assert outbox_to(app, "admin@example.com") == ["Someone tried to sign up with your email address"]
    assert outbox_to(app, "new@example.com") == ["Confirm your email address"]


def test_work_left_for_after_the_request_starts_only_once_the_request_is_over(app):
    from webapp import mail

    ran = threading.Event()
    with app.test_request_context("/password/forgot", method="POST"):
        mail.run_later(ran.set)
        # While the request is still being answered, the deferred work must not compete with it.
        assert not ran.wait(0.3)
        app.do_teardown_request()
    assert ran.wait(10)


def _without_csrf(page: str) -> str:
    """The page with its CSRF tokens (each render signs a fresh one) replaced by a placeholder."""
    return re.sub(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}", "CSRF", page)
