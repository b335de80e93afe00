"""Admin → Storage and /api/v1/admin/storage: the current store and what it holds, a move's dry run, the move as
a job the page follows, the clean-up afterwards; refusals beside the field; who may see any of it."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions, csrf_token_from
from tests.fixtures.media import make_jpeg

HTMX = {"HX-Request": "true"}
API = "/api/v1/admin/storage"


@pytest.fixture
def app(make_app, tmp_path):
    """The app on its usual in-memory store, with a second store, a folder, configured as `alt`."""
    return make_app(stores={"alt": {"url": f"file://{tmp_path}/alt"}})


@pytest.fixture(autouse=True)
def no_grace(monkeypatch):
    """A move waits for every instance to read the new state; a test's one instance reads it at once."""
    from webapp.stores import moving

    monkeypatch.setattr(moving, "GRACE_SECONDS", 0)


@pytest.fixture
def admin_client(app, client, make_user):
    make_user(username="root", email="root@example.com", role="admin")
    AuthActions(client).login("root")
    return client


@pytest.fixture
def admin_api(app, make_user):
    """(client, headers) with an access token of the admin "boss"."""
    return api_client(app, make_user, "boss", role="admin")


def api_client(app, make_user, username: str, role: str = "user"):
    make_user(username=username, role=role)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    return client, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def photos(kim):
    """Three photos of kim's in the active store."""
    return [kim.upload(make_jpeg(colour=(10 * n, 80, 160))).get_json()["id"] for n in range(3)]


def usage(app):
    from webapp.stores import service

    with app.app_context():
        return service.usage()


def state(app):
    from webapp.stores import service

    with app.app_context():
        return service.current()


def files_in(folder) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


def storage_jobs(app) -> list:
    from webapp.extensions import db
    from webapp.models import Job

    with app.app_context():
        found = db.session.scalars(db.select(Job).where(Job.name.in_(["storage_move", "storage_cleanup"]))
                                   .order_by(Job.id)).all()
        db.session.expunge_all()
        return found


def run_jobs(app):
    from webapp import jobs

    jobs.work_until_idle(app, names=["storage_move", "storage_cleanup"])


def token(client) -> str:
    return csrf_token_from(client.get("/admin/storage").get_data(as_text=True))


def post(client, path: str, htmx: bool = True, **fields):
    csrf = token(client)
    headers = {**HTMX, "X-CSRFToken": csrf} if htmx else {}
    return client.post(f"/admin/storage/{path}", data={"csrf_token": csrf, **fields}, headers=headers)


def element(html: str, element_id: str) -> str:
    """The HTML from the element with this id up to the next section."""
    start = html.index(f'id="{element_id}"')
    end = html.find("<section", start)
    return html[start:end if end > 0 else len(html)]


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- who may see it ---------------------------------------------------------------------------------

def add_group(app, username: str, permission: str) -> None:
    from webapp.extensions import db
    from webapp.models import Group, GroupPermission, UserGroup

    with app.app_context():
        group = Group(name=f"{username}s", description="")
        db.session.add(group)
        db.session.flush()
        user_id = db.session.scalar(db.text("SELECT id FROM users WHERE username = :u"), {"u": username})
        db.session.add_all([GroupPermission(group_id=group.id, permission=permission),
                            UserGroup(user_id=user_id, group_id=group.id)])
        db.session.commit()


