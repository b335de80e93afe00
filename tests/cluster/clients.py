"""HTTP clients for the cluster tests: an admin account, its tokens and session, uploads."""

from __future__ import annotations

import re
import uuid

import requests

from tests.fixtures.media import CORPUS, make_jpeg

PASSWORD = "cluster-test-password-1"


def make_admin(cluster) -> str:
    """Create an admin with `flask create-admin` on the cluster's database; returns the username."""
    username = f"admin{uuid.uuid4().hex[:8]}"
    done = cluster.flask("create-admin", "--email", f"{username}@example.org", "--username", username,
                         "--password", PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    return username


def api_token(base: str, username: str) -> str:
    """An access token from POST /api/v1/auth/login on `base`."""
    answer = requests.post(base + "/api/v1/auth/login", json={"identifier": username, "password": PASSWORD},
                           timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def web_session(base: str, username: str) -> requests.Session:
    """A browser-like session signed in through the login form on `base`."""
    session = BrowserSession()
    page = session.get(base + "/login", timeout=30)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text) or \
        re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    answer = session.post(base + "/login", data={"csrf_token": token.group(1), "identifier": username,
                                                 "password": PASSWORD}, allow_redirects=False, timeout=30)
    assert answer.status_code in (302, 303), answer.text[:500]
    return session


class BrowserSession(requests.Session):
    """Browsers send Secure cookies to http://127.0.0.1 (a trustworthy origin), and Shoebox marks them so
    there; requests does not, so this session sends them as a browser would."""

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def photo(name: str = "Canon_40D.jpg") -> tuple[str, bytes]:
    """A real camera photo from the shared corpus, or a generated JPEG where the corpus is missing."""
    path = CORPUS / "photos" / name
    if path.is_file():
        return name, path.read_bytes()
    return "generated.jpg", make_jpeg((640, 480))


def upload(base: str, token: str, name: str, data: bytes, timeout: float = 60) -> requests.Response:
    return requests.post(base + "/api/v1/images", headers={"Authorization": f"Bearer {token}"},
                         files={"file": (name, data, "image/jpeg")}, timeout=timeout)


def on(base: str, url: str) -> str:
    """`url` (made with the load balancer's address) as served by the instance at `base`."""
    return re.sub(r"^https?://[^/]+", base, url)
