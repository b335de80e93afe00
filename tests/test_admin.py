"""The admin panel: hidden from everyone but admins, registration settings, invites, the mail outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin_client(app, client, make_user, auth):
    """A client logged in as the admin "root" (user1 also exists, as a plain user)."""
    make_user(username="user1")
    make_user(username="root", role="admin")
    auth.login("root")
    return client


def token(client, path="/admin/registration") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def db_rows(app, model, *where):
    from webapp.extensions import db

    with app.app_context():
        return db.session.scalars(db.select(model).where(*where).order_by(model.id)).all()


def add_outbox_message(app, **fields):
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    values = {"to": "ann@example.com", "subject": "Hello", "text_body": "Hi", "html_body": "<p>Hi</p>",
              "status": "kept", **fields}
    with app.app_context():
        message = OutboxMessage(**values)
        db.session.add(message)
        db.session.commit()
        return message.id


def create_invite(client, note="For Ann", days="14", headers=HTMX) -> tuple[str, str]:
    """Create an invite through the page; returns (raw code, response html)."""
    response = client.post("/admin/invites", data={"note": note, "days": days},
                           headers={**headers, "X-CSRFToken": token(client)})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    match = re.search(r'<code class="secret">([^<]+)</code>', html)
    assert match, "the new invite code is not shown"
    return match.group(1), html


def consume(app, code):
    from webapp.auth import invites
    from webapp.extensions import db

    with app.test_request_context():
        invite = invites.consume_invite(code)
        db.session.commit()
        return invite.id


# --- nobody but an admin learns that the pages exist ------------------------------------------

ADMIN_GETS = ["/admin/registration", "/admin/outbox", "/admin/outbox/1", "/admin/outbox/1/html", "/admin/outbox?before=5"]
ADMIN_POSTS = [("/admin/registration", {"registration": "closed"}), ("/admin/invites", {"note": "x", "days": "3"}),
               ("/admin/invites/1/revoke", {})]


@pytest.mark.parametrize("who", ["anonymous", "plain user"])
def test_admin_pages_answer_404_to_anyone_but_an_admin(app, client, make_user, who):
    from webapp import instance
    from webapp.auth import invites
    from webapp.models import Invite

    admin_id = make_user(username="root", role="admin")
    make_user(username="kim")
    add_outbox_message(app)
    with app.test_request_context():
        from webapp.extensions import db
        from webapp.models import User

        invites.create_invite(db.session.get(User, admin_id), "existing")
    if who == "plain user":
        AuthActions(client).login("kim")
    csrf = csrf_token_from(client.get("/login" if who == "anonymous" else "/").get_data(as_text=True))

    for path in ADMIN_GETS:
        for headers in ({}, HTMX):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, (path, headers)
            assert "Location" not in response.headers
    for path, data in ADMIN_POSTS:
        for sent in ({}, {"csrf_token": csrf}):  # even without a token: a 400 would confirm the route
            response = client.post(path, data={**data, **sent})
            assert response.status_code == 404, (path, sent)
        response = client.post(path, data=data, headers={**HTMX, "X-CSRFToken": csrf})
        assert response.status_code == 404, path

    with app.app_context():
        assert instance.get("registration") == "open"
    [invite] = db_rows(app, Invite)
    assert invite.expires_at > invite.created_at + timedelta(days=13)


def test_unknown_admin_address_and_missing_rows_are_404_for_the_admin_too(admin_client):
    assert admin_client.get("/admin/nothing-here").status_code == 404
    assert admin_client.get("/admin/outbox/999").status_code == 404
    response = admin_client.post("/admin/invites/999/revoke", headers={**HTMX, "X-CSRFToken": token(admin_client)})
    assert response.status_code == 404


def test_admin_sees_the_registration_and_outbox_pages(admin_client):
    page = admin_client.get("/admin/registration").get_data(as_text=True)
    assert "<html" in page
    assert 'id="registration-settings"' in page and 'id="invites"' in page
    assert "Invite only" in page and "People need an invite code from an admin" in page
    assert re.search(r'<input[^>]* checked [^>]*value="open"', page)
    assert 'href="/admin/outbox"' in page  # the admin sub-navigation
    outbox = admin_client.get("/admin/outbox")
    assert outbox.status_code == 200
    assert "The outbox is empty" in outbox.get_data(as_text=True)


# --- registration settings --------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["closed", "invite"])
def test_switching_registration_is_saved_and_audited(app, admin_client, mode):
    from webapp import instance
    from webapp.models import AuditEvent, User

    response = admin_client.post("/admin/registration", data={"registration": mode, "csrf_token": token(admin_client)})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/registration"
    page = admin_client.get("/admin/registration").get_data(as_text=True)
    assert "Registration settings saved." in page
    assert re.search(rf'<input[^>]* checked [^>]*value="{mode}"', page)

    with app.app_context():
        assert instance.get("registration") == mode
        assert instance.get("unverified_may_upload") is False  # the box was not ticked
    [root] = db_rows(app, User, User.username == "root")
    [event] = db_rows(app, AuditEvent, AuditEvent.action == "settings_changed")
    assert event.actor_id == root.id
    assert event.details["changes"]["registration"] == ["open", mode]


def test_saving_unchanged_settings_records_nothing(app, admin_client):
    from webapp.models import AuditEvent

    response = admin_client.post("/admin/registration", data={"registration": "open", "unverified_may_upload": "y"},
                                 headers={**HTMX, "X-CSRFToken": token(admin_client)})
    assert response.status_code == 200
    assert db_rows(app, AuditEvent, AuditEvent.action == "settings_changed") == []


def test_unknown_registration_mode_is_refused_beside_the_field(app, admin_client):
    from webapp import instance

    response = admin_client.post("/admin/registration", data={"registration": "everyone"},
                                 headers={**HTMX, "X-CSRFToken": token(admin_client)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="registration-errors"' in html and "Not a valid choice" in html
    with app.app_context():
        assert instance.get("registration") == "open"


# --- invites ----------------------------------------------------------------------------------

def test_new_invite_code_is_shown_once_and_works_once(app, admin_client):
    from webapp.errors import Forbidden
    from webapp.models import AuditEvent, Invite

    code, html = create_invite(admin_client, note="For Ann", days="7")
    assert f'href="http://shoebox.test/signup?invite={code}"' in html
    assert "For Ann" in html and f"{code[:4]}…" in html and "Unused" in html
    assert code not in admin_client.get("/admin/registration").get_data(as_text=True)

    [invite] = db_rows(app, Invite)
    assert invite.note == "For Ann"
    assert timedelta(days=6, hours=23) < invite.expires_at - invite.created_at <= timedelta(days=7, minutes=1)
    assert db_rows(app, AuditEvent, AuditEvent.action == "invite_created")

    assert consume(app, code) == invite.id
    with pytest.raises(Forbidden):
        consume(app, code)
    page = admin_client.get("/admin/registration").get_data(as_text=True)
    assert "Used" in page and "Revoke" not in page


@pytest.mark.parametrize("days, message", [("0", "from 1 to 90"), ("91", "from 1 to 90"), ("", "from 1 to 90")])
def test_invite_validity_outside_1_to_90_days_is_refused_beside_the_field(app, admin_client, days, message):
    from webapp.models import Invite

    response = admin_client.post("/admin/invites", data={"note": "x", "days": days},
                                 headers={**HTMX, "X-CSRFToken": token(admin_client)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="days-errors"' in html and message in html
    assert db_rows(app, Invite) == []


def test_revoked_invite_no_longer_works(app, admin_client):
    from webapp.errors import Forbidden
    from webapp.models import AuditEvent, Invite

    code, _html = create_invite(admin_client)
    [invite] = db_rows(app, Invite)
    response = admin_client.post(f"/admin/invites/{invite.id}/revoke",
                                 headers={**HTMX, "X-CSRFToken": token(admin_client)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="invites"' in html
    assert "Expired" in html and "Revoke" not in html
    assert "The invite was revoked" in html  # the flash rides along out of band

    with pytest.raises(Forbidden):
        consume(app, code)
    [event] = db_rows(app, AuditEvent, AuditEvent.action == "invite_revoked")
    assert event.target == f"invite:{invite.id}"
    again = admin_client.post(f"/admin/invites/{invite.id}/revoke", data={"csrf_token": token(admin_client)})
    assert again.status_code == 404


# --- the mail outbox --------------------------------------------------------------------------

def test_outbox_lists_a_kept_message_and_shows_it_escaped(app, admin_client):
    from webapp import mail

    with app.test_request_context():
        message = mail.send("ann@example.com", "Confirm your email address", "verify_email",
                            name="<script>alert(1)</script>", link="http://shoebox.test/verify/t0k")
        message_id, html_body = message.id, message.html_body
    outbox = admin_client.get("/admin/outbox").get_data(as_text=True)
    assert "No SMTP server is configured: messages are kept here and written to the log." in outbox
    assert "ann@example.com" in outbox and "Confirm your email address" in outbox and "Kept" in outbox
    assert f'href="/admin/outbox/{message_id}"' in outbox

    detail = admin_client.get(f"/admin/outbox/{message_id}").get_data(as_text=True)
    assert "http://shoebox.test/verify/t0k" in detail
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;," in detail
    assert "<script>alert" not in detail
    assert f'href="/admin/outbox/{message_id}/html"' in detail

    source = admin_client.get(f"/admin/outbox/{message_id}/html").get_data(as_text=True)
    assert str(escape(html_body)) in source  # the HTML is shown as source, never rendered
    assert html_body not in source and "<script>alert" not in source


def test_outbox_names_the_smtp_server_when_one_is_configured(make_app):
    from webapp.auth import service

    app = make_app(mail={"host": "smtp.example.com"})
    with app.app_context():
        service.create_user("root@example.com", "root", STRONG_PASSWORD, role="admin", verified=True)
    client = app.test_client()
    AuthActions(client).login("root")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "Messages are sent through smtp.example.com." in page


def test_outbox_shows_a_failed_delivery_with_its_error(app, admin_client):
    add_outbox_message(app, status="failed", error="SMTPAuthenticationError: bad credentials")
    page = admin_client.get("/admin/outbox").get_data(as_text=True)
    assert "Failed" in page and "SMTPAuthenticationError: bad credentials" in page


def test_outbox_is_newest_first_fifty_to_a_page(app, admin_client):
    ids = [add_outbox_message(app, subject=f"Message {n}") for n in range(1, 52)]
    first = admin_client.get("/admin/outbox").get_data(as_text=True)
    listed = [int(i) for i in re.findall(r'href="/admin/outbox/(\d+)"', first)]
    assert listed == ids[::-1][:50]
    assert f'href="/admin/outbox?before={ids[1]}"' in first

    second = admin_client.get(f"/admin/outbox?before={ids[1]}").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'href="/admin/outbox/(\d+)"', second)] == [ids[0]]
    assert "Older messages" not in second and "Newest messages" in second


# --- htmx and plain forms ---------------------------------------------------------------------

def test_htmx_post_gets_only_its_section(admin_client):
    response = admin_client.post("/admin/registration", data={"registration": "invite"},
                                 headers={**HTMX, "X-CSRFToken": token(admin_client)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert '<section id="registration-settings"' in html
    assert 'id="invites"' not in html
    assert "Registration settings saved." in html and 'hx-swap-oob="beforeend"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_post_without_javascript_gets_the_whole_page(admin_client):
    code, html = create_invite(admin_client, headers={})
    assert "<html" in html and 'id="registration-settings"' in html and 'id="invites"' in html
    assert code


@pytest.mark.parametrize("path, data", ADMIN_POSTS)
def test_admin_post_without_csrf_token_is_refused(app, admin_client, path, data):
    from webapp import instance
    from webapp.models import Invite

    response = admin_client.post(path, data=data)
    assert response.status_code == 400
    assert "The form expired or was sent from another site" in response.get_data(as_text=True)
    with app.app_context():
        assert instance.get("registration") == "open"
    assert db_rows(app, Invite) == []