@pytest.mark.parametrize("who", ["anonymous", "plain user", "audit reader"])
def test_every_storage_address_answers_404_without_manage_settings(app, client, make_user, photos, who):
    make_user(username="pat")
    if who == "audit reader":  # may open the admin panel, but not this page
        add_group(app, "pat", "view_audit")
    if who != "anonymous":
        AuthActions(client).login("pat")
    csrf = csrf_token_from(client.get("/login" if who == "anonymous" else "/").get_data(as_text=True))

    for headers in ({}, HTMX):
        assert client.get("/admin/storage", headers=headers).status_code == 404
        assert client.get("/admin/storage/jobs/1", headers=headers).status_code == 404
    for path in ("plan", "move", "cleanup"):
        # Even without a token, to anyone outside the panel: a 400 would confirm the address. (Inside it, the
        # panel checks the token first, as on every admin page.)
        for sent in ({"csrf_token": csrf},) if who == "audit reader" else ({}, {"csrf_token": csrf}):
            response = client.post(f"/admin/storage/{path}", data={**sent, "target": "alt"})
            assert response.status_code == 404, (path, sent)

    assert storage_jobs(app) == [] and state(app).moving_to is None


def test_a_group_with_manage_settings_may_open_the_page(app, client, make_user):
    make_user(username="pat")
    add_group(app, "pat", "manage_settings")
    AuthActions(client).login("pat")

    html = client.get("/admin/storage").get_data(as_text=True)

    assert 'href="/admin/storage" aria-current="page"' in html
    assert "Move to alt" in text(html)


def test_the_api_answers_404_without_manage_settings_and_401_without_credentials(app, make_user):
    member = api_client(app, make_user, "pat")
    assert member[0].get(API, headers=member[1]).status_code == 404
    assert member[0].post(f"{API}/move", json={"target": "alt", "dry_run": False}, headers=member[1]).status_code == 404
    assert app.test_client().get(API).status_code == 401
    assert storage_jobs(app) == []


# --- the page -----------------------------------------------------------------------------------------

def test_the_page_shows_the_current_store_what_it_holds_and_where_the_files_can_go(app, admin_client, photos):
    from webapp.i18n import human_size

    used = usage(app)
    assert used.objects >= 3

    with app.test_request_context():
        size = human_size(used.bytes)
    html = admin_client.get("/admin/storage").get_data(as_text=True)

    current = text(element(html, "storage-current"))
    assert "storage" in current and app.config["SHOEBOX"]["storage"]["url"] in current
    assert f"{used.objects} files, {size}" in current
    targets = text(element(html, "storage-move"))
    assert "alt" in targets and "A folder on this server's disk" in targets
    assert "Move to alt …" in targets


def test_the_admin_navigation_links_to_the_storage_page(admin_client):
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/storage"' in html and ">Storage</a>" in html


def test_the_dry_run_shows_what_the_move_would_copy_and_copies_nothing(app, admin_client, photos, tmp_path):
    used = usage(app)

    response = post(admin_client, "plan", target="alt")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="storage-move"')  # the section alone, for htmx
    plan = text(element(html, "storage-plan"))
    assert "Dry run: nothing has been copied" in plan
    assert re.search(rf"Files to copy {used.objects} ", plan)
    assert "Free space there" in plan and "can't tell" not in plan  # a folder can tell
    assert "New uploads go to alt as soon as the move starts." in plan
    assert "Start moving to alt" in plan
    assert files_in(tmp_path / "alt") <= {"shoebox-site.json"}
    assert storage_jobs(app) == [] and state(app).moving_to is None


def test_the_dry_run_of_a_memory_store_says_it_cannot_tell_its_free_space(make_app, make_user):
    app = make_app(stores={"spare": {"url": "memory://spare-for-dry-run"}})
    make_user(username="root", role="admin")
    client = app.test_client()
    AuthActions(client).login("root")

    plan = text(element(post(client, "plan", target="spare").get_data(as_text=True), "storage-plan"))

    assert "This store can't tell its free space." in plan


def test_the_dry_run_without_javascript_comes_back_as_the_page(admin_client, photos):
    response = post(admin_client, "plan", htmx=False, target="alt")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="storage-current"' in html
    assert 'action="/admin/storage/move"' in element(html, "storage-plan")


