"""Backups in real Chromium: back up now and watch it to the download, restore an uploaded archive
into another account, save a schedule, delete, and bring back an empty instance from the setup page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.browser import PHONE, logged_in_page, screenshot, wait_for_images
from tests.fixtures.media import make_jpeg, multipart
from tests.test_backup_pages import archive_from, instance_archive  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def upload_photos(app, username: str, count: int) -> None:
    client = app.test_client()
    bearer = {"Authorization": "Bearer " + client.post("/api/v1/auth/login", json={
        "identifier": username, "password": STRONG_PASSWORD}).get_json()["access_token"]}
    for n in range(count):
        body, content_type = multipart({"file": (make_jpeg(colour=(n * 60, 90, 40)), f"p{n}.jpg")})
        assert client.post("/api/v1/images", headers=bearer, data=body, content_type=content_type).status_code == 201


def log_in(page_for, live_server, username: str, **options):
    page = page_for(**options)
    page.goto(live_server.url + "/login")
    page.fill("#identifier", username)
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    return page


def test_back_up_now_shows_progress_then_a_download(page_for, live_server, tmp_path):
    from webapp import jobs

    page = logged_in_page(page_for, live_server)
    upload_photos(live_server.app, "kim", 2)
    page.goto(live_server.url + "/settings/")
    page.click("text=Open Backups")
    page.wait_for_url(live_server.url + "/settings/backups")
    page.click("button:has-text('Back up my account now')")
    progress = page.locator("#backup-job .backup-progress")
    expect(progress).to_be_visible()
    expect(progress).to_contain_text("Waiting for a worker to start it.")
    expect(page.locator("#backup-job progress")).to_have_attribute("value", "0")
    screenshot(page, "backups-account-waiting")

    jobs.work_until_idle(live_server.app)  # the worker, here in the test's thread; the page polls on its own
    download = page.locator("#backup-job a:has-text('Download')")
    expect(download).to_be_visible(timeout=5000)
    expect(page.locator("#backup-job")).to_contain_text("read back in full and every checksum verified")
    expect(page.locator("#backup-list .backup-item")).to_have_count(1)
    expect(page.locator("#backup-list")).to_contain_text("2 photos")
    screenshot(page, "backups-account-done")
    with page.expect_download() as downloaded:
        download.click()
    assert downloaded.value.suggested_filename.startswith("shoebox-account-")
    target = tmp_path / "kim.zip"
    downloaded.value.save_as(target)
    assert target.stat().st_size > 0


def test_an_archive_restores_into_another_account_after_its_preview(page_for, live_server, tmp_path):
    from webapp import jobs
    from webapp.auth import service as accounts

    kim = logged_in_page(page_for, live_server)
    upload_photos(live_server.app, "kim", 3)
    kim.goto(live_server.url + "/settings/backups")
    kim.click("button:has-text('Back up my account now')")
    expect(kim.locator("#backup-job .backup-progress")).to_be_visible()  # the job is queued: a worker can take it
    jobs.work_until_idle(live_server.app)
    with kim.expect_download() as downloaded:
        kim.locator("#backup-job a:has-text('Download')").click()
    archive = tmp_path / "kim.zip"
    downloaded.value.save_as(archive)

    with live_server.app.app_context():
        accounts.create_user("lee@example.com", "lee", STRONG_PASSWORD, verified=True)
    lee = log_in(page_for, live_server, "lee", **PHONE)
    lee.goto(live_server.url + "/settings/backups")
    lee.set_input_files("#file", str(archive))
    lee.click("button:has-text('Upload and preview')")
    expect(lee.locator("h1")).to_have_text("Restore a backup")
    expect(lee.locator(".backup-preview")).to_contain_text("3 photos")
    screenshot(lee, "backups-restore-preview-phone")
    lee.click("button:has-text('Restore into my account')")
    expect(lee.locator("#restore-job .backup-progress")).to_be_visible()
    jobs.work_until_idle(live_server.app)
    expect(lee.locator("#restore-job")).to_contain_text(
        "Restored: 3 photos, 0 albums and 0 share links added to your account.", timeout=5000)
    lee.click("text=Open the gallery")
    expect(lee.locator(".tile")).to_have_count(3)
    wait_for_images(lee)  # the server stops after the test: nothing may be loading then


def test_a_schedule_saves_in_place_and_a_backup_is_deleted_after_asking(page_for, live_server):
    from webapp import jobs

    page = logged_in_page(page_for, live_server, color_scheme="dark")
    page.goto(live_server.url + "/settings/backups")
    page.select_option("#frequency", "daily")
    page.select_option("#hour", "4")
    page.fill("#keep_weekly", "900")
    page.click("button:has-text('Save schedule')")
    expect(page.locator("#keep_weekly-errors")).to_have_text("Enter a whole number from 0 to 520.")
    page.fill("#keep_weekly", "4")
    page.click("button:has-text('Save schedule')")
    expect(page.locator("#backup-schedule")).to_contain_text("The next one is made on")
    expect(page.locator("#backup-schedule")).to_contain_text("at 4:00 AM UTC")

    page.click("button:has-text('Back up my account now')")
    expect(page.locator("#backup-job .backup-progress")).to_be_visible()
    jobs.work_until_idle(live_server.app)
    expect(page.locator("#backup-list .backup-item")).to_have_count(1, timeout=5000)
    page.click("#backup-list summary:has-text('Delete')")
    expect(page.locator(".backup-delete-confirm")).to_contain_text("Delete this backup for good?")
    page.click("button:has-text('Delete backup')")
    expect(page.locator("#backup-list")).to_contain_text("No backups yet.")


def test_an_empty_instance_is_restored_from_the_setup_page(page_for, live_server, instance_archive, tmp_path):
    from webapp import jobs

    archive = tmp_path / "instance.zip"
    archive.write_bytes(instance_archive)
    page = page_for()
    page.goto(live_server.url + "/")
    page.wait_for_url(live_server.url + "/setup")
    page.click("a:has-text('Restore from a backup')")
    page.wait_for_url(live_server.url + "/setup/restore")
    page.set_input_files("#file", str(archive))
    page.click("button:has-text('Upload and restore')")
    expect(page.locator("#setup-job .backup-progress")).to_be_visible()
    jobs.work_until_idle(live_server.app)
    expect(page.locator("#setup-job")).to_contain_text("Restored: 2 accounts, 2 photos. Log in with your usual account.",
                                                       timeout=5000)
    page.click("#setup-job a:has-text('Log in')")
    page.fill("#identifier", "kim")
    page.fill("#password", STRONG_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    expect(page.locator(".tile")).to_have_count(2)
    wait_for_images(page)
