"""Attack: the compatible account calls (register with names, PUT /api/v1/account), unknown /api/ paths, and the
language picker, from the outside: hostile names, protected fields in other spellings, redirects off the site,
header injection and oversized values."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from

HOSTILE_NAME = '<img src=x onerror="alert(1)">'


def _register(client, **names):
    return client.post("/api/v1/auth/register", json={
        "username": "johndoe", "email": "john@example.com", "password": STRONG_PASSWORD, **names})


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_name_with_a_nul_is_refused_and_makes_no_account(client, make_user, field):
    make_user(email="admin@example.com", username="admin", role="admin")
    answer = _register(client, **{field: "Jo\x00hn"})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "nul_character"
    assert client.post("/api/v1/auth/login", json={"email": "john@example.com", "password": STRONG_PASSWORD}) \
        .status_code == 401


def test_hostile_names_are_shown_as_text_on_the_admins_pages(app, client, make_user, auth):
    make_user(email="admin@example.com", username="admin", role="admin")
    turned = _register(client, first_name="Kim", last_name="\u202egnp.exe")  # would turn the admin's list around
    assert turned.status_code == 400 and turned.get_json()["error"]["field"] == "last_name"
    answer = _register(client, first_name=HOSTILE_NAME, last_name="Lee")
    assert answer.status_code == 201, answer.get_json()
    user_id = answer.get_json()["user"]["id"]
    auth.login("admin")
    for path in ("/admin/users", f"/admin/users/{user_id}", "/admin"):
        page = client.get(path).get_data(as_text=True)
        assert HOSTILE_NAME not in page, path
    assert "&lt;img src=x onerror=" in client.get(f"/admin/users/{user_id}").get_data(as_text=True)


@pytest.mark.parametrize("body", [{"role": "admin"}, {"plan_id": 1}, {"is_verified": True}, {"storage_used": 0},
                                  {"Role": "admin"}, {"first_name": "Kim", "role": "admin"},
                                  {"quota": {"uploads_per_day": 0}}])
def test_put_account_never_changes_a_protected_field_however_spelled(app, client, make_user, body):
    make_user(email="kim@example.com", username="kim")
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    before = client.get("/api/v1/account", headers=bearer).get_json()
    for method in ("PUT", "PATCH"):
        answer = client.open("/api/v1/account", method=method, headers=bearer, json=body)
        assert answer.status_code in (400, 403) and answer.get_json()["error"]["field"], answer.get_json()
    assert client.get("/api/v1/account", headers=bearer).get_json() == before


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/nope", "/api/images/x/y", "/api/v2/images", "/api/",
                                  "/api/v1/images/%00", "/api/..%2f..%2fadmin", "/api/v1/" + "a" * 3000])
@pytest.mark.parametrize("accept", ["text/html", "*/*"])
def test_unknown_api_paths_answer_json_whatever_the_browser_accepts(client, path, accept):
    answer = client.get(path, headers={"Accept": accept})
    assert answer.status_code in (400, 401, 404) and answer.is_json and answer.get_json()["error"]["code"]


# --- the language picker ---------------------------------------------------------------------------------

def _choose(client, **form):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    return client.post("/language", data={"lang": "fr", "csrf_token": token, **form})


@pytest.mark.parametrize("target", ["/\u2028/evil.com", "/\x85/evil.com", "/\uff0f\uff0fevil.com",
                                    "/%0d%0aSet-Cookie:x=1",
                                    "/\r\nSet-Cookie: x=1", " //evil.com", "/\u3000/evil.com", "/\x00//evil.com",
                                    "/.//evil.com", "/%2f%2fevil.com", "https:/evil.com"])
def test_the_picker_never_leaves_the_site_nor_writes_a_header(client, make_user, target):
    make_user()  # past the first run's setup page
    answer = _choose(client, next=target)
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    assert "\n" not in location and "\r" not in location and "evil.com" not in location.split("/")[1:2]
    assert all(name != "x" for name in (c.split("=")[0] for c in answer.headers.getlist("Set-Cookie")))
    assert "\u2028" not in location and "\x85" not in location


def test_a_huge_choice_is_refused_and_a_huge_next_is_not_echoed_into_a_header(client, make_user):
    """A reverse proxy answers 502 to an answer whose headers pass its buffer (4-8 KiB for nginx)."""
    make_user()  # past the first run's setup page
    answer = _choose(client, lang="fr" * 50_000)
    assert answer.status_code == 400 and "lang=" not in answer.headers.get("Set-Cookie", "")
    answer = _choose(client, next="/" + "a" * 200_000)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_a_login_link_with_a_huge_next_still_signs_in_with_a_small_answer(client, make_user):
    make_user(username="kim", email="kim@example.com")
    page = client.get("/login?next=/" + "a" * 6000).get_data(as_text=True)
    answer = client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD,
                                         "csrf_token": csrf_token_from(page), "next": "/" + "a" * 6000})
    assert answer.status_code in (302, 303) and len(answer.headers["Location"]) < 100


def test_the_picker_cookie_is_httponly_lax_and_secure_on_https(make_app, make_user):
    app = make_app(server={"base_url": "https://shoebox.test"})
    with app.app_context():
        from webapp.auth import service

        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    client = app.test_client()
    token = csrf_token_from(client.get("/login", base_url="https://shoebox.test").get_data(as_text=True))
    answer = client.post("/language", base_url="https://shoebox.test",
                         data={"lang": "ar", "next": "/login", "csrf_token": token})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
