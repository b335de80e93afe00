"""When the S3 store goes away: uploads are refused with 503 and charge nothing, pages still render,
/health/ready names the storage, and everything answers again once the store is back.

The store is a moto server of this test's own, stopped and started again on the same port: the real
protocol, a real refused connection.
"""

from __future__ import annotations

import io

import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions
from tests.fixtures.media import multipart
from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY, s3_client

pytestmark = pytest.mark.s3


@pytest.fixture
def own_s3():
    """A moto server this test may stop and start again on the same port; yields a controller."""
    class Controller:
        def __init__(self):
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.server.start()
            host, self.port = self.server.get_host_and_port()
            self.endpoint = f"http://{host}:{self.port}"

        def stop(self):
            self.server.stop()

        def start(self):  # moto keeps its buckets in memory of this process, so they survive a restart
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self.server.start()

    controller = Controller()
    s3_client(controller.endpoint).create_bucket(Bucket="outage")
    yield controller
    controller.stop()


def photo_bytes(colour=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def test_uploads_are_refused_with_503_and_pages_still_render_while_s3_is_down(make_app, own_s3):
    from webapp.auth import service
    from webapp.extensions import db
    from webapp.models import DailyUsage, Media, User

    app = make_app(storage={"url": "s3://outage/files", "endpoint_url": own_s3.endpoint, "key": ACCESS_KEY,
                            "secret": SECRET_KEY, "region": REGION})
    with app.app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    browser = app.test_client()
    assert AuthActions(browser).login("kim").status_code in (302, 303)
    token = app.test_client().post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}
                                   ).get_json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    def upload(colour):
        body, content_type = multipart({"file": (photo_bytes(colour), "sky.jpg"), "is_public": "true"})
        return app.test_client().post("/api/v1/images", headers=auth, data=body, content_type=content_type)

    first = upload((10, 120, 200))
    assert first.status_code == 201, first.get_json()
    photo = first.get_json()
    with app.app_context():
        used_before = db.session.get(User, 1).storage_used
        uploads_before = db.session.query(DailyUsage.uploads).scalar()

    own_s3.stop()
    refused = upload((200, 40, 40))
    assert refused.status_code == 503
    error = refused.get_json()["error"]
    assert error["code"] == "storage_unavailable" and "storage" in error["message"].lower()
    with app.app_context():  # nothing stored, nothing charged
        assert db.session.query(Media).count() == 1
        assert db.session.get(User, 1).storage_used == used_before
        assert db.session.query(DailyUsage.uploads).scalar() == uploads_before

    for page in ("/", f"/photos/{photo['id']}", "/albums", "/settings/"):
        answer = browser.get(page, follow_redirects=True)
        assert answer.status_code == 200, page
    ready = app.test_client().get("/health/ready")
    assert ready.status_code == 503 and "storage" in ready.get_json()["error"]["message"]
    assert app.test_client().get("/health").status_code == 200

    own_s3.start()
    again = upload((40, 200, 40))
    assert again.status_code == 201, again.get_json()
    assert app.test_client().get(f"/i/{photo['id']}").status_code == 200
    assert app.test_client().get("/health/ready").status_code == 200
