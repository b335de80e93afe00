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
