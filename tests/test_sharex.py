"""Settings → Integrations → Download ShareX config, driven as ShareX would drive it, over real HTTP: the .sxcu
is parsed, exactly the request it describes is made with a real photo, its {json:…} expressions are resolved
against the answer, and every URL they name is followed."""

from __future__ import annotations

import io
import json
import re

import pytest
import requests
from PIL import Image

from tests.fixtures.accounts import STRONG_PASSWORD, csrf_token_from
from tests.fixtures.media import corpus_file

PHOTO = ("photos", "DSCN0010.jpg")


class BrowserSession(requests.Session):
    """Cookies as a browser keeps them for http://127.0.0.1: browsers count loopback as a secure origin,
    so Shoebox marks its cookies Secure there, which requests alone would never send back over http."""

    def request(self, *args, **kwargs):
        kwargs.setdefault("allow_redirects", False)  # each hop's cookies are made sendable before the next
        response = super().request(*args, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def browser_session(live_server, username="kim") -> requests.Session:
    """A signed-in session through the real login form (CSRF and all)."""
    from webapp.auth import service

    with live_server.app.app_context():
        service.create_user(f"{username}@example.com", username, STRONG_PASSWORD, verified=True)
    session = BrowserSession()
    token = csrf_token_from(session.get(f"{live_server.url}/login").text)
    signed_in = session.post(f"{live_server.url}/login",
                             data={"identifier": username, "password": STRONG_PASSWORD, "csrf_token": token})
    assert signed_in.status_code in (302, 303) and signed_in.headers["Location"] in ("/", f"{live_server.url}/")
    assert session.get(f"{live_server.url}/settings/integrations").status_code == 200
    return session


def download_sxcu(live_server, session, visibility="public") -> requests.Response:
    token = csrf_token_from(session.get(f"{live_server.url}/settings/integrations").text)
    return session.post(f"{live_server.url}/settings/integrations/sharex",
                        data={"csrf_token": token, "sharex-uploads_public": visibility})


def resolve(template: str, answer) -> str:
    """ShareX 14's syntax: {json:a.b[0].c} is that value of the JSON answer."""
    def value(match):
        node = answer
        for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", match.group(1)):
            node = node[int(index)] if index else node[name]
        return str(node)
    return re.sub(r"\{json:([^}]+)\}", value, template)


def send_as_sharex(config: dict, name: str, data: bytes) -> requests.Response:
    """Exactly the request the custom uploader describes, as ShareX sends it (no cookies)."""
    assert config["Body"] == "MultipartFormData"
    return requests.request(config["RequestMethod"], config["RequestURL"], headers=config["Headers"],
                            files={config["FileFormName"]: (name, data, "image/jpeg")}, timeout=30)


def test_the_sxcu_uploads_a_photo_and_every_url_it_names_works(live_server):
    session = browser_session(live_server)
    downloaded = download_sxcu(live_server, session)
    assert downloaded.status_code == 200
    assert re.fullmatch(r'attachment; filename="127\.0\.0\.1-\d+\.sxcu"', downloaded.headers["Content-Disposition"])
    assert downloaded.headers["Cache-Control"] == "no-store"
    config = json.loads(downloaded.content)
    assert config["Version"].startswith("14.") and config["DestinationType"] == "ImageUploader, FileUploader"
    assert config["RequestMethod"] == "POST" and config["RequestURL"] == f"{live_server.url}/api/v1/images"
    assert set(config["Headers"]) == {"X-API-Key"} and config["Headers"]["X-API-Key"].startswith("sbx_")

    photo = corpus_file(*PHOTO).read_bytes()
    sent = send_as_sharex(config, PHOTO[-1], photo)
    assert sent.status_code == 201
    answer = sent.json()
    url, thumbnail, deletion = (resolve(config[name], answer) for name in ("URL", "ThumbnailURL", "DeletionURL"))
    assert all(link.startswith(live_server.url + "/") for link in (url, thumbnail, deletion))

    # Whoever the link is pasted to, with no account: the photo, and its thumbnail.
    stranger = requests.Session()
    shown = stranger.get(url)
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(shown.content)).size == (answer["width"], answer["height"])
    small = stranger.get(thumbnail)
    assert small.status_code == 200 and small.headers["Content-Type"].startswith("image/")
    assert max(Image.open(io.BytesIO(small.content)).size) <= 400

    # The deletion link: a page that asks (and deletes nothing), then the POST that deletes.
    asked = stranger.get(deletion)
    assert asked.status_code == 200 and PHOTO[-1] in asked.text and "Delete for good" in asked.text
    assert stranger.get(url).status_code == 200
    done = stranger.post(deletion)
    assert done.status_code == 200 and "are gone" in done.text
    assert stranger.get(url).status_code == 404
    assert stranger.get(thumbnail).status_code == 404
    assert stranger.get(deletion).status_code == 404