@pytest.mark.parametrize("path", ["plan", "move"])
@pytest.mark.parametrize("target, says", [
    ("storage", "The files are in storage already."),
    ("nowhere", "No store called nowhere is configured"),
])
def test_a_refused_store_is_named_in_one_sentence_beside_the_field(app, admin_client, photos, path, target, says):
    response = post(admin_client, path, target=target)

    assert response.status_code == 200  # htmx swaps it, with the error beside the field
    errors = re.search(r'<ul class="field-errors" id="target-errors">(.*?)</ul>', response.get_data(as_text=True), re.S)
    assert errors and says in text(errors.group(1))
    assert storage_jobs(app) == [] and state(app).moving_to is None


def test_the_buttons_need_the_csrf_token(app, admin_client, photos):
    for path in ("plan", "move", "cleanup"):
        for sent in ({}, {"csrf_token": "not-the-token"}):
            response = admin_client.post(f"/admin/storage/{path}", data={**sent, "target": "alt"}, headers=HTMX)
            assert response.status_code == 400, (path, sent)
    assert storage_jobs(app) == [] and state(app).moving_to is None


def test_the_move_is_a_job_the_page_follows_until_it_is_done(app, admin_client, photos, tmp_path):
    used = usage(app)

    response = post(admin_client, "move", target="alt")

    assert response.status_code == 200
    [job] = storage_jobs(app)
    assert (job.name, job.state) == ("storage_move", "queued")
    assert state(app).moving_to == "alt"
    html = response.get_data(as_text=True)
    section = element(html, "storage-move")
    assert f'hx-get="/admin/storage/jobs/{job.id}"' in section and 'hx-trigger="every 2s"' in section
    assert "Moving the files to alt" in text(section) and "Waiting for a worker to start it." in text(section)
    assert "The move to alt has started" in html  # the flash, out of band

    following = admin_client.get(f"/admin/storage/jobs/{job.id}", headers=HTMX).get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in following and 'id="storage-current"' not in following

    run_jobs(app)

    done = admin_client.get(f"/admin/storage/jobs/{job.id}", headers=HTMX).get_data(as_text=True)
    assert "hx-trigger" not in done  # the job has ended: no more asking
    assert "Moved to alt" in text(element(done, "storage-move"))
    current = element(done, "storage-current")
    assert 'hx-swap-oob="true"' in current and "alt" in text(current)
    assert state(app).active == "alt" and state(app).previous == "storage"
    assert len(files_in(tmp_path / "alt") - {"shoebox-site.json"}) == used.objects


def test_the_move_without_javascript_ends_in_a_303_to_the_page_which_follows_it(app, admin_client, photos):
    response = post(admin_client, "move", htmx=False, target="alt")

    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/storage")
    html = admin_client.get("/admin/storage").get_data(as_text=True)
    [job] = storage_jobs(app)
    assert f'hx-get="/admin/storage/jobs/{job.id}"' in html
    assert "Reload this page to see how far it is." in html
    assert "The move to alt has started" in html
    assert admin_client.get(f"/admin/storage/jobs/{job.id}").status_code == 302  # a whole page: back to the page


def test_the_section_follows_storage_jobs_only(app, admin_client):
    from webapp import jobs
    from webapp.extensions import db

    with app.app_context():
        other = jobs.enqueue("integrity_check")
        db.session.commit()
        other_id = other.id

    assert admin_client.get(f"/admin/storage/jobs/{other_id}", headers=HTMX).status_code == 404
    assert admin_client.get("/admin/storage/jobs/999999", headers=HTMX).status_code == 404


def test_a_move_under_way_cannot_be_started_twice(app, admin_client, photos):
    assert post(admin_client, "move", target="alt").status_code == 200

    html = admin_client.get("/admin/storage").get_data(as_text=True)
    assert 'action="/admin/storage/plan"' not in html  # no button while it runs
    refused = post(admin_client, "move", target="alt").get_data(as_text=True)
    assert "being moved to alt already" in refused
    assert len(storage_jobs(app)) == 1


