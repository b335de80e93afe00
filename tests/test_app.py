"""The foundation as a visitor meets it: first-run setup, pages, errors, headers, health."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from

HTMX = {"HX-Request": "true"}


def setup_form(client, **fields):
    token = csrf_token_from(client.get("/setup").get_data(as_text=True))
    data = {"email": "admin@example.com", "username": "admin", "password": STRONG_PASSWORD,
            "confirm": STRONG_PASSWORD, "csrf_token": token}
    data.update(fields)
    return client.post("/setup", data=data)


# --- first run -------------------------------------------------------------------------------

def test_empty_instance_sends_every_page_to_setup(client):
    for path in ("/", "/login", "/no-such-page"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/setup"


def test_setup_creates_the_admin_logs_in_and_then_disappears(app, client):
    response = setup_form(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Your shoebox is empty" in page and "admin" in page
    assert client.get("/setup").status_code == 404

    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        admin = db.session.scalar(db.select(User))
        assert (admin.email, admin.role, admin.is_verified, admin.plan.name) == ("admin@example.com", "admin", True, "unlimited")
        assert admin.password_hash.startswith("$argon2id$")


def test_setup_explains_a_weak_password_and_keeps_the_email(client):
    response = setup_form(client, password="password123", confirm="password123")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "one of the most commonly used passwords" in page
    assert 'value="admin@example.com"' in page
    assert client.get("/").status_code == 302  # still not set up


@pytest.mark.parametrize("fields, message", [
    ({"email": "not-an-email"}, "does not look like an email address"),
    ({"username": "a b"}, "A username has 3 to 40"),
    ({"password": "short", "confirm": "short"}, "at least 10 characters"),
    ({"confirm": "something else entirely"}, "The two passwords differ"),
])
def test_setup_refuses_bad_input_with_a_sentence(client, fields, message):
    response = setup_form(client, **fields)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_setup_post_is_refused_once_an_account_exists(client, make_user):
    token = csrf_token_from(client.get("/login").get_data(as_text=True)) if False else None
    make_user()
    response = client.post("/setup", data={"csrf_token": token or ""})
    assert response.status_code in (400, 404)


def test_create_admin_command_makes_an_admin(app, runner):
    result = runner.invoke(args=["create-admin", "--email", "Root@Example.com", "--username", "root",
                                 "--password", STRONG_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "root <root@example.com> created" in result.output

    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        assert db.session.scalar(db.select(User.role).where(User.username == "root")) == "admin"


def test_create_admin_command_explains_bad_input(runner):
    result = runner.invoke(args=["create-admin", "--email", "x", "--username", "root", "--password", STRONG_PASSWORD])
    assert result.exit_code != 0
    assert "does not look like an email address" in result.output


# --- logging in and out ----------------------------------------------------------------------

def test_login_with_username_or_email_then_logout(client, make_user, auth):
    make_user(email="Kim@Example.com", username="kim")
    assert auth.login("kim").headers["Location"] == "/"
    assert client.get("/").status_code == 200
    auth.logout()
    assert client.get("/").status_code == 302
    assert auth.login("KIM@example.com").headers["Location"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(client, make_user, auth):
    make_user(username="kim")
    wrong = auth.login("kim", "not the password at all").get_data(as_text=True)
    unknown = auth.login("nobody", "not the password at all").get_data(as_text=True)
    sentence = "That email or username and password do not match an account."
    assert sentence in wrong and sentence in unknown


def test_login_refuses_to_redirect_off_site(client, make_user, auth):
    make_user(username="kim")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        page = client.get("/login", query_string={"next": evil}).get_data(as_text=True)
        token = csrf_token_from(page)
        response = client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD,
                                               "next": evil, "csrf_token": token})
        assert response.headers["Location"] == "/", evil
        auth.logout()


def test_login_keeps_a_local_next(client, make_user):
    make_user(username="kim")
    response = client.get("/?view=1")
    assert response.headers["Location"].startswith("/login?next=")
    token = csrf_token_from(client.get(response.headers["Location"]).get_data(as_text=True))
    response = client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD,
                                           "next": "/?view=1", "csrf_token": token})
    assert response.headers["Location"] == "/?view=1"


def test_post_without_csrf_token_is_refused(client, make_user):
    make_user(username="kim")
    response = client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD})
    assert response.status_code == 400
    assert "The form expired or was sent from another site" in response.get_data(as_text=True)


def test_htmx_post_with_csrf_header_is_accepted(client, make_user):
    make_user(username="kim")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD},
                           headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 302


def test_blocked_account_loses_its_session_at_once(app, client, make_user, auth):
    from webapp.extensions import db
    from webapp.models import User

    user_id = make_user()
    auth.login()
    assert client.get("/").status_code == 200
    with app.app_context():
        db.session.get(User, user_id).is_blocked = True
        db.session.commit()
    assert client.get("/").status_code == 302


def test_bumping_the_session_epoch_logs_out_everywhere(app, client, make_user, auth):
    from webapp.extensions import db
    from webapp.models import User

    user_id = make_user()
    auth.login()
    with app.app_context():
        db.session.get(User, user_id).session_epoch += 1
        db.session.commit()
    assert client.get("/").status_code == 302


def test_htmx_request_to_a_protected_page_redirects_the_whole_page(client, make_user):
    make_user()
    response = client.get("/", headers=HTMX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login")


def test_login_is_rate_limited_per_address_with_retry_after(client, make_user):
    make_user(username="kim")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    statuses = [client.post("/login", data={"identifier": f"guess{n}", "password": "wrong wrong wrong",
                                            "csrf_token": token}).status_code for n in range(11)]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    response = client.post("/login", data={"identifier": "kim", "password": "x", "csrf_token": token})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "Too many requests. Try again in" in response.get_data(as_text=True)


def test_forged_forwarded_for_does_not_reset_the_limit(client, make_user):
    make_user(username="kim")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    for n in range(12):
        response = client.post("/login", data={"identifier": "kim", "password": "wrong wrong wrong",
                                               "csrf_token": token},
                               headers={"X-Forwarded-For": f"203.0.113.{n}"})
    assert response.status_code == 429


def test_trusted_proxy_hop_gives_the_client_address(make_app, make_user):
    app = make_app(server={"trusted_proxies": 1})
    client = app.test_client()
    from webapp.auth import service

    with app.app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))

    def attempt(ip, n):
        return client.post("/login", data={"identifier": f"guess{n}", "password": "wrong wrong wrong",
                                           "csrf_token": token}, headers={"X-Forwarded-For": ip}).status_code

    assert [attempt("198.51.100.7", n) for n in range(11)][-1] == 429
    assert attempt("198.51.100.8", 99) == 200  # a different client behind the same proxy


def test_login_is_limited_per_account_whatever_the_address(client, make_user):
    make_user(username="kim")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    statuses = [client.post("/login", data={"identifier": "kim", "password": "wrong wrong wrong", "csrf_token": token},
                            environ_base={"REMOTE_ADDR": f"203.0.113.{n}"}).status_code for n in range(6)]
    assert statuses == [200] * 5 + [429]


def test_successful_logins_do_not_use_up_the_account_limit(client, make_user, auth):
    make_user(username="kim")
    for _ in range(7):
        assert auth.login("kim").status_code == 302
        auth.logout()


# --- pages, fragments and errors -------------------------------------------------------------

@pytest.fixture
def logged_in(client, make_user, auth):
    make_user()
    auth.login()
    return client


def test_every_html_response_varies_on_hx_request(logged_in):
    for path in ("/", "/nope"):
        assert "HX-Request" in logged_in.get(path).headers.get("Vary", "")


def test_security_headers_on_every_response(logged_in):
    for path in ("/", "/health", "/nope", "/static/css/app.css"):
        with logged_in.get(path) as response:
            headers = response.headers
            csp = headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["X-Frame-Options"] == "DENY"
            assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_script(logged_in):
    import re

    page = logged_in.get("/").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert " on" not in re.sub(r"\s+", " ", " ".join(re.findall(r"<[^>]+>", page))).replace(" one", "")


def test_session_cookie_is_httponly_samesite_and_secure_on_localhost(app, make_user):
    make_user(username="kim")
    client = app.test_client()
    token = csrf_token_from(client.get("/login", base_url="http://localhost").get_data(as_text=True))
    response = client.post("/login", base_url="http://localhost",
                           data={"identifier": "kim", "password": STRONG_PASSWORD, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_session_cookie_is_secure_behind_https(make_app):
    app = make_app(security={"secure_cookies": True})
    response = app.test_client().get("/setup")
    assert "Secure" in response.headers["Set-Cookie"]


def test_request_id_is_returned_and_reused_when_sane(client):
    generated = client.get("/health").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert client.get("/health", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"] != "<script>"


def test_one_log_line_per_request_with_its_id(client, caplog):
    with caplog.at_level("INFO", logger="webapp.requests"):
        client.get("/health", headers={"X-Request-ID": "trace-42"})
    lines = [r for r in caplog.records if r.name == "webapp.requests"]
    assert len(lines) == 1
    assert lines[0].request_id == "trace-42" and lines[0].status == 200 and "GET /health 200" in lines[0].getMessage()


def test_json_log_format_carries_request_fields():
    import logging

    from webapp.logs import JSONFormatter

    record = logging.LogRecord("webapp.requests", logging.INFO, __file__, 1, "GET / 200", None, None)
    record.request_id = "r1"
    entry = json.loads(JSONFormatter().format(record))
    assert entry["request_id"] == "r1" and entry["message"] == "GET / 200" and entry["level"] == "info"


def test_not_found_as_page_fragment_and_json(logged_in):
    page = logged_in.get("/no-such-thing")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "<html" in page.get_data(as_text=True) and "There is nothing at this address." in page.get_data(as_text=True)

    fragment = logged_in.get("/no-such-thing", headers=HTMX)
    assert fragment.status_code == 404 and "<html" not in fragment.get_data(as_text=True)
    assert fragment.headers["HX-Retarget"] == "#flashes"
    assert 'class="flash flash-error"' in fragment.get_data(as_text=True)

    boosted = logged_in.get("/no-such-thing", headers={**HTMX, "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)

    api = logged_in.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.get_json() == {"error": {"code": "not_found", "message": "There is nothing at this address."}}

    asked = logged_in.get("/no-such-thing", headers={"Accept": "application/json"})
    assert asked.get_json()["error"]["code"] == "not_found"


def test_method_not_allowed_names_the_allowed_methods(logged_in):
    response = logged_in.delete("/api/v1/openapi.json")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_too_large_request_is_refused_early_with_the_limit(make_app):
    app = make_app(server={"max_request_bytes": 1024})
    response = app.test_client().post("/api/v1/openapi.json", data=b"x" * 5000,
                                      headers={"Content-Type": "application/octet-stream"})
    assert response.status_code in (405, 413)
    response = app.test_client().post("/login", data={"identifier": "x" * 5000})
    assert response.status_code == 413
    assert "larger than the 1 KB this server accepts" in response.get_data(as_text=True)


def test_forbidden_and_crash_pages(app, make_user):
    from webapp.errors import Forbidden

    def forbidden():
        raise Forbidden()

    def crash():
        raise RuntimeError("boom")

    app.add_url_rule("/test-forbidden", view_func=forbidden)
    app.add_url_rule("/test-crash", view_func=crash)
    app.add_url_rule("/api/v1/test-crash", view_func=crash)
    client = app.test_client()
    make_user()
    assert client.get("/test-forbidden", headers={"Accept": "application/json"}).get_json()["error"]["code"] == "forbidden"
    page = client.get("/test-crash")
    assert page.status_code == 500 and "Something went wrong on our side" in page.get_data(as_text=True)
    assert "boom" not in page.get_data(as_text=True)
    assert page.headers["X-Request-ID"] in page.get_data(as_text=True)
    assert client.get("/api/v1/test-crash").get_json()["error"]["code"] == "internal_error"


def test_flash_messages_reach_htmx_requests_out_of_band(app, logged_in):
    from flask import flash

    from webapp.web import render

    def flashing():
        flash("Saved it.", "success")
        return render("media/gallery.html", fragment="_flashes.html", messages=[])

    app.view_functions["media.gallery"] = flashing
    fragment = logged_in.get("/", headers=HTMX).get_data(as_text=True)
    assert 'hx-swap-oob="beforeend"' in fragment and "Saved it." in fragment


def test_escapes_html_in_names(app, client, make_user, auth):
    from webapp.extensions import db
    from webapp.models import User

    user_id = make_user()
    with app.app_context():
        db.session.get(User, user_id).display_name = "<img src=x onerror=alert(1)>"
        db.session.commit()
    auth.login()
    page = client.get("/").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


# --- health ----------------------------------------------------------------------------------

def test_health_says_the_server_is_running(client):
    body = client.get("/health").get_json()
    assert body["status"] == "OK" and body["message"] == "Server is running"
    assert body["version"] and body["time"].endswith("+00:00")


def test_ready_checks_database_storage_and_scheduler(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "storage", "scheduler", "limits", "cluster"}


def test_ready_names_the_storage_when_it_is_down(make_app):
    app = make_app(storage={"url": "s3://no-bucket/x", "endpoint_url": "http://127.0.0.1:9", "key": "k", "secret": "s"})
    response = app.test_client().get("/health/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["storage"]["status"] == "unreachable"
    assert body["error"]["message"] == "Not ready: storage failed."


def test_ready_names_the_database_when_it_is_down(app, tmp_path):
    from webapp.extensions import db

    client = app.test_client()
    with app.app_context():
        db.engine.dispose()
    app.config["SQLALCHEMY_DATABASE_URI"]  # unchanged; point the engine somewhere dead instead
    import sqlalchemy as sa

    with app.app_context():
        dead = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 2})
        app.extensions["sqlalchemy"]._app_engines[app][None] = dead
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == "Not ready: database failed."


def test_redirects_to_setup_are_logged_with_their_request_id(client, caplog):
    with caplog.at_level("INFO", logger="webapp.requests"):
        response = client.get("/", headers={"X-Request-ID": "first-visit"})
    assert response.status_code == 302 and response.headers["X-Request-ID"] == "first-visit"
    assert [r.request_id for r in caplog.records if r.name == "webapp.requests"] == ["first-visit"]


def test_the_account_limit_is_one_bucket_however_the_account_is_named_and_reached(client, make_user):
    make_user(email="kim@example.com", username="kim")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))

    def wrong(n):
        identifier = ["kim", "KIM@example.com", " Kim ", "kim@EXAMPLE.com"][n % 4]
        address = {"REMOTE_ADDR": f"203.0.113.{n}"}
        if n % 2:
            return client.post("/api/v1/auth/login", json={"identifier": identifier, "password": "wrong wrong"},
                               environ_base=address).status_code
        return client.post("/login", data={"identifier": identifier, "password": "wrong wrong wrong",
                                           "csrf_token": token}, environ_base=address).status_code

    assert [wrong(n) for n in range(5)] == [200, 401, 200, 401, 200]
    assert wrong(5) == 429 and wrong(6) == 429
    # Guesses at names that belong to no account are limited too, each name on its own.
    assert [client.post("/api/v1/auth/login", json={"identifier": "nobody", "password": "wrong wrong"},
                        environ_base={"REMOTE_ADDR": f"198.51.100.{n}"}).status_code for n in range(6)] == \
        [401] * 5 + [429]
