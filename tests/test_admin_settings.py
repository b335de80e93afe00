"""Admin → Settings: each section saves, checks, audits, and changes what people notice; who may open it."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from
from tests.fixtures.media import make_jpeg, multipart
from tests.fixtures.smtpserver import free_port

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch):
    """Sign-ups and logins hash with a cheap argon2 (what a hash costs is not what these tests are about)."""
    from argon2 import PasswordHasher

    from webapp.auth import service

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = hasher.hash("not a real password")
    monkeypatch.setattr(service, "_hasher", hasher)
    monkeypatch.setattr(service, "_dummy_hash", lambda: dummy)


@pytest.fixture
def admin_client(app, client, make_user, auth):
    """A client logged in as the admin "root" (root@example.com)."""
    make_user(username="root", email="root@example.com", role="admin")
    auth.login("root")
    return client


def page(client, path="/admin/settings") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def save(client, section: str, htmx: bool = False, **fields):
    """Post one section's form as the page would (with its CSRF token)."""
    token = csrf_token_from(page(client))
    headers = {**HTMX, "X-CSRFToken": token} if htmx else {}
    return client.post(f"/admin/settings/{section}", data={"csrf_token": token, **fields}, headers=headers)


def errors_of(html: str, field: str) -> str:
    found = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', html, re.S)
    assert found, f"no error beside {field}"
    return found.group(1)


def setting(app, key):
    from webapp import instance

    with app.app_context():
        return instance.get(key)


def settings_events(app) -> list:
    from webapp.extensions import db
    from webapp.models import AuditEvent

    with app.app_context():
        events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "settings_changed")
                                    .order_by(AuditEvent.id)).all()
        return [(event.target, event.details["changes"]) for event in events]


def last_outbox_message(app):
    from webapp import mail
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    mail.wait_for_delivery()
    with app.app_context():
        return db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()


GENERAL = {"site_name": "Shoebox", "base_url": ""}
ACCOUNTS = {"default_plan": "free", "signup_per_hour": "20", "login_per_hour": "100"}
EMAIL = {"smtp_host": "", "smtp_port": "587", "smtp_security": "starttls", "smtp_username": "", "smtp_password": "",
         "smtp_sender": ""}


# --- the page ------------------------------------------------------------------------------------

def test_the_page_has_a_form_for_each_section(admin_client):
    html = page(admin_client)
    for section in ("settings-general", "settings-accounts", "settings-files", "hotlinks", "settings-email"):
        assert f'id="{section}"' in html
    assert html.count('name="csrf_token"') >= 6
    assert 'href="/admin/registration"' in html  # registration stays where it is, linked from here


# --- general ------------------------------------------------------------------------------------