def test_a_move_that_stopped_unfinished_says_so_and_offers_to_finish_it(app, admin_client, photos):
    from webapp.extensions import db
    from webapp.models import Job, utcnow

    post(admin_client, "move", target="alt")
    [job] = storage_jobs(app)
    with app.app_context():
        row = db.session.get(Job, job.id)
        row.state, row.error, row.finished_at = "failed", "The old store could not be read.", utcnow()
        db.session.commit()

    html = admin_client.get("/admin/storage").get_data(as_text=True)

    section = text(element(html, "storage-move"))
    assert "hx-trigger" not in element(html, "storage-move")
    assert "Moving the files to another store failed: The old store could not be read." in section
    assert "The move to alt stopped before it finished. New uploads go there meanwhile" in section
    assert "Finish the move to alt …" in section
    again = post(admin_client, "move", target="alt")
    assert 'hx-trigger="every 2s"' in again.get_data(as_text=True)
    assert [j.state for j in storage_jobs(app)] == ["failed", "queued"]


def test_the_old_copies_can_be_removed_once_the_move_is_done(app, admin_client, photos):
    from webapp.stores import service

    if not hasattr(service, "start_cleanup"):
        pytest.skip("webapp.stores.service offers no clean-up")
    post(admin_client, "move", target="alt")
    run_jobs(app)

    html = admin_client.get("/admin/storage").get_data(as_text=True)
    current = text(element(html, "storage-current"))
    assert "The copies from before the last move are still in storage" in current
    assert 'action="/admin/storage/cleanup"' in html

    response = post(admin_client, "cleanup")
    cleanup = storage_jobs(app)[-1]
    assert cleanup.name == "storage_cleanup"
    assert f'hx-get="/admin/storage/jobs/{cleanup.id}"' in element(response.get_data(as_text=True), "storage-move")
    run_jobs(app)

    done = admin_client.get(f"/admin/storage/jobs/{cleanup.id}", headers=HTMX).get_data(as_text=True)
    assert "The old copies were removed" in text(done)
    assert state(app).previous is None
    assert 'action="/admin/storage/cleanup"' not in done


def test_with_no_other_store_the_page_says_how_to_add_one(make_app, make_user):
    app = make_app()
    make_user(username="root", role="admin")
    client = app.test_client()
    AuthActions(client).login("root")

    html = client.get("/admin/storage").get_data(as_text=True)

    section = text(element(html, "storage-move"))
    assert "No other store is configured" in section
    assert "[stores.&lt;name&gt;]" in element(html, "storage-move") and "Beyond one machine" in section
    assert "/admin/storage/plan" not in html and "/admin/storage/move" not in html  # no dead buttons


# --- the API ------------------------------------------------------------------------------------------

def test_the_api_describes_the_stores_the_state_and_the_usage(app, admin_api, photos, tmp_path):
    client, headers = admin_api
    used = usage(app)

    body = client.get(API, headers=headers).get_json()

    assert body["stores"] == [
        {"name": "storage", "url": app.config["SHOEBOX"]["storage"]["url"], "kind": "memory", "active": True},
        {"name": "alt", "url": f"file://{tmp_path}/alt", "kind": "local", "active": False}]
    assert body["state"] == {"active": "storage", "moving_to": None, "previous": None, "job_id": None}
    assert body["usage"] == {"objects": used.objects, "bytes": used.bytes}
    assert body["job"] is None


def test_a_dry_run_gives_the_numbers_and_moves_nothing(app, admin_api, photos, tmp_path):
    client, headers = admin_api
    used = usage(app)

    response = client.post(f"{API}/move", json={"target": "alt", "dry_run": True}, headers=headers)

    assert response.status_code == 200
    plan = response.get_json()
    assert (plan["target"], plan["objects"], plan["bytes"]) == ("alt", used.objects, used.bytes)
    assert plan["seconds_estimate"] >= 0 and plan["free_bytes"] > 0
    assert storage_jobs(app) == [] and state(app).moving_to is None
    assert files_in(tmp_path / "alt") <= {"shoebox-site.json"}


