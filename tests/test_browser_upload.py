"""Uploading in real Chromium: many files at once, per-file progress and failures, then the gallery."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import PHONE, logged_in_page, screenshot, wait_for_images
from tests.fixtures.media import corpus_file

pytestmark = pytest.mark.browser

FILES = [("photos", "Canon_40D.jpg"), ("photos", "IMG_5195.HEIC"), ("orientation", "Landscape_6.jpg"),
         ("formats", "hopper.png"), ("formats", "animated-5-frames.gif"), ("broken", "truncated_image.png")]


def slow_uploads(page, bytes_per_second=400_000):
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20,
                                                      "downloadThroughput": -1, "uploadThroughput": bytes_per_second})


def test_many_files_upload_with_their_own_progress_and_results(live_server, page_for):
    page = logged_in_page(page_for, live_server)
    page.click("nav >> text=Upload")
    page.wait_for_url(live_server.url + "/upload")
    screenshot(page, "upload-empty-desktop-light")
    slow_uploads(page)
    page.set_input_files("#file-input", [str(corpus_file(*parts)) for parts in FILES])
    expect(page.locator(".upload-row")).to_have_count(len(FILES))
    page.wait_for_timeout(600)
    screenshot(page, "upload-in-progress-desktop-light")
    expect(page.locator(".upload-ok")).to_have_count(len(FILES) - 1, timeout=60_000)
    failed = page.locator(".upload-failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("truncated_image.png")
    assert "." in failed.locator(".upload-status").inner_text()  # a sentence, not a code
    screenshot(page, "upload-done-desktop-light")
    expect(page.locator("#upload-tray")).to_have_class(re.compile("upload-tray-collapsed"))  # out of the way
    expect(page.locator(".upload-tray-title")).to_contain_text("5 × Uploaded · 1 × Failed")
    page.click(".upload-tray-title")
    expect(page.locator(".upload-failed")).to_be_visible()

    page.click("nav >> text=Gallery")
    page.wait_for_url(live_server.url + "/")
    expect(page.locator(".tile")).to_have_count(len(FILES) - 1)
    wait_for_images(page)
    screenshot(page, "gallery-desktop-light")


def test_uploads_keep_going_while_browsing(live_server, page_for):
    page = logged_in_page(page_for, live_server)
    page.goto(live_server.url + "/upload")
    slow_uploads(page, 150_000)
    page.set_input_files("#file-input", [str(corpus_file("photos", "Canon_40D.jpg")),
                                         str(corpus_file("photos", "Nikon_D70.jpg"))])
    page.click("nav >> text=Gallery")  # boosted navigation while the files are still going up
    page.wait_for_url(live_server.url + "/")
    expect(page.locator("#upload-tray .upload-ok")).to_have_count(2, timeout=60_000)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_upload_and_gallery_on_a_phone(live_server, page_for, scheme):
    page = logged_in_page(page_for, live_server, color_scheme=scheme, **PHONE)
    page.goto(live_server.url + "/upload")
    page.set_input_files("#file-input", [str(corpus_file("photos", "HMD_Nokia_8.3_5G.jpg")),
                                         str(corpus_file("formats", "hopper.jpg"))])
    expect(page.locator(".upload-ok")).to_have_count(2, timeout=60_000)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"upload-done-phone-{scheme}")
    page.goto(live_server.url + "/")
    wait_for_images(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"gallery-phone-{scheme}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_quota_line_counts_each_finished_upload(live_server, page_for, scheme):
    page = logged_in_page(page_for, live_server, color_scheme=scheme)
    page.goto(live_server.url + "/upload")
    quota = page.locator("#upload-quota")
    expect(quota).to_contain_text("0 of 200 uploads used today")
    page.set_input_files("#file-input", [str(corpus_file("photos", "Canon_40D.jpg"))])
    expect(page.locator(".upload-ok")).to_have_count(1, timeout=60_000)
    expect(quota).to_contain_text("1 of 200 uploads used today")
    expect(quota).not_to_contain_text("0 bytes of")  # the storage it took counts too
    page.set_input_files("#file-input", [str(corpus_file("formats", "hopper.png")),
                                         str(corpus_file("broken", "truncated_image.png"))])
    expect(page.locator(".upload-failed")).to_have_count(1, timeout=60_000)
    expect(quota).to_contain_text("2 of 200 uploads used today")  # the refused file took nothing
    screenshot(page, f"upload-quota-after-uploads-desktop-{scheme}")


def _overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes share any area."""
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_on_a_phone_the_upload_tray_leaves_choose_files_free(live_server, page_for):
    # 664 px: what a 390 px phone's browser leaves for the page under its own bars.
    page = logged_in_page(page_for, live_server, **{**PHONE, "height": 664})
    page.goto(live_server.url + "/upload")
    page.set_input_files("#file-input", [str(corpus_file(*parts)) for parts in FILES])
    tray, choose = page.locator("#upload-tray"), page.locator("label", has_text="Choose files")
    expect(page.locator(".upload-ok")).to_have_count(len(FILES) - 1, timeout=60_000)
    assert not _overlap(tray.bounding_box(), choose.bounding_box()), (tray.bounding_box(), choose.bounding_box())
    screenshot(page, "upload-tray-done-phone-light")
    expect(tray).to_have_class(re.compile("upload-tray-collapsed"))
    assert not _overlap(tray.bounding_box(), choose.bounding_box()), (tray.bounding_box(), choose.bounding_box())
    page.click(".upload-tray-title")  # opened again on purpose, it may cover the page; closed, it goes
    page.click(".upload-tray-title")
    choose.click(trial=True)  # nothing lies over the button
