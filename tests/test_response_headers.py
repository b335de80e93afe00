"""Headers every response carries, or carries only where they mean something."""

from __future__ import annotations

import pytest

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