def test_dry_run_is_the_default(app, admin_api, photos):
    client, headers = admin_api

    response = client.post(f"{API}/move", json={"target": "alt"}, headers=headers)

    assert response.status_code == 200 and response.get_json()["target"] == "alt"
    assert storage_jobs(app) == []


def test_a_move_answers_202_with_its_job_and_the_files_end_up_in_the_new_store(app, admin_api, photos):
    client, headers = admin_api

    response = client.post(f"{API}/move", json={"target": "alt", "dry_run": False}, headers=headers)

    assert response.status_code == 202
    job = response.get_json()
    assert job["name"] == "storage_move" and job["state"] == "queued"
    assert response.headers["Location"] == f"http://shoebox.test/api/v1/jobs/{job['id']}"
    during = client.get(API, headers=headers).get_json()
    assert during["state"]["moving_to"] == "alt" and during["job"]["id"] == job["id"]

    run_jobs(app)

    after = client.get(API, headers=headers).get_json()
    assert after["state"]["active"] == "alt" and after["state"]["previous"] == "storage"
    assert [store["name"] for store in after["stores"] if store["active"]] == ["alt"]
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=headers).get_json()["state"] == "done"


@pytest.mark.parametrize("body, says", [
    ({"target": "nowhere", "dry_run": False}, "No store called nowhere"),
    ({"target": "storage"}, "already"),
    ({"target": "storage", "dry_run": False}, "already"),
    ({"dry_run": True}, None),
    ({"target": ""}, None),
    ({"target": 7}, None),
])
def test_a_refused_move_names_the_field_target(app, admin_api, photos, body, says):
    client, headers = admin_api

    response = client.post(f"{API}/move", json=body, headers=headers)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "target"
    if says:
        assert says in error["message"]
    assert storage_jobs(app) == [] and state(app).moving_to is None


def test_a_second_move_while_one_runs_is_refused(app, admin_api, photos):
    client, headers = admin_api
    assert client.post(f"{API}/move", json={"target": "alt", "dry_run": False}, headers=headers).status_code == 202

    response = client.post(f"{API}/move", json={"target": "alt", "dry_run": False}, headers=headers)

    assert response.status_code == 400 and response.get_json()["error"]["field"] == "target"
    assert len(storage_jobs(app)) == 1


def test_the_cleanup_through_the_api(app, admin_api, photos):
    from webapp.stores import service

    if not hasattr(service, "start_cleanup"):
        pytest.skip("webapp.stores.service offers no clean-up")
    client, headers = admin_api
    early = client.post(f"{API}/cleanup", headers=headers)
    assert early.status_code == 400 and early.get_json()["error"]["field"] == "target"  # nothing to remove yet
    client.post(f"{API}/move", json={"target": "alt", "dry_run": False}, headers=headers)
    run_jobs(app)

    response = client.post(f"{API}/cleanup", headers=headers)

    assert response.status_code == 202 and response.get_json()["name"] == "storage_cleanup"
    run_jobs(app)
    assert client.get(API, headers=headers).get_json()["state"]["previous"] is None


def test_the_openapi_document_describes_the_storage_operations(client):
    from webapp.stores import service

    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]

    assert paths[API]["get"]["operationId"] == "getStorage"
    move = paths[f"{API}/move"]["post"]
    assert move["operationId"] == "moveStorage" and {"200", "202", "400", "404"} <= set(move["responses"])
    body = document["components"]["schemas"]["MoveRequest"]
    assert set(body["properties"]) == {"target", "dry_run"} and body["required"] == ["target"]
    assert ("post" in paths.get(f"{API}/cleanup", {})) == hasattr(service, "start_cleanup")
