"""One photo through one instance, seen through the other and through the load balancer."""

from __future__ import annotations

import time

import requests
import sqlalchemy as sa

from tests.cluster.conftest import supervisor as supervisor_module
from tests.cluster.clients import api_token, make_admin, on, photo, upload, web_session


def test_an_upload_on_one_instance_is_seen_on_the_other_and_through_the_balancer(cluster):
    first, second = cluster.instances
    username = make_admin(cluster)
    token = api_token(first, username)
    name, data = photo()
    answer = upload(first, token, name, data)
    assert answer.status_code == 201, answer.text
    image = answer.json()
    assert image["url"].startswith(cluster.lb + "/"), "links must name the load balancer, not an instance"

    # The list and the gallery page on the other instance, with the same token and a session made there.
    listed = requests.get(second + "/api/v1/images", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert listed.status_code == 200 and image["id"] in [item["id"] for item in listed.json()["items"]]
    browser = web_session(second, username)
    for base in (second, cluster.lb, first):  # the session cookie is signed with the shared secret key
        gallery = browser.get(base + "/", timeout=30)
        assert gallery.status_code == 200 and image["id"] in gallery.text, base

    # The thumbnail and the original (private: to their owner), from S3, whichever instance answers.
    for base in (second, cluster.lb):
        thumbnail = browser.get(on(base, image["thumbnail_url"]), timeout=30)
        assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"].startswith("image/"), base
        original = browser.get(on(base, image["url"]), timeout=30)
        assert original.status_code == 200 and original.content == data, base

    # A share link made on the second instance opens on the first and through the balancer.
    share = requests.post(second + "/api/v1/shares", json={"image_id": image["id"]},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert share.status_code == 201, share.text
    for base in (first, cluster.lb):
        page = requests.get(on(base, share.json()["url"]), timeout=30)
        assert page.status_code == 200 and image["id"] in page.text, base


def test_every_instance_is_ready_with_postgresql_s3_and_one_leader(cluster):
    """Both instances started at once on an empty database (the migrations take turns under a lock)."""
    engine = sa.create_engine(supervisor_module.postgres_url(cluster.database_url))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
    answers = [requests.get(base + "/health/ready", timeout=10).json() for base in cluster.instances]
    for answer in answers:
        assert answer["status"] == "ok"
        assert answer["checks"]["database"]["dialect"] == "postgresql"
    leaders = [i for i, answer in enumerate(answers) if answer["checks"]["scheduler"]["leader"]]
    assert len(leaders) == 1 and cluster.leader() == leaders[0]
    assert cluster.env(0)["SHOEBOX_SECURITY__SECRET_KEY"] == cluster.env(1)["SHOEBOX_SECURITY__SECRET_KEY"]
    assert cluster.env(0)["SHOEBOX_DATA_DIR"] != cluster.env(1)["SHOEBOX_DATA_DIR"]


def test_the_supervisor_leaves_an_unready_instance_out_of_nginx_and_takes_it_back(cluster):
    """The active health check: within a few seconds of an instance dying, nginx's upstream marks it `down`
    (no request tries it any more); once it is started again, it is back."""
    supervisor = cluster._supervisor
    port = cluster.instances[1].rsplit(":", 1)[1]
    config = supervisor._nginx_dir / "nginx.conf"

    def marked_down() -> bool:
        return f"127.0.0.1:{port} max_fails=1 fail_timeout=2s down;" in config.read_text()

    cluster.kill(1)
    deadline = time.monotonic() + 3 * supervisor_module.HEALTH_EVERY + 5
    while not marked_down() and time.monotonic() < deadline:
        assert requests.get(cluster.lb + "/health", timeout=10).status_code == 200
        time.sleep(0.2)
    assert marked_down(), config.read_text()
    for _ in range(6):  # every request goes to the instance left
        assert requests.get(cluster.lb + "/health/ready", timeout=10).status_code == 200
    cluster.start(1)
    deadline = time.monotonic() + 3 * supervisor_module.HEALTH_EVERY + 5
    while marked_down() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not marked_down(), config.read_text()
    assert [change[1:] for change in supervisor.changes[-2:]] == [(1, False), (1, True)]
