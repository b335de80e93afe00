"""Rate limits across instances: each process counts alone in memory, all share one count in Redis."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from


class Browser:
    """A cookie-keeping HTTP client for a real, separately running instance."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path):
        return self.opener.open(self.base_url + path, timeout=10).read().decode()

    def post(self, path, data) -> int:
        request = urllib.request.Request(self.base_url + path, data=urllib.parse.urlencode(data).encode())
        try:
            return self.opener.open(request, timeout=10).status
        except urllib.error.HTTPError as error:
            return error.code


def failed_login(browser, n) -> int:
    # A different made-up account each time, so that only the per-address limit is in play.
    token = csrf_token_from(browser.get("/login"))
    return browser.post("/login", {"identifier": f"guess{n}", "password": "wrong wrong wrong", "csrf_token": token})


def two_instances(start_instance, **env):
    # urllib, unlike browsers, will not send Secure cookies to http://127.0.0.1.
    env.setdefault("SHOEBOX_SECURITY__SECURE_COOKIES", "false")
    first = start_instance(**env)
    second = start_instance(**env)
    setup = Browser(first)
    token = csrf_token_from(setup.get("/setup"))
    assert setup.post("/setup", {"email": "kim@example.com", "username": "kim", "password": STRONG_PASSWORD,
                                 "confirm": STRONG_PASSWORD, "csrf_token": token}) == 200
    return Browser(first), Browser(second)


def test_instances_sharing_redis_share_the_login_limit(start_instance, redis_url):
    a, b = two_instances(start_instance, SHOEBOX_LIMITS__STORAGE_URL=redis_url)
    statuses = [failed_login(a if n % 2 else b, n) for n in range(11)]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429


def test_instances_with_memory_limits_count_separately(start_instance):
    a, b = two_instances(start_instance)
    statuses = [failed_login(a if n % 2 else b, n) for n in range(12)]
    assert statuses == [200] * 12


def test_the_default_limit_holds_pages_but_never_photos_health_or_signed_sizes(make_app):
    """Views marked unlimited are skipped before the limiter resolves anything; the others still count."""
    from tests.fixtures.media import make_jpeg, multipart
    from webapp.extensions import db
    from webapp.media import links
    from webapp.models import Media

    app = make_app(limits={"default": "3 per minute"})
    client = app.test_client()
    for _ in range(3):
        assert client.get("/").status_code != 429
    assert client.get("/").status_code == 429
    with app.app_context():
        from webapp.auth import api_keys, service

        user = service.create_user("lim@example.com", "lim", "correct horse battery staple", verified=True)
        key = api_keys.create_api_key(user, "k")[1]
    body, content_type = multipart({"file": (make_jpeg(), "a.jpg"), "is_public": "true"})
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    created = other.post("/api/v1/images", headers={"X-API-Key": key}, data=body, content_type=content_type)
    assert created.status_code == 201, created.get_json()
    media_id = created.get_json()["id"]
    with app.test_request_context():
        signed = links.owner_size_url(db.session.get(Media, media_id), "thumb")
    for _ in range(10):  # from the address already over its page limit
        assert client.get("/health").status_code == 200
        assert client.get(f"/i/{media_id}?size=thumb").status_code == 200
        assert client.get(f"/i/{media_id}.jpg").status_code == 200
        assert client.get(signed).status_code == 200


def test_one_apps_default_limit_never_holds_another_app(make_app):
    limited = make_app(limits={"default": "2 per minute"})
    for _ in range(2):
        limited.test_client().get("/")
    assert limited.test_client().get("/").status_code == 429
    unlimited = make_app()
    assert all(unlimited.test_client().get("/").status_code != 429 for _ in range(10))
