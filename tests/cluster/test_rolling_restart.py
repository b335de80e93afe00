"""A rolling restart under load: each instance in turn gets SIGTERM and is started again while a few clients
upload and view photos through nginx. Not one request may fail."""

from __future__ import annotations

import threading
import time
from collections import Counter

import requests

from tests.cluster.clients import BrowserSession, api_token, make_admin, photo, upload, web_session
from tests.fixtures.media import make_jpeg

UPLOADERS = 2
VIEWERS = 3


def test_rolling_restart_under_load_fails_no_request(cluster):
    username = make_admin(cluster)
    token = api_token(cluster.lb, username)
    browser = web_session(cluster.lb, username)
    name, data = photo()
    first = upload(cluster.lb, token, name, data)
    assert first.status_code == 201, first.text
    thumbnail_url = first.json()["thumbnail_url"]

    stop = threading.Event()
    counts: Counter = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    stored = [first.json()["id"]]

    def record(kind: str, response: requests.Response | None, error: Exception | None = None) -> None:
        with lock:
            counts[kind] += 1
            if kind == "upload" and response is not None and response.status_code == 201:
                stored.append(response.json()["id"])
            if error is not None:
                failures.append(f"{kind}: {type(error).__name__}: {error}")
            elif response.status_code >= 300:
                failures.append(f"{kind}: {response.status_code} {response.text[:200]}")

    def uploader(number: int) -> None:
        sent = 0
        while not stop.is_set():
            sent += 1
            body = make_jpeg((320, 240), colour=(number * 60 % 256, sent % 256, 90))
            try:
                record("upload", upload(cluster.lb, token, f"load-{number}-{sent}.jpg", body))
            except requests.RequestException as error:
                record("upload", None, error)

    def viewer(number: int) -> None:
        session = BrowserSession()
        session.cookies.update(browser.cookies)
        pages = [(cluster.lb + "/", "gallery"), (thumbnail_url, "thumbnail"),
                 (cluster.lb + "/api/v1/images", "list")]
        turn = number
        while not stop.is_set():
            url, kind = pages[turn % len(pages)]
            turn += 1
            headers = {"Authorization": f"Bearer {token}"} if kind == "list" else {}
            try:
                record(kind, session.get(url, headers=headers, timeout=60))
            except requests.RequestException as error:
                record(kind, None, error)

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(UPLOADERS)] + \
        [threading.Thread(target=viewer, args=(n,)) for n in range(VIEWERS)]
    for thread in threads:
        thread.start()
    restarts = []
    try:
        time.sleep(3)
        for index in range(len(cluster.instances)):
            started = time.monotonic()
            cluster.restart(index)
            restarts.append(time.monotonic() - started)
            time.sleep(3)  # the restarted instance takes its share before the next one stops
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    total = sum(counts.values())
    print(f"\nRolling restart of {len(cluster.instances)} instances (each took "
          f"{', '.join(f'{s:.1f} s' for s in restarts)}): {total} requests through nginx "
          f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), {len(failures)} failed")
    assert counts["upload"] >= 10 and total >= 50, f"too little load to prove anything: {dict(counts)}"
    assert not failures, failures[:20]
    # Every upload that was answered 201 is in the library, once, and nothing else is.
    assert sorted(_library(cluster.lb, token)) == sorted(stored)


def _library(base: str, token: str) -> list[str]:
    ids, cursor = [], None
    while True:
        page = requests.get(base + "/api/v1/images", params={"limit": 200, **({"cursor": cursor} if cursor else {})},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return ids
