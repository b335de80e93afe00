"""The OpenAPI document describes every API route, and the API keeps to it (schemathesis)."""

from __future__ import annotations

import itertools
import json
import re

from collections import Counter

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as CHECKS_REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.core.failures import FailureGroup

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import make_jpeg, multipart

DOCUMENTED_OUTSIDE_V1 = {"/health", "/health/ready", "/upload/quota", "/api/images", "/api/images/{media_id}"}


def _route_map(app) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if path.startswith("/api/v1/") or path in DOCUMENTED_OUTSIDE_V1:
            routes.setdefault(path, set()).update(m for m in rule.methods if m not in {"HEAD", "OPTIONS"})
    return routes


def _documented(document) -> dict[str, set[str]]:
    return {path: {m.upper() for m in item if m in {"get", "post", "put", "patch", "delete"}}
            for path, item in document["paths"].items()}


def test_every_api_route_is_documented(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    routes, documented = _route_map(app), _documented(document)
    missing = {p: sorted(m - documented.get(p, set())) for p, m in routes.items() if m - documented.get(p, set())}
    assert not missing, f"routes missing from the generated document: {missing}"
    stale = {p: sorted(m - routes.get(p, set())) for p, m in documented.items() if m - routes.get(p, set())}
    assert not stale, f"documented but not served: {stale}"


def test_document_is_openapi_3_1_with_this_instances_server(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://shoebox.test"}]


def test_every_operation_has_an_id_and_documented_responses(client):
    document = client.get("/api/v1/openapi.json").get_json()
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            ids.append(operation["operationId"])
            assert operation["responses"], f"{method} {path} documents no responses"
    assert len(ids) == len(set(ids))


def test_interactive_docs_are_served_locally(client):
    page = client.get("/api/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
        with client.get(f"/api/docs/assets/{asset}") as response:
            assert response.status_code == 200
    assert client.get("/api/docs/assets/..%2f..%2fsecret").status_code == 404
    assert client.get("/api/docs/assets/index.html").status_code == 404


# --- the API against its document (schemathesis) ---------------------------------------------

load_all_checks()
CHECKS = {check.__name__: check for check in CHECKS_REGISTRY.get_all()}
# Each operation gets this many generated requests per generation mode (positive and negative).
# Derandomized: every CI run sends the same requests, so a failure is reproducible.
FUZZ = settings(max_examples=20, derandomize=True, database=None, deadline=None,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
# Without credentials an operation that needs them can only answer 401; a few requests show that.
FUZZ_REFUSED = settings(FUZZ, max_examples=4)
# Deletions run last, the innermost first, so earlier operations still find the photos and albums.
LAST = ["DELETE /api/v1/shares/{share_id}", "DELETE /api/v1/albums/{album_id}/images/{image_id}",
        "DELETE /api/v1/albums/{album_id}",
        "DELETE /api/v1/images/{media_id}/variants/{variant_id}", "DELETE /api/v1/images/{media_id}",
        "DELETE /api/v1/api-keys/{key_id}", "DELETE /api/v1/backups/{backup_id}"]
# Refusals of well-formed input that depend on what the server holds, which no schema can say: the
# account's password, an emailed token, a cursor from an earlier page, a cover from the album itself,
# what the server at an upload URL answers, what an uploaded file contains, how guessable a password is,
# whether a share link's expiry is still ahead (and under ten years away) when the request arrives, whether
# the link being changed is an album's (the only kind that takes guest uploads), whether an uploaded file is a
# Shoebox archive, whether a backup schedule left unsaid keeps at least one backup;
# and text holding the NUL character, which PostgreSQL cannot store (test_api_contract.py).
BEYOND_THE_DOCUMENT = {"wrong_password", "token_invalid", "invalid_cursor", "cover_not_in_album",
                       "url_unreachable", "url_forbidden", "url_status", "unsupported_image", "empty_file",
                       "weak_password", "expiry_in_past", "expiry_too_far", "upload_needs_album",
                       "nul_character", "invalid_archive", "nothing_kept"}
# A transformation that does not fit the photo it is asked of (a crop outside it, a result too large).
PHOTO_SIZE = re.compile(r"\d+x\d+ (image|pixels)")
ADDRESSES = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in itertools.count(1))


class Findings:
    """What a schemathesis run saw: each distinct failure once, and how often each status came back."""

    def __init__(self):
        self.failures: dict[tuple, str] = {}
        self.statuses: Counter = Counter()  # (operation, status code) -> responses

    def add(self, label: str, check: str, what: str, report: str) -> None:
        self.failures.setdefault((label, check, what), report)

    def add_failure(self, label: str, failure, case, response, headers) -> None:
        """One check's failure, told apart by the part of the request it blames or the error it got."""
        check = failure.checks[0] if failure.checks else failure.code
        blamed = re.search(r"Invalid component: (.*)", failure.message or "")
        error = (response.json() or {}).get("error", {}) if _is_json(response) else {}
        if check == "positive_data_acceptance" and _beyond_the_document(case, error):
            return
        if check == "negative_data_rejection" and _valid_form(case):
            return
        what = blamed.group(1).split(" (was ")[0][:120] if blamed else \
            f"{failure.title}: {response.status_code} {error.get('code', '')} {error.get('message', '')[:60]}"
        self.add(label, check, what, f"{failure.message}\n-> {response.status_code} {response.text[:300]}\n"
                                     f"{case.as_curl_command(headers)}")

    def answered(self, status: int) -> set[str]:
        """The operations that gave this status at least once."""
        return {label for label, code in self.statuses if code == status}

    def by_check(self) -> Counter:
        return Counter(check for _label, check, _what in self.failures)

    def report(self) -> str:
        return "\n\n".join(f"{label} [{check}] {what}\n{text}"
                           for (label, check, what), text in sorted(self.failures.items()))


def _beyond_the_document(case, error: dict) -> bool:
    """Whether the server refused well-formed input for a reason no schema can state."""
    return (error.get("code") in BEYOND_THE_DOCUMENT or _has_whole_float(case.body)
            or bool(PHOTO_SIZE.search(error.get("message", ""))) or _special_use_address(case.body)
            or _album_order_without_album(case.query, error))


def _album_order_without_album(query, error: dict) -> bool:
    """sort=album without album: a rule between two parameters, which the document states only in words."""
    query = query or {}
    return error.get("code") == "invalid_sort" and query.get("sort") == "album" and not query.get("album")


def _special_use_address(body) -> bool:
    """Whether the body's email is at a domain kept for tests and examples (RFC 6761, such as .test),
    which the server refuses and `format: email` cannot rule out."""
    import email_validator

    domain = str(body.get("email", "")).rpartition("@")[2].lower() if isinstance(body, dict) else ""
    return any(domain == name or domain.endswith("." + name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _valid_form(case) -> bool:
    """Whether a multipart body that schemathesis made to break the schema keeps to it as sent: every form
    field is text on the wire (a "number" arrives as digits), and it negates one branch of an anyOf
    while another still holds."""
    if case.media_type != "multipart/form-data" or not isinstance(case.body, dict):
        return False
    schema = case.operation.definition.raw["requestBody"]["content"][case.media_type]["schema"]
    if "$ref" in schema:  # a form model of its own (not a choice between JSON and form) is a component
        schema = case.operation.schema.raw_schema["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    sent = {name: _as_form_text(value) for name, value in case.body.items()}
    return jsonschema_rs.validator_for(schema).is_valid(sent)


def _as_form_text(value) -> str:
    if type(value) is str:
        return value
    # A file (bytes, or schemathesis's str-like Binary) can be any text as far as the schema goes.
    return "" if isinstance(value, bytes | str) else json.dumps(value)


def _has_whole_float(value) -> bool:
    """Whether a JSON value holds a number such as 90.0. JSON Schema counts it as an integer, but the API
    wants whole numbers written as such (test_transforms pins `{"width": 100.0}` as refused)."""
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_whole_float(v) for v in value.values())
    return isinstance(value, list) and any(_has_whole_float(v) for v in value)


def _is_json(response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def check_operations_against_document(app, credential=None, known_ids=None, findings=None) -> Findings:
    """Send generated requests, valid and invalid, to every documented operation and check each answer
    against the document with every schemathesis check: no 5xx, statuses, content types, headers and
    bodies as documented, invalid input refused, valid input accepted, auth not ignored.

    `credential()` gives the headers of one credential for each request (then schemathesis generates
    no credentials of its own); `known_ids` maps path parameters to ids that exist, so requests reach
    real photos and albums as well as missing ones. Failures are collected, not raised at the first.
    Drives schemathesis through its operation strategies (its pytest integration does not work with
    pytest 9's node ids).
    """
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.generation.update(with_security_parameters=credential is None)
    findings = findings if findings is not None else Findings()
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: LAST.index(op.label) + 1 if op.label in LAST else 0)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz = FUZZ if credential or operation.definition.raw.get("security") == [] else FUZZ_REFUSED
                _exercise(operation, _strategy(operation, mode, known_ids or {}), credential, findings, fuzz)
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    return findings


def _strategy(operation, mode, known_ids):
    generated = operation.as_strategy(generation_mode=mode)
    names = re.findall(r"{([^}]+)}", operation.path)
    if not names or not all(known_ids.get(n) for n in names):
        return generated
    existing = st.fixed_dictionaries({n: st.sampled_from(known_ids[n]) for n in names})
    return st.one_of(generated, existing.flatmap(
        lambda ids: operation.as_strategy(generation_mode=mode, path_parameters=ids)))


def _exercise(operation, strategy, credential, findings: Findings, fuzz: settings) -> None:
    @given(case=strategy)
    @fuzz
    def send(case):
        # Each request comes from an address of its own, so the per-address limits on the ways in
        # (tested in test_limits.py) do not answer 429 to everything after the first few.
        sent = {"headers": credential() if credential else None, "environ_base": {"REMOTE_ADDR": next(ADDRESSES)}}
        try:
            response = case.call(**sent)
        except Exception as error:  # the app itself raised: as bad as a 500
            findings.add(operation.label, "not_a_server_error", repr(error), case.as_curl_command(sent["headers"]))
            return
        findings.statuses[operation.label, response.status_code] += 1
        try:
            case.validate_response(response, checks=list(CHECKS.values()), headers=sent["headers"],
                                   transport_kwargs=sent)
        except FailureGroup as group:
            for failure in group.exceptions:
                findings.add_failure(operation.label, failure, case, response, sent["headers"])

    send()


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    """Generated upload URLs must never reach out: no name server, no public address."""
    from webapp.media import fetch

    def refuse(host, port):
        raise fetch.URLUnreachable(f"The host name {host} could not be found.")

    monkeypatch.setattr(fetch, "_resolve", refuse)


@pytest.fixture
def quick_passwords(monkeypatch):
    """Argon2 at the lowest cost: the run checks hundreds of generated passwords, and hashing each at full
    cost would take most of its time. What a hash is made of is not what this test is about."""
    from argon2 import PasswordHasher

    from webapp.auth import service
    from webapp.shares import service as shares

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = hasher.hash("not a real password")
    monkeypatch.setattr(service, "_hasher", hasher)
    monkeypatch.setattr(service, "_dummy_hash", lambda: dummy)
    monkeypatch.setattr(shares, "_hasher", hasher)


def fuzz_account(app, make_user, username: str):
    """A verified account on the pro plan with photos, albums, a saved transformation, share links, a
    spare API key, a finished backup and a queued job; returns its id and the ids that exist, by path parameter."""
    from webapp import jobs
    from webapp.extensions import db
    from webapp.models import Plan, User

    user_id = make_user(username=username)
    with app.app_context():
        user = db.session.get(User, user_id)
        user.plan_id = db.session.scalar(db.select(Plan.id).where(Plan.name == "pro"))  # hourly limit past this run
        db.session.commit()
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"identifier": username, "password": STRONG_PASSWORD})
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    images = []
    for colour in [(200, 30, 30), (30, 200, 30), (30, 30, 200)]:
        body, content_type = multipart({"file": (make_jpeg(colour=colour), "photo.jpg")})
        images.append(client.post("/api/v1/images", headers=headers, data=body, content_type=content_type)
                      .get_json()["id"])
    albums = [client.post("/api/v1/albums", headers=headers, json={"title": title}).get_json()["id"]
              for title in ("Holidays", "Garden")]
    for album in albums:
        client.post(f"/api/v1/albums/{album}/images", headers=headers, json={"image_ids": images[:2]})
    variant = client.post(f"/api/v1/images/{images[0]}/transform", headers=headers,
                          json={"transformations": {"rotate": 90}}).get_json()["id"]
    spare = client.post("/api/v1/api-keys", headers=headers, json={"name": "spare"}).get_json()["id"]
    shares = [client.post("/api/v1/shares", headers=headers, json=target).get_json()["id"]
              for target in ({"image_id": images[0]}, {"album_id": albums[0]}, {"image_ids": images[1:]})]
    backup = client.post("/api/v1/backups", headers=headers, json={"scope": "account"}).get_json()["id"]
    jobs.work_until_idle(app, names=["backup"])
    with app.app_context():
        job = jobs.enqueue("integrity_check", user_id=user_id)
        db.session.commit()
        job_id = job.id
    return user_id, {"media_id": images, "image_id": images, "album_id": albums, "variant_id": [variant],
                     "key_id": [spare], "share_id": shares, "job_id": [job_id], "backup_id": [backup]}


def bearer_credential(app, user_id):
    """Headers with an access token of `user_id`; a new login when a generated request ended the last one."""
    from webapp.auth import tokens
    from webapp.errors import NotAuthenticated
    from webapp.extensions import db
    from webapp.models import User

    current = {}

    def headers():
        with app.app_context():
            try:
                tokens.user_for_access_token(current.get("token", ""))
            except (NotAuthenticated, KeyError, ValueError):
                current["token"] = tokens.start_family(db.session.get(User, user_id))["access_token"]
                db.session.commit()
        return {"Authorization": f"Bearer {current['token']}"}
    return headers


def api_key_credential(app, user_id):
    """Headers with an API key of `user_id`; a new key when a generated request revoked the last one."""
    from webapp.auth import api_keys, tokens
    from webapp.errors import NotAuthenticated
    from webapp.extensions import db
    from webapp.models import User

    current = {}

    def headers():
        with app.app_context():
            try:
                tokens.user_for_api_key(current.get("key", ""))
            except NotAuthenticated:
                current["key"] = api_keys.create_api_key(db.session.get(User, user_id), "schemathesis")[1]
        return {"X-API-Key": current["key"]}
    return headers


# Where a 401 is the answer to credentials in the body, not to the request's own.
LOGINS = {"POST /api/v1/auth/login", "POST /api/v1/auth/refresh"}


# schemathesis's WSGI transport reads a response but never closes it (only event streams), so a file
# download (a backup archive) keeps its file open until the garbage collector closes it.
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Exception ignored in. <_io.FileIO:pytest.PytestUnraisableExceptionWarning")
def test_api_keeps_to_its_document(app, make_user, quick_passwords):
    anonymous = check_operations_against_document(app)
    bearer_user, bearer_ids = fuzz_account(app, make_user, "bearer")
    bearer = check_operations_against_document(app, bearer_credential(app, bearer_user), bearer_ids)
    key_user, key_ids = fuzz_account(app, make_user, "apikey")
    api_key = check_operations_against_document(app, api_key_credential(app, key_user), key_ids)

    report = "\n\n".join(run.report() for run in (anonymous, bearer, api_key) if run.failures)
    assert not report, f"the API and its generated document disagree:\n\n{report}"
    # Signed in, every request reached the operation itself.
    assert not bearer.answered(401) - LOGINS and not api_key.answered(401) - LOGINS
    assert anonymous.answered(401) >= {"GET /api/v1/account", "GET /api/v1/images"}
