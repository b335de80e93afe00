"""Outgoing email: delivered over real SMTP in the background, or kept in the outbox and the log."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask_babel import force_locale

from tests.fixtures.smtpserver import SMTP_PASSWORD, SMTP_USERNAME, free_port
from webapp import mail
from webapp.extensions import db
from webapp.models import OutboxMessage

MAIL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
LINK = "http://shoebox.test/account/verify/tok3n"

SAMPLE_CONTEXT = {
    "verify_email": {"name": "Ann", "link": LINK, "hours": 48},
    "reset_password": {"name": "Ann", "link": LINK, "minutes": 60},
    "email_change": {"name": "Ann", "link": LINK, "new_email": "new@example.com", "hours": 48},
    "email_change_notice": {"name": "Ann", "new_email": "new@example.com"},
    "password_changed": {"name": "Ann"},
    "deletion_scheduled": {"name": "Ann", "date": datetime(2030, 5, 17, tzinfo=timezone.utc), "cancel_link": LINK},
    "two_factor_changed": {"name": "Ann", "enabled": True},
    "signup_exists": {"name": "Ann", "login_link": "http://shoebox.test/login",
                      "reset_link": "http://shoebox.test/forgot-password"},
    "backup_failed": {"user": SimpleNamespace(shown_name="Ann"), "owner": SimpleNamespace(username="kim"),
                      "backup": SimpleNamespace(created_at=datetime(2030, 5, 17, 3, 0, tzinfo=timezone.utc)),
                      "error": "The storage s3://backups is unavailable: timed out."},
}


def smtp_settings(server, **extra) -> dict:
    return {"host": server.host, "port": server.port, "security": "none", **extra}


def outbox_row(message_id: int) -> OutboxMessage:
    """The row as the database has it now (the worker changed it on its own connection)."""
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def send_verification(to="ann@example.com", **context) -> int:
    message = mail.send(to, "Confirm your email address", "verify_email", **{"name": "Ann", "link": LINK, **context})
    return message.id


def test_message_is_delivered_over_smtp_with_text_and_html_parts(make_app, smtp_server):
    app = make_app(mail={**smtp_settings(smtp_server), "sender": "Shoebox <noreply@shoebox.test>"})
    with app.app_context():
        send_verification()
        mail.wait_for_delivery()
    [received] = smtp_server.wait_for(1)
    assert received.mail_from == "noreply@shoebox.test"
    assert received.rcpt_tos == ["ann@example.com"]
    message = received.message
    assert message["From"] == "Shoebox <noreply@shoebox.test>"
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Confirm your email address"
    assert message["Date"]
    assert message["Message-ID"].endswith("@shoebox.test>")
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert LINK in text.get_content() and "Hello Ann," in text.get_content()
    assert f'href="{LINK}"' in html.get_content()


def test_send_returns_before_delivery_and_the_row_goes_from_queued_to_sent(make_app, smtp_server):
    app = make_app(mail=smtp_settings(smtp_server))
    smtp_server.hold()
    with app.app_context():
        message_id = send_verification()
        assert outbox_row(message_id).status == "queued"
        smtp_server.release()
        mail.wait_for_delivery()
        row = outbox_row(message_id)
        assert (row.status, row.error) == ("sent", "")
    smtp_server.wait_for(1)


def test_smtp_login_uses_the_configured_username_and_password(make_app, smtp_server_with_login):
    app = make_app(mail=smtp_settings(smtp_server_with_login, username=SMTP_USERNAME, password=SMTP_PASSWORD))
    with app.app_context():
        message_id = send_verification()
        mail.wait_for_delivery()
        assert outbox_row(message_id).status == "sent"
    [received] = smtp_server_with_login.wait_for(1)
    assert received.login == SMTP_USERNAME


def test_a_rejected_smtp_login_marks_the_message_failed(make_app, smtp_server_with_login):
    app = make_app(mail=smtp_settings(smtp_server_with_login, username=SMTP_USERNAME, password="wrong"))
    with app.app_context():
        message_id = send_verification()
        mail.wait_for_delivery()
        row = outbox_row(message_id)
    assert row.status == "failed"
    assert "SMTPAuthenticationError" in row.error and "\n" not in row.error
    assert smtp_server_with_login.messages == []


def test_an_unreachable_smtp_server_marks_the_message_failed_without_raising(make_app, caplog):
    app = make_app(mail={"host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": 2})
    with app.app_context():
        message_id = send_verification()  # must not raise
        mail.wait_for_delivery()
        row = outbox_row(message_id)
    assert row.status == "failed"
    assert "ConnectionRefusedError" in row.error and "\n" not in row.error
    assert any(r.name == "webapp.mail" and r.levelno == logging.WARNING and "ann@example.com" in r.getMessage()
               for r in caplog.records)


def test_starttls_never_falls_back_to_plain_text(make_app, smtp_server):
    app = make_app(mail={**smtp_settings(smtp_server), "security": "starttls"})
    with app.app_context():
        message_id = send_verification()
        mail.wait_for_delivery()
        row = outbox_row(message_id)
    assert row.status == "failed" and "STARTTLS" in row.error
    assert smtp_server.messages == []


def test_without_smtp_host_the_message_is_kept_and_logged(make_app, smtp_server, caplog):
    app = make_app()  # mail.host is empty by default
    caplog.set_level(logging.INFO, logger="webapp.mail")
    with app.app_context():
        assert not mail.smtp_configured()
        message_id = send_verification()
        mail.wait_for_delivery()
        row = outbox_row(message_id)
    assert (row.status, row.to, row.subject) == ("kept", "ann@example.com", "Confirm your email address")
    assert LINK in row.text_body and LINK in row.html_body
    logged = [r.getMessage() for r in caplog.records if r.name == "webapp.mail"]
    assert len(logged) == 1
    assert logged[0].startswith("Email to ann@example.com: Confirm your email address\n")
    assert LINK in logged[0]
    assert smtp_server.messages == []


def test_smtp_configured_follows_mail_host(make_app):
    assert mail.smtp_configured(make_app(mail={"host": "smtp.example.com"}))
    assert not mail.smtp_configured(make_app())


def test_html_in_context_values_is_escaped_in_the_html_part(make_app, smtp_server):
    app = make_app(mail=smtp_settings(smtp_server))
    with app.app_context():
        send_verification(name="<b>x</b>")
        mail.wait_for_delivery()
    [received] = smtp_server.wait_for(1)
    html = received.message.get_body(("html",)).get_content()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "Hello <b>x</b>," in received.message.get_body(("plain",)).get_content()  # plain text needs no escaping


def test_a_message_is_rendered_in_the_recipients_language_not_the_requests(app):
    with app.test_request_context("/", headers={"Accept-Language": "fr"}), force_locale("fr"):
        message_id = send_verification(locale="de")
        row = outbox_row(message_id)
    assert row.status == "kept"
    assert '<html lang="de" dir="ltr">' in row.html_body and LINK in row.text_body


def mail_template_names() -> list[str]:
    return sorted(p.stem for p in MAIL_TEMPLATES.glob("*.html") if not p.name.startswith("_"))


def test_every_mail_template_has_a_text_and_an_html_version_and_sample_context():
    assert mail_template_names() == sorted(SAMPLE_CONTEXT)
    assert all((MAIL_TEMPLATES / f"{name}.txt").is_file() for name in SAMPLE_CONTEXT)


@pytest.mark.parametrize("template", sorted(SAMPLE_CONTEXT))
def test_every_mail_template_renders(app, template):
    context = SAMPLE_CONTEXT[template]
    with app.app_context():
        row = outbox_row(mail.send("ann@example.com", "A subject", template, **context).id)
    for body in (row.text_body, row.html_body):
        assert "Hello Ann," in body
        assert "http://shoebox.test" in body  # the footer names the instance from server.base_url
        for key in ("link", "cancel_link", "login_link", "reset_link", "new_email"):
            assert key not in context or context[key] in body
    assert "{{" not in row.text_body + row.html_body


def test_deletion_date_is_written_out_for_people(app):
    with app.app_context():
        row = outbox_row(mail.send("ann@example.com", "Deletion", "deletion_scheduled",
                                   **SAMPLE_CONTEXT["deletion_scheduled"]).id)
    assert "May 17, 2030" in row.text_body and "May 17, 2030" in row.html_body


@pytest.mark.parametrize("enabled, words", [(True, "turned on"), (False, "turned off")])
def test_two_factor_notice_says_which_way_it_changed(app, enabled, words):
    with app.app_context():
        row = outbox_row(mail.send("ann@example.com", "Two-factor login", "two_factor_changed",
                                   name="Ann", enabled=enabled).id)
    assert words in row.text_body and words in row.html_body
