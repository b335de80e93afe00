"""Outgoing email: render a message, record it in the outbox, and deliver it over SMTP in the background.

Without mail.host nothing is sent: the message is written to the log and kept in the outbox,
so a home lab without mail still sees its links.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from flask import Flask, current_app, g, has_request_context, render_template
from flask_babel import force_locale

from .extensions import db
from .models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

# One worker: messages go out one after another, and a slow SMTP server never ties up
# more than one thread however many requests send mail. Python joins it at exit, so a
# command that sends mail and ends still delivers what it queued.
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoebox-mail")
_pending: set[Future] = set()
# How long deferred work waits for its request to end; a request that never ends must not stall the mail.
REQUEST_END_WAIT_SECONDS = 30
_pending_lock = threading.Lock()
# A test email is sent while its admin waits: a server that does not answer must not hold the page longer.
TEST_TIMEOUT_SECONDS = 5
_HTML_LANG = re.compile(r'<html lang="([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)"')


def smtp_settings(app: Flask | None = None) -> dict:
    """The SMTP server mail goes to: the admin's (Admin → Settings, once a host is set there), else the
    config file's [mail] section."""
    from flask import has_app_context

    from . import instance

    if app is not None and not has_app_context():
        with app.app_context():
            return smtp_settings(app)
    settings = dict((app or current_app).config["SHOEBOX"]["mail"])
    if instance.get("smtp_host"):
        settings.update({key: instance.get(f"smtp_{key}") for key in ("host", "port", "security", "username",
                                                                       "password")})
    settings["sender"] = instance.get("smtp_sender") or settings["sender"]
    return settings


def smtp_configured(app: Flask | None = None) -> bool:
    """True when an SMTP host is set, so messages go out over SMTP rather than to the log."""
    return bool(smtp_settings(app)["host"])


def send(to: str, subject, template: str, locale: str | None = None, **context) -> OutboxMessage:
    """Render templates/mail/<template>.txt and .html, record an OutboxMessage, and deliver it without blocking.

    Subject and body are in `locale`, the recipient's language (else the instance default), never the
    language of whoever caused the message: pass the subject lazily (`_l(...)`) so it is translated here.
    """
    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject, text_body, html_body = _render(str(subject), template, context)
    configured = smtp_configured()
    message = OutboxMessage(to=to, subject=subject, text_body=text_body, html_body=html_body,
                            status="queued" if configured else "kept", error="")
    db.session.add(message)
    # The worker reads the row on its own connection, so it must be committed first; this commits
    # whatever else the caller has pending too (a token and its email are saved together).
    db.session.commit()
    if configured:
        _queue(message.id, current_app._get_current_object())
    else:
        log.info("Email to %s: %s\n%s", to, subject, text_body)
    return message


def _render(subject: str, template: str, context: dict) -> tuple[str, str, str]:
    from .web import public_base_url, site_name

    name = site_name()
    if name != "Shoebox":  # the instance's own name, so that its mail is known for what it is among others
        subject = f"[{name}] {subject}"
    context.update(base_url=public_base_url(), subject=subject)
    return subject, render_template(f"mail/{template}.txt", **context), render_template(f"mail/{template}.html", **context)


def init_app(app: Flask) -> None:
    """Let work queued by run_later() start once its request is over (see _release_work)."""
    app.teardown_request(_release_work)


def run_later(func: Callable, *args) -> None:
    """Run func(*args) on the mail worker, in an app context, after the current request has answered.

    For requests whose answer must not reveal what they find (has this address an account?): the
    lookup and the email it leads to both happen here, so either case takes the same time to answer.
    The work waits for the request to end, so it does not even compete with the answer for the CPU.
    """
    answered = threading.Event()
    if has_request_context():
        g.setdefault("shoebox_answered", []).append(answered)
    else:
        answered.set()
    _submit(_run_in_app, func, args, current_app._get_current_object(), answered)


def _release_work(_error=None) -> None:
    for answered in g.pop("shoebox_answered", ()):
        answered.set()


def wait_for_delivery(timeout: float = 10) -> None:
    """Block until every queued message and deferred task of this process has been attempted
    (tests and the CLI use it); a deferred task may queue a message, which is waited for too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _pending_lock:
            pending = set(_pending)
        if not pending:
            return
        wait_for_futures(pending, timeout=max(0.0, deadline - time.monotonic()))


def _queue(message_id: int, app: Flask) -> None:
    _submit(_deliver, message_id, app)


def _submit(func: Callable, *args) -> None:
    future = _worker.submit(func, *args)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future) -> None:
    with _pending_lock:
        _pending.discard(future)
    if future.exception() is not None:  # the outbox itself could not be updated (database gone?)
        log.error("Background email work crashed", exc_info=future.exception())


def _run_in_app(func: Callable, args: tuple, app: Flask, answered: threading.Event) -> None:
    answered.wait(timeout=REQUEST_END_WAIT_SECONDS)
    with app.app_context():
        func(*args)


def _deliver(message_id: int, app: Flask) -> None:
    """Send one outbox message and record "sent" or "failed" on its row (runs on the worker)."""
    with app.app_context():
        settings = smtp_settings(app)
        message = db.session.get(OutboxMessage, message_id)
        if message is None:  # removed from the outbox before its turn came
            return
        try:
            _transmit(_build(message, settings["sender"]), settings)
        except Exception as exc:  # the worker has no caller to raise to: the failure belongs on the row
            message.status, message.error = "failed", _one_line(exc)
            log.warning("Email %s to %s failed: %s", message.id, message.to, message.error)
        else:
            message.status, message.error = "sent", ""
        db.session.commit()


def send_test(to: str, subject: str, body: str, timeout: float = TEST_TIMEOUT_SECONDS) -> None:
    """Send one plain-text message now, through the SMTP settings in effect, waiting at most `timeout`
    seconds for the server; raises what smtplib raises (OSError, smtplib.SMTPException). Not kept."""
    settings = {**smtp_settings(), "timeout": min(timeout, current_app.config["SHOEBOX"]["mail"]["timeout"])}
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = settings["sender"], to, subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = make_msgid(domain=parseaddr(settings["sender"])[1].rpartition("@")[2] or "localhost")
    email.set_content(body, charset="utf-8")
    _transmit(email, settings)


def _build(message: OutboxMessage, sender: str) -> EmailMessage:
    """The MIME message: plain text with an HTML alternative, both UTF-8."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(utcnow())
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = make_msgid(domain=domain)
    email.set_content(message.text_body, charset="utf-8")
    email.add_alternative(message.html_body, subtype="html", charset="utf-8")
    language = _HTML_LANG.search(message.html_body or "")
    if language:  # the language it was rendered in, as its HTML says (mail/_layout.html); after set_content,
        email["Content-Language"] = language.group(1)  # which drops every Content-* header
    return email


def _transmit(email: EmailMessage, settings: dict) -> None:
    """Hand the message to the SMTP server, with the connection security and login configured."""
    host, port, timeout = settings["host"], settings["port"], settings["timeout"]
    if settings["security"] == "ssl":
        connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = smtplib.SMTP(host, port, timeout=timeout)
    with connection as smtp:
        if settings["security"] == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings["username"]:
            smtp.login(settings["username"], settings["password"])
        smtp.send_message(email)


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"[:500]
