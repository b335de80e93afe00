"""Headers every response carries, or carries only where they mean something."""

from __future__ import annotations

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from

# --- Cross-Origin-Opener-Policy ---------------------------------------------------------------
# Browsers ignore COOP on an origin that is not potentially trustworthy (plain http other than
# localhost) and log a console error for it on every page.


@pytest.mark.parametrize("base_url", ["https://photos.example.com", "http://localhost:8080",
                                      "http://127.0.0.1:8080", "http://[::1]:8080"])
def test_pages_over_https_or_on_localhost_send_cross_origin_opener_policy(client, base_url):
    response = client.get("/setup", base_url=base_url)
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize("base_url", ["http://192.168.1.20:8080", "http://photos.lan"])
def test_pages_over_plain_http_on_a_lan_address_send_no_cross_origin_opener_policy(client, base_url):
    response = client.get("/setup", base_url=base_url)
    assert response.status_code == 200
    assert "Cross-Origin-Opener-Policy" not in response.headers


def test_https_forwarded_by_a_trusted_proxy_sends_cross_origin_opener_policy(make_app):
    client = make_app(server={"trusted_proxies": 1}).test_client()
    response = client.get("/setup", base_url="http://photos.lan", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


# --- Retry-After only on refusals ---------------------------------------------------------------


def test_a_successful_browser_login_has_no_retry_after(client, make_user):
    make_user(username="kim")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"identifier": "kim", "password": STRONG_PASSWORD, "csrf_token": token})
    assert response.status_code in (302, 303)
    assert "Retry-After" not in response.headers


def test_a_failed_browser_login_has_no_retry_after(client, make_user):
    make_user(username="kim")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"identifier": "kim", "password": "wrong wrong", "csrf_token": token})
    assert response.status_code == 200
    assert "Retry-After" not in response.headers


def test_a_successful_browser_signup_has_no_retry_after(client, make_user):
    make_user()  # not the first account, which would become the admin through /setup
    token = csrf_token_from(client.get("/signup").get_data(as_text=True))
    response = client.post("/signup", data={"email": "kim@example.com", "username": "kim", "password": STRONG_PASSWORD,
                                            "confirm": STRONG_PASSWORD, "csrf_token": token})
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    assert "Retry-After" not in response.headers


def test_a_successful_api_login_has_no_retry_after(client, make_user):
    make_user(username="kim")
    response = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD})
    assert response.status_code == 200
    assert "Retry-After" not in response.headers


def test_a_successful_api_signup_has_no_retry_after(client, make_user):
    make_user()
    response = client.post("/api/v1/auth/signup", json={"email": "kim@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 201
    assert "Retry-After" not in response.headers


def test_a_rate_limited_api_login_has_retry_after(client):
    for n in range(10):
        client.post("/api/v1/auth/login", json={"identifier": f"guess{n}", "password": "wrong wrong"})
    response = client.post("/api/v1/auth/login", json={"identifier": "guess", "password": "wrong wrong"})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
