"""A refused input is named: JSON errors say "field", and forms show the sentence beside that input."""

from __future__ import annotations

import re

HTMX = {"HX-Request": "true"}
PASSWORD = "correct horse battery staple"  # make_user's default password
WEAK = "password123"


def error_of(response) -> dict:
    return response.get_json()["error"]


def test_api_wrong_current_password_names_current_password(kim):
    response = kim.test_client.post("/api/v1/auth/change-password", headers=kim.headers,
                                    json={"current_password": "nope nope nope", "new_password": PASSWORD + " too"})
    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["field"]) == ("wrong_password", "current_password")


def test_api_weak_new_password_names_new_password(kim):
    response = kim.test_client.post("/api/v1/auth/change-password", headers=kim.headers,
                                    json={"current_password": PASSWORD, "new_password": WEAK})
    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["field"]) == ("weak_password", "new_password")


def test_api_signup_with_a_bad_address_names_email(client, make_user):
    make_user()  # not the first account, which would skip nothing but the admin role
    response = client.post("/api/v1/auth/signup", json={"email": "not an address", "password": PASSWORD})
    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["field"]) == ("invalid_email", "email")


def test_api_taken_username_names_username(kim, make_user):
    make_user(username="lea")
    response = kim.test_client.patch("/api/v1/account", headers=kim.headers, json={"username": "lea"})
    assert response.status_code == 409
    assert (error_of(response)["code"], error_of(response)["field"]) == ("username_taken", "username")


def test_an_error_about_no_input_has_no_field(kim):
    response = kim.get("/api/v1/images/nothing-here")
    assert response.status_code == 404
    assert "field" not in error_of(response)


def _settings_post(client, path: str, data: dict):
    page = client.get("/settings/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post(path, data={**data, "csrf_token": token}, headers=HTMX)


def test_settings_weak_new_password_is_shown_beside_the_new_password(client, auth, make_user):
    make_user(username="kim")
    auth.login("kim")
    response = _settings_post(client, "/settings/password", {
        "pw-current_password": PASSWORD, "pw-new_password": WEAK, "pw-confirm": WEAK})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="pw-password-errors">\s*<li>That password is', html)
    assert 'id="pw-current-errors"' not in html


def test_settings_wrong_current_password_is_shown_beside_the_current_password(client, auth, make_user):
    make_user(username="kim")
    auth.login("kim")
    response = _settings_post(client, "/settings/password", {
        "pw-current_password": "nope nope nope", "pw-new_password": PASSWORD + " too",
        "pw-confirm": PASSWORD + " too"})
    html = response.get_data(as_text=True)
    assert re.search(r'id="pw-current-errors">\s*<li>The current password is not right.', html)
    assert 'id="pw-password-errors"' not in html


def test_settings_taken_username_is_shown_beside_the_username(client, auth, make_user):
    make_user(username="lea")
    make_user(username="kim")
    auth.login("kim")
    response = _settings_post(client, "/settings/profile",
                              {"profile-username": "lea", "profile-display_name": "", "profile-locale": ""})
    assert re.search(r'id="profile-username-errors">\s*<li>That username is taken.',
                     response.get_data(as_text=True))