def test_the_sxcu_error_message_says_why_an_upload_was_refused(live_server):
    session = browser_session(live_server)
    config = download_sxcu(live_server, session).json()
    refused = send_as_sharex(config, "notes.jpg", b"this is not a photo at all")
    assert refused.status_code in (400, 415)
    message = resolve(config["ErrorMessage"], refused.json())
    assert message.endswith(".") and len(message.split()) > 3 and "{json" not in message


def test_the_sxcu_key_may_only_upload(live_server):
    session = browser_session(live_server)
    config = download_sxcu(live_server, session, visibility="account").json()
    key = config["Headers"]["X-API-Key"]
    listing = requests.get(f"{live_server.url}/api/v1/images", headers={"X-API-Key": key})
    assert listing.status_code == 403 and listing.json()["error"]["code"] == "insufficient_scope"
    page = session.get(f"{live_server.url}/settings/integrations").text
    assert key[:12] in page and "as my account’s setting" in page


def test_a_get_never_makes_a_key_and_a_post_needs_the_csrf_token(live_server):
    from webapp.extensions import db
    from webapp.models import ApiKey

    session = browser_session(live_server)
    assert session.get(f"{live_server.url}/settings/integrations/sharex").status_code == 405
    forged = session.post(f"{live_server.url}/settings/integrations/sharex", data={"sharex-uploads_public": "public"})
    assert forged.status_code == 400 and "sbx_" not in forged.text
    assert requests.post(f"{live_server.url}/settings/integrations/sharex", allow_redirects=False).status_code == 400
    with live_server.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ApiKey)) == 0


@pytest.mark.parametrize("visibility, public", [("public", True), ("private", False)])
def test_the_choice_on_the_page_decides_whether_the_tools_uploads_are_public(live_server, visibility, public):
    session = browser_session(live_server)
    config = download_sxcu(live_server, session, visibility).json()
    answer = send_as_sharex(config, "shot.jpg", corpus_file(*PHOTO).read_bytes()).json()
    assert answer["is_public"] is public
    assert (requests.get(resolve(config["URL"], answer)).status_code == 200) is public


def test_an_account_that_may_not_upload_gets_no_tool_and_no_key(app, client, make_user, auth):
    from webapp.extensions import db
    from webapp.models import ApiKey

    make_user(username="admin", role="admin")
    make_user(username="gus", role="guest")  # Guests may look at what is shared with them, not upload
    auth.login("gus")
    page = client.get("/settings/integrations").get_data(as_text=True)
    assert "Your account may not upload through the API" in page and "Download ShareX config" not in page
    token = csrf_token_from(page)
    refused = client.post("/settings/integrations/sharex",
                          data={"csrf_token": token, "sharex-uploads_public": "public"})
    assert refused.status_code == 403 and "Your account may not upload" in refused.get_data(as_text=True)
    assert client.post("/settings/integrations/script", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ApiKey)) == 0
