"""People talking to a real cluster over HTTP, for tests/cluster/test_cross_instance*.py: accounts signed up
over the API with their tokens, the admin who makes plans and blocks people, and crowds that act at once.
Browsers are tests/cluster/clients.py (web_session, BrowserSession); every password is clients.PASSWORD.

Every request goes to the instance (or the load balancer) the caller names, so that a test says where each
step happens. Nothing here sleeps or retries.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count

import requests

from tests.cluster import clients
from tests.cluster.clients import PASSWORD

TIMEOUT = 120
_numbers = count(1)


def call(base: str, method: str, path: str, **kwargs) -> requests.Response:
    """One request, redirects not followed (a test checks where it is sent)."""
    return requests.request(method, base + path, timeout=TIMEOUT, allow_redirects=False, **kwargs)


@dataclass
class Account:
    """Someone with an API login: the tokens a sign-up or a login gave them."""

    id: int
    username: str
    access_token: str
    refresh_token: str

    @property
    def bearer(self) -> dict:
        return {"Authorization": f"Bearer {self.access_token}"}

    def get(self, base: str, path: str, **kwargs) -> requests.Response:
        return call(base, "GET", path, headers=self.bearer, **kwargs)

    def post(self, base: str, path: str, **kwargs) -> requests.Response:
        return call(base, "POST", path, headers=self.bearer, **kwargs)

    def put(self, base: str, path: str, **kwargs) -> requests.Response:
        return call(base, "PUT", path, headers=self.bearer, **kwargs)

    def patch(self, base: str, path: str, **kwargs) -> requests.Response:
        return call(base, "PATCH", path, headers=self.bearer, **kwargs)

    def delete(self, base: str, path: str, **kwargs) -> requests.Response:
        return call(base, "DELETE", path, headers=self.bearer, **kwargs)

    def upload(self, base: str, photo: bytes, name: str = "photo.jpg", **form) -> requests.Response:
        return self.post(base, "/api/v1/images", files={"file": (name, photo, "image/jpeg")}, data=form)

    def api_key(self, base: str, name: str = "script") -> tuple[int, str]:
        """A new full-access key made on `base`: (its id, the key)."""
        made = self.post(base, "/api/v1/api-keys", json={"name": name})
        assert made.status_code == 201, made.text
        return made.json()["id"], made.json()["key"]


def _account(answer: requests.Response, status: int) -> Account:
    assert answer.status_code == status, answer.text
    body = answer.json()
    return Account(body["user"]["id"], body["user"]["username"], body["access_token"], body["refresh_token"])


def sign_up(base: str) -> Account:
    """A new account, signed up over the API on `base`."""
    username = f"person{next(_numbers)}"
    return _account(call(base, "POST", "/api/v1/auth/signup",
                         json={"email": f"{username}@example.com", "username": username, "password": PASSWORD}), 201)


def log_in(base: str, identifier: str) -> Account:
    """An API login on `base` (answered 200, else the test fails here)."""
    return _account(call(base, "POST", "/api/v1/auth/login", json={"identifier": identifier, "password": PASSWORD}),
                    200)


def admin_of(cluster) -> Account:
    """A new admin (`flask create-admin`), logged in over the API on instance 0. Sign-ups and logins per
    address an hour are raised: every account a module makes comes from 127.0.0.1."""
    root = log_in(cluster.instances[0], clients.make_admin(cluster))
    changed = root.put(cluster.instances[0], "/api/v1/admin/settings",
                       json={"signup_per_hour": 10_000, "login_per_hour": 10_000})
    assert changed.status_code == 200, changed.text
    return root


def put_on_new_plan(admin: Account, base: str, person: Account, **limits) -> int:
    """Put `person` on a new plan of their own with these limits (every other one 0: unlimited); its id."""
    name = f"plan-{person.username}"
    made = admin.post(base, "/api/v1/admin/plans", json={"name": name, **limits})
    assert made.status_code == 201, made.text
    moved = admin.patch(base, f"/api/v1/admin/users/{person.id}", json={"plan": name})
    assert moved.status_code == 200, moved.text
    return made.json()["id"]


def signed_thumbnails(html: str, media_id: str) -> list[str]:
    """The owner's signed thumbnail addresses of one photo that a page hands out (webapp/media/signed.py)."""
    return sorted(set(re.findall(rf"/i/{re.escape(media_id)}/thumb\.\d+\.[0-9a-f]+\.[A-Za-z0-9_-]+\.webp", html)))


def all_at_once(how_many: int, prepare, act) -> list:
    """`prepare(n)` for each of `how_many` callers, then `act(prepared)` in `how_many` threads released together."""
    prepared = [prepare(n) for n in range(how_many)]
    start = threading.Barrier(how_many)

    def go(ready):
        start.wait(timeout=TIMEOUT)
        return act(ready)

    with ThreadPoolExecutor(max_workers=how_many) as pool:
        return list(pool.map(go, prepared))