def test_the_site_name_shows_in_page_titles_and_emails_and_is_audited(app, admin_client, client, make_user):
    make_user(username="pat", email="pat@example.com")
    response = save(admin_client, "general", **{**GENERAL, "site_name": "Family Photos"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/settings#settings-general"
    assert "<title>Settings · Family Photos</title>" in page(admin_client)
    assert settings_events(app) == [("settings", {"site_name": ["Shoebox", "Family Photos"]})]

    AuthActions(admin_client).logout()
    login_page = admin_client.get("/login").get_data(as_text=True)
    assert "· Family Photos</title>" in login_page and "<span>Family Photos</span>" in login_page
    admin_client.post("/password/forgot", data={"csrf_token": csrf_token_from(login_page), "email": "pat@example.com"})
    message = last_outbox_message(app)
    assert message.to == "pat@example.com"
    assert message.subject.startswith("[Family Photos] ")
    assert message.text_body.startswith("Family Photos\n=============\n")
    assert ">Family Photos</td>" in message.html_body


def test_the_public_address_builds_the_links_in_emails(app, admin_client, make_user):
    make_user(username="pat", email="pat@example.com")
    save(admin_client, "general", **{**GENERAL, "base_url": "https://Photos.Example.com/"})
    assert setting(app, "base_url") == "https://photos.example.com"
    AuthActions(admin_client).logout()
    token = csrf_token_from(admin_client.get("/password/forgot").get_data(as_text=True))
    admin_client.post("/password/forgot", data={"csrf_token": token, "email": "pat@example.com"})
    message = last_outbox_message(app)
    assert re.search(r"https://photos\.example\.com/password/reset/\S+", message.text_body), message.text_body
    assert "http://shoebox.test" not in message.text_body


@pytest.mark.parametrize("bad", ["photos.example.com", "ftp://photos.example.com", "https://user:pw@example.com",
                                 "https://example.com/?x=1", "https://example.com/#top", "https:///nohost",
                                 "https://example.com:99999", "https://exa mple.com", "https://example.com/a b"])
def test_a_bad_public_address_is_refused_beside_the_field_and_nothing_is_stored(app, admin_client, bad):
    response = save(admin_client, "general", htmx=True, site_name="New name", base_url=bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="settings-general"' in html
    assert "public address" in errors_of(html, "base_url")
    assert setting(app, "base_url") == "" and setting(app, "site_name") == "Shoebox"
    assert settings_events(app) == []


def test_an_empty_site_name_is_refused(app, admin_client):
    html = save(admin_client, "general", htmx=True, site_name="   ", base_url="").get_data(as_text=True)
    assert "Enter a site name" in errors_of(html, "site_name")


def test_admin_pages_warn_when_the_browser_is_at_another_address(app, admin_client):
    # The test client is at http://localhost; the app's config says http://shoebox.test.
    for path in ("/admin/settings", "/admin/registration", "/admin/outbox"):
        html = page(admin_client, path)
        assert "This page is open at http://localhost, but links in emails and share codes are built on " \
               "http://shoebox.test." in html, path
    save(admin_client, "general", **{**GENERAL, "base_url": "http://localhost"})
    for path in ("/admin/settings", "/admin/registration", "/admin/outbox"):
        assert "This page is open at" not in page(admin_client, path), path


def test_saving_the_address_updates_the_warning_out_of_band(admin_client):
    html = save(admin_client, "general", htmx=True, **{**GENERAL, "base_url": "http://localhost"}) \
        .get_data(as_text=True)
    assert '<div id="address-warning" hx-swap-oob="true">' in html and "This page is open at" not in html


# --- accounts -----------------------------------------------------------------------------------

def test_the_default_plan_is_given_to_new_accounts(app, admin_client, client):
    from webapp.extensions import db
    from webapp.models import User

    save(admin_client, "accounts", **{**ACCOUNTS, "default_plan": "pro"})
    assert settings_events(app) == [("settings", {"default_plan": ["free", "pro"]})]
    response = app.test_client().post("/api/v1/auth/signup", json={
        "email": "new@example.com", "username": "newbie", "password": STRONG_PASSWORD})
    assert response.status_code == 201
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.username == "newbie")).plan.name == "pro"


@pytest.mark.parametrize("plan, sentence", [("gold", "There is no plan called"), ("retired", "is retired")])
def test_an_unknown_or_retired_plan_is_refused(app, admin_client, plan, sentence):
    from webapp.extensions import db
    from webapp.models import Plan, utcnow

    with app.app_context():
        db.session.add(Plan(name="retired", retired_at=utcnow()))
        db.session.commit()
    html = save(admin_client, "accounts", htmx=True, **{**ACCOUNTS, "default_plan": plan}).get_data(as_text=True)
    assert sentence in errors_of(html, "default_plan")
    assert '<option value="retired"' not in html  # retired plans are not offered
    assert setting(app, "default_plan") == "free"


@pytest.mark.parametrize("field, value", [("signup_per_hour", "lots"), ("signup_per_hour", "0"),
                                          ("login_per_hour", "-5"), ("login_per_hour", "10001")])
def test_a_rate_limit_that_is_not_a_sensible_number_is_refused(app, admin_client, field, value):
    html = save(admin_client, "accounts", htmx=True, **{**ACCOUNTS, field: value}).get_data(as_text=True)
    assert "whole number from 1 to 10000" in errors_of(html, field)
    assert setting(app, field) in (20, 100)


def signups(app, count: int, start: int = 0) -> list[int]:
    client = app.test_client()
    return [client.post("/api/v1/auth/signup", json={"email": f"person{n}@example.com", "username": f"person{n}",
                                                     "password": STRONG_PASSWORD}).status_code
            for n in range(start, start + count)]


def test_a_household_behind_one_address_can_sign_up_more_than_three_people(app):
    assert signups(app, 6) == [201] * 6


def test_the_sign_up_limit_follows_the_setting(app, admin_client):
    save(admin_client, "accounts", **{**ACCOUNTS, "signup_per_hour": "2"})
    assert signups(app, 3) == [201, 201, 429]
    save(admin_client, "accounts", **{**ACCOUNTS, "signup_per_hour": "30"})
    assert signups(app, 4, start=3) == [201] * 4
    assert settings_events(app)[-1] == ("settings", {"signup_per_hour": [2, 30]})


def test_the_login_limit_follows_the_setting(app, admin_client, make_user):
    make_user(username="pat")
    save(admin_client, "accounts", **{**ACCOUNTS, "login_per_hour": "2"})
    client = app.test_client()
    answers = [client.post("/api/v1/auth/login", json={"identifier": "pat", "password": STRONG_PASSWORD}).status_code
               for _ in range(3)]
    assert answers == [200, 200, 429]


# --- files --------------------------------------------------------------------------------------

def png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(out, "PNG")
    return out.getvalue()


def test_an_image_type_that_is_not_ticked_is_refused_with_415(app, admin_client, kim):
    files = {"allowed_image_types": ["jpeg", "gif", "webp", "avif", "heic"], "analytics_retention_days": "90",
             "audit_retention_days": "0"}
    assert save(admin_client, "files", **files).status_code == 303
    assert setting(app, "allowed_image_types") == ["jpeg", "gif", "webp", "avif", "heic"]
    [(target, changes)] = settings_events(app)
    assert changes == {"allowed_image_types": [["jpeg", "png", "gif", "webp", "avif", "heic", "bmp", "tiff", "video"],
                                               ["jpeg", "gif", "webp", "avif", "heic"]]}
    refused = kim.upload(png(), "leaf.png")
    assert refused.status_code == 415
    assert refused.get_json()["error"]["message"] == \
        "This server does not accept PNG images; its admin chose which kinds of file it takes."
    assert kim.upload(make_jpeg(), "photo.jpg").status_code == 201
    html = page(admin_client)
    assert re.search(r'<input[^>]*checked[^>]*value="jpeg"|<input[^>]*value="jpeg"[^>]*checked', html)
    assert not re.search(r'<input[^>]*value="png"[^>]*checked', html)


def test_other_files_are_accepted_once_ticked(app, admin_client, kim):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert kim.upload(pdf, "notes.pdf").status_code == 415
    save(admin_client, "files", allowed_image_types=["jpeg", "png"], allow_any_file="y",
         analytics_retention_days="90", audit_retention_days="0")
    assert setting(app, "allow_any_file") is True
    assert kim.upload(pdf, "notes.pdf").status_code == 201


def test_no_image_type_at_all_is_refused(app, admin_client):
    html = save(admin_client, "files", htmx=True, analytics_retention_days="90", audit_retention_days="0") \
        .get_data(as_text=True)
    assert "Accept at least one image type." in errors_of(html, "allowed_image_types")


def test_retention_periods_are_saved_and_used(app, admin_client):
    from webapp.analytics import retention

    with app.app_context():
        assert retention.retention_days() == 90  # the config file's, until the admin changes it
    assert 'value="90"' in page(admin_client)
    save(admin_client, "files", allowed_image_types=["jpeg"], analytics_retention_days="30",
         audit_retention_days="365")
    with app.app_context():
        assert retention.retention_days() == 30
    assert setting(app, "audit_retention_days") == 365
    html = save(admin_client, "files", htmx=True, allowed_image_types=["jpeg"], analytics_retention_days="0",
                audit_retention_days="x").get_data(as_text=True)
    assert "from 1 to 3650" in errors_of(html, "analytics_retention_days")


def test_old_views_are_pruned_after_the_admins_retention(app, admin_client, kim):
    from datetime import timedelta

    from webapp.analytics import retention
    from webapp.extensions import db
    from webapp.models import ViewEvent, utcnow

    photo = kim.upload(make_jpeg(), "photo.jpg").get_json()
    save(admin_client, "files", allowed_image_types=["jpeg"], analytics_retention_days="10",
         audit_retention_days="0")
    with app.app_context():
        for days in (5, 20):
            db.session.add(ViewEvent(owner_id=kim.id, media_id=photo["id"], kind="view",
                                     at=utcnow() - timedelta(days=days)))
        db.session.commit()
        assert retention.prune_view_events() == 1  # the 20-day-old one; with the config's 90 days, none


def test_hotlinks_are_set_on_this_page(app, admin_client):
    html = page(admin_client)
    assert 'name="hotlink_allowed_sites"' in html and 'action="/admin/settings/hotlinks"' in html
    assert 'name="hotlink_allowed_sites"' not in page(admin_client, "/admin/registration")


# --- email --------------------------------------------------------------------------------------

def smtp_fields(server, **extra) -> dict:
    return {**EMAIL, "smtp_host": server.host, "smtp_port": str(server.port), "smtp_security": "none", **extra}


def test_the_smtp_server_set_here_sends_the_mail(app, admin_client, smtp_server, make_user):
    make_user(username="pat", email="pat@example.com")
    save(admin_client, "email", **smtp_fields(smtp_server, smtp_sender="Photos <photos@example.com>"))
    AuthActions(admin_client).logout()
    token = csrf_token_from(admin_client.get("/password/forgot").get_data(as_text=True))
    admin_client.post("/password/forgot", data={"csrf_token": token, "email": "pat@example.com"})
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["pat@example.com"] and received.message["From"] == "Photos <photos@example.com>"


def test_the_password_is_never_shown_and_an_empty_field_keeps_it(app, admin_client, smtp_server_with_login):
    from tests.fixtures.smtpserver import SMTP_PASSWORD, SMTP_USERNAME

    fields = smtp_fields(smtp_server_with_login, smtp_username=SMTP_USERNAME, smtp_password=SMTP_PASSWORD)
    html = save(admin_client, "email", htmx=True, **fields).get_data(as_text=True)
    assert SMTP_PASSWORD not in html and "A password is stored" in html
    assert SMTP_PASSWORD not in page(admin_client)
    assert settings_events(app)[-1][1]["smtp_password"] == "changed"
    assert SMTP_PASSWORD not in str(settings_events(app))
    save(admin_client, "email", **{**fields, "smtp_password": "", "smtp_port": str(smtp_server_with_login.port)})
    assert setting(app, "smtp_password") == SMTP_PASSWORD
    html = save(admin_client, "email/test", htmx=True).get_data(as_text=True)
    assert "A test email went to root@example.com" in html
    [received] = smtp_server_with_login.wait_for(1)
    assert received.login == SMTP_USERNAME


def test_the_test_email_arrives_at_the_admins_address(app, admin_client, smtp_server):
    save(admin_client, "email", **smtp_fields(smtp_server))
    response = save(admin_client, "email/test", htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"A test email went to root@example.com through {smtp_server.host}:{smtp_server.port}." in html
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["root@example.com"]
    assert received.message["Subject"] == "Test email from Shoebox"


def test_a_wrong_port_gets_one_sentence(app, admin_client):
    port = free_port()
    save(admin_client, "email", **{**EMAIL, "smtp_host": "127.0.0.1", "smtp_port": str(port),
                                   "smtp_security": "none"})
    response = save(admin_client, "email/test")  # without JavaScript: a flash on the page
    assert response.status_code == 303
    html = page(admin_client)
    assert f"Nothing accepts connections at 127.0.0.1:{port}: check the host and the port." in html


def test_without_any_smtp_server_the_test_says_so(admin_client):
    html = save(admin_client, "email/test", htmx=True).get_data(as_text=True)
    assert "No SMTP server is set" in html


@pytest.mark.parametrize("field, value, sentence", [
    ("smtp_port", "70000", "SMTP port"), ("smtp_host", "smtp example.com", "host name"),
    ("smtp_sender", "not an address", "sender"), ("smtp_security", "carrier-pigeon", "connection security")])
def test_bad_smtp_settings_are_refused_beside_their_field(app, admin_client, field, value, sentence):
    html = save(admin_client, "email", htmx=True, **{**EMAIL, "smtp_host": "smtp.example.com", field: value}) \
        .get_data(as_text=True)
    assert sentence in errors_of(html, field)
    assert setting(app, "smtp_host") == ""


# --- who may open it ----------------------------------------------------------------------------

def member_of_group(app, make_user, permissions: tuple[str, ...], username: str):
    """A plain member who also belongs to a group of the admin's granting `permissions`."""
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    user_id = make_user(username=username)
    with app.app_context():
        group = Group(name=f"group of {username}", description="")
        db.session.add(group)
        db.session.flush()
        db.session.add_all([GroupPermission(group_id=group.id, permission=p) for p in permissions]
                           + [UserGroup(user_id=user_id, group_id=group.id)])
        db.session.commit()
    client = app.test_client()
    AuthActions(client).login(username)
    return client


POSTS = ["/admin/settings/general", "/admin/settings/accounts", "/admin/settings/files", "/admin/settings/email",
         "/admin/settings/hotlinks", "/admin/settings/email/test"]


@pytest.mark.parametrize("who", ["anonymous", "member", "audit reader"])
def test_anyone_without_manage_settings_gets_404(app, client, make_user, who):
    make_user(username="root", role="admin")
    if who == "member":
        make_user(username="pat")
        AuthActions(client).login("pat")
    elif who == "audit reader":  # opens the panel (its audit page), but not this one
        client = member_of_group(app, make_user, ("view_audit",), "reader")
    assert client.get("/admin/settings").status_code == 404
    token = csrf_token_from(client.get("/login" if who == "anonymous" else "/").get_data(as_text=True))
    for path in POSTS:
        assert client.post(path, data={**GENERAL, "site_name": "Mine", "csrf_token": token}).status_code == 404, path
    assert setting(app, "site_name") == "Shoebox"


def test_a_group_with_manage_settings_gets_in(app, make_user):
    client = member_of_group(app, make_user, ("manage_settings",), "keeper")
    html = page(client)
    assert 'id="settings-general"' in html
    assert save(client, "general", **{**GENERAL, "site_name": "Kept"}).status_code == 303
    assert setting(app, "site_name") == "Kept"


def test_a_post_without_its_csrf_token_changes_nothing(app, admin_client):
    assert admin_client.post("/admin/settings/general", data={**GENERAL, "site_name": "Nope"}).status_code == 400
    assert setting(app, "site_name") == "Shoebox"
