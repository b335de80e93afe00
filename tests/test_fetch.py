"""Upload from a URL: downloads against a local server, and every way into a private network refused.

Nothing here leaves the machine: a guard fails any test that would ask real DNS about a name, and
"public" hosts are simulated by vouching for one fake name in the module's address check.
"""

import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from webapp.media import fetch as fetch_module
from webapp.media.fetch import FetchError, fetch, is_public_address
from webapp.media.fetch_slots import FetchSlots, SlotsTaken

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CAP = 4096


# --- a local web server with one handler per behaviour ------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        self.server.seen.append((path, dict(self.headers)))
        for pattern, route in ROUTES:
            if match := re.fullmatch(pattern, path):
                return route(self, *match.groups())
        self.send(404, b"not here")

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location):
        self.send(302, headers=[("Location", location)])

    def port(self):
        return self.server.server_address[1]


def image(handler):
    handler.send(200, PNG, [("Content-Type", "image/png; charset=binary")])


def chunked(handler):
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for start in range(0, len(PNG), 300):
        piece = PNG[start : start + 300]
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    handler.wfile.write(b"0\r\n\r\n")


def big_with_length(handler):
    handler.send(200, b"x" * (CAP * 10), [("Content-Type", "image/png")])


def big_stream(handler):
    handler.send_response(200)
    handler.send_header("Connection", "close")  # no length: the body ends when the connection does
    handler.end_headers()
    for _ in range(10):
        handler.wfile.write(b"x" * 1024)
        handler.wfile.flush()


def truncated(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(b"x" * 10)


def drip(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "20")
    handler.send_header("Connection", "close")
    handler.end_headers()
    for _ in range(20):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.5)


def slow_headers(handler):
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for number in range(20):
        handler.wfile.write(b"X-Drip: %d\r\n" % number)
        handler.wfile.flush()
        time.sleep(0.3)


def disposition(handler, kind):
    values = {
        "plain": 'attachment; filename="holiday photo.png"',
        "utf8": "attachment; filename=\"fallback.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9%20%F0%9F%8C%9E.jpg",
        "path": 'attachment; filename="../../etc/passwd"',
    }
    handler.send(200, PNG, [("Content-Type", "image/png"), ("Content-Disposition", values[kind])])


def headers(handler):
    handler.send(200, json.dumps(dict(handler.headers)).encode(), [("Content-Type", "application/json")])


def redirect_to(handler):
    handler.redirect(parse_qs(urlsplit(handler.path).query)["location"][0])


ROUTES = [
    (r"/image", image),
    (r"/photos/(?:sunset\.png|my%20cat\.png|)", image),
    (r"/chunked", chunked),
    (r"/big-with-length", big_with_length),
    (r"/big-stream", big_stream),
    (r"/truncated", truncated),
    (r"/drip", drip),
    (r"/slow-headers", slow_headers),
    (r"/named/(\w+)", disposition),
    (r"/headers", headers),
    (r"/redirect-to", redirect_to),
    (r"/hop1", lambda h: h.redirect("/hop2")),
    (r"/hop2", lambda h: h.redirect(f"http://127.0.0.1:{h.port()}/dir/hop3")),
    (r"/dir/hop3", lambda h: h.redirect("../photos/sunset.png")),
    (r"/countdown/(\d+)", lambda h, n: h.redirect(f"/countdown/{int(n) - 1}") if int(n) else image(h)),
    (r"/loop/(\d+)", lambda h, n: h.redirect(f"/loop/{int(n) + 1}")),
]


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up on purpose (cap, deadline) is not news


def start_server(ssl_context=None):
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.seen = []
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def stop_server(server, thread):
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def module_server():
    server, thread = start_server()
    yield server
    stop_server(server, thread)


@pytest.fixture
def server(module_server):
    module_server.seen.clear()
    return module_server


@pytest.fixture
def base(server):
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def dest(tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


@pytest.fixture(autouse=True)
def no_outside_dns(monkeypatch):
    """Fail any test that would ask real DNS about a name; names under .invalid do not exist."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if name != "localhost" and not _is_numeric_host(name):
            raise AssertionError(f"the test tried to resolve {name!r} in real DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def _is_numeric_host(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return re.fullmatch(r"(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}", name, re.I) is not None


@pytest.fixture
def public_example(monkeypatch):
    """Make "public.example" a host that passed the address check, at 127.0.0.1; nothing else changes."""
    real_checked_addresses = fetch_module._checked_addresses

    def vouch(host, port, allow_private):
        if host == "public.example":
            return [ipaddress.ip_address("127.0.0.1")]
        return real_checked_addresses(host, port, allow_private)

    monkeypatch.setattr(fetch_module, "_checked_addresses", vouch)


def fetch_error(url, dest, **kwargs):
    kwargs.setdefault("max_bytes", CAP)
    with pytest.raises(FetchError) as raised:
        fetch(url, dest, **kwargs)
    assert list(dest.iterdir()) == [], "a failed download left a file behind"
    assert raised.value.message.endswith(".")
    return raised.value


# --- downloads that work --------------------------------------------------------------------------


def test_downloads_an_image_with_content_length(base, dest):
    got = fetch(f"{base}/image", dest, max_bytes=CAP, allow_private=True)
    assert got.path.parent == dest and got.path.read_bytes() == PNG
    assert got.size == len(PNG)
    assert got.content_type == "image/png"
    assert got.final_url == f"{base}/image"
    assert got.filename == "image"
    assert list(dest.iterdir()) == [got.path]


def test_downloads_a_chunked_body_without_content_length(base, dest):
    got = fetch(f"{base}/chunked", dest, max_bytes=CAP, allow_private=True)
    assert got.path.read_bytes() == PNG and got.size == len(PNG)


def test_a_body_exactly_at_the_cap_is_accepted(base, dest):
    assert fetch(f"{base}/image", dest, max_bytes=len(PNG), allow_private=True).size == len(PNG)


def test_sends_plain_headers_and_no_credentials(server, dest):
    port = server.server_address[1]
    got = fetch(f"http://localhost:{port}/headers", dest, max_bytes=CAP, allow_private=True)
    sent = {name.lower(): value for name, value in json.loads(got.path.read_bytes()).items()}
    assert sent["host"] == f"localhost:{port}"
    assert sent["user-agent"].startswith("Shoebox/")
    assert sent["accept"] == "image/*,*/*;q=0.5"
    assert "cookie" not in sent and "authorization" not in sent


def test_follows_relative_and_absolute_redirects(base, server, dest):
    got = fetch(f"{base}/hop1", dest, max_bytes=CAP, allow_private=True)
    assert [path for path, _ in server.seen] == ["/hop1", "/hop2", "/dir/hop3", "/photos/sunset.png"]
    assert got.final_url == f"{base}/photos/sunset.png"
    assert got.filename == "sunset.png"
    assert got.path.read_bytes() == PNG


def test_five_redirects_are_followed(base, dest):
    assert fetch(f"{base}/countdown/5", dest, max_bytes=CAP, allow_private=True).size == len(PNG)


def test_a_redirect_loop_stops_after_five_redirects(base, server, dest):
    error = fetch_error(f"{base}/loop/0", dest, allow_private=True)
    assert error.code == "url_too_many_redirects"
    assert len(server.seen) == 6


@pytest.mark.parametrize(
    "path, filename",
    [
        ("/named/plain", "holiday photo.png"),
        ("/named/utf8", "été 🌞.jpg"),
        ("/named/path", "passwd"),
        ("/photos/my%20cat.png", "my cat.png"),
        ("/image?size=large", "image"),
        ("/photos/", "download"),
    ],
)
def test_the_filename_comes_from_content_disposition_or_the_url(base, dest, path, filename):
    assert fetch(f"{base}{path}", dest, max_bytes=CAP, allow_private=True).filename == filename


# --- downloads that fail, leaving nothing behind --------------------------------------------------


def test_a_content_length_over_the_cap_is_refused_before_the_body(base, dest):
    assert fetch_error(f"{base}/big-with-length", dest, allow_private=True).code == "url_too_large"


def test_a_stream_over_the_cap_is_cut_off_and_deleted(base, dest):
    assert fetch_error(f"{base}/big-stream", dest, allow_private=True).code == "url_too_large"


def test_an_error_status_is_refused(base, dest):
    error = fetch_error(f"{base}/missing", dest, allow_private=True)
    assert (error.code, error.status) == ("url_status", 404)


def test_a_body_shorter_than_its_content_length_is_refused(base, dest):
    assert fetch_error(f"{base}/truncated", dest, allow_private=True).code == "url_unreachable"


def test_a_slow_drip_body_hits_the_overall_deadline(base, dest):
    started = time.monotonic()
    error = fetch_error(f"{base}/drip", dest, allow_private=True, timeout=1.0)
    assert error.code == "url_unreachable"
    assert time.monotonic() - started < 1.6


def test_slow_drip_headers_hit_the_overall_deadline(base, dest):
    started = time.monotonic()
    error = fetch_error(f"{base}/slow-headers", dest, allow_private=True, timeout=1.0)
    assert error.code == "url_unreachable"
    assert time.monotonic() - started < 1.6


def test_a_closed_port_is_unreachable(dest):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert fetch_error(f"http://127.0.0.1:{port}/", dest, allow_private=True).code == "url_unreachable"


def test_an_unknown_host_name_is_unreachable(dest):
    assert fetch_error("http://nowhere.invalid/cat.png", dest).code == "url_unreachable"


# --- what may not be fetched ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/cat.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "http://user:pass@127.0.0.1/",
        "http://user@127.0.0.1/",
        "http:///cat.png",
        "//127.0.0.1/cat.png",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:0/",
        "http://[::1/",
        "http://127.0.0.1/\r\nX-Injected: 1",
        "not a url",
        "",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_non_http_urls_and_credentials_are_invalid(dest, url, allow_private):
    assert fetch_error(url, dest, allow_private=allow_private).code == "url_invalid"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/image",
        "http://localhost:{port}/image",
        "http://[::1]:{port}/image",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]:{port}/image",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://2130706433:{port}/image",
        "http://0x7f000001:{port}/image",
        "http://127.1:{port}/image",
    ],
)
def test_private_and_local_addresses_are_forbidden(server, dest, url):
    error = fetch_error(url.format(port=server.server_address[1]), dest)
    assert error.code == "url_forbidden"
    assert server.seen == []


def test_a_vouched_public_host_is_fetched_through_its_checked_address(server, dest, public_example):
    port = server.server_address[1]
    got = fetch(f"http://public.example:{port}/headers", dest, max_bytes=CAP)
    assert json.loads(got.path.read_bytes())["Host"] == f"public.example:{port}"


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{port}/image", "http://localhost:{port}/image", "http://[::1]:{port}/image", "http://10.0.0.1/"],
)
def test_a_redirect_from_a_public_host_to_a_private_one_is_forbidden(server, dest, public_example, location):
    port = server.server_address[1]
    url = f"http://public.example:{port}/redirect-to?location={location.format(port=port)}"
    assert fetch_error(url, dest).code == "url_forbidden"
    assert [path for path, _ in server.seen] == ["/redirect-to"]


def test_a_redirect_to_a_file_url_is_invalid(server, dest, public_example):
    url = f"http://public.example:{server.server_address[1]}/redirect-to?location=file:///etc/passwd"
    assert fetch_error(url, dest).code == "url_invalid"


def test_the_host_is_resolved_once_and_the_checked_address_is_used(server, dest, monkeypatch):
    lookups = []

    def rebinding_resolve(host, port):
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1" if len(lookups) == 1 else "10.9.9.9")]

    monkeypatch.setattr(fetch_module, "_resolve", rebinding_resolve)
    port = server.server_address[1]
    got = fetch(f"http://rebind.example:{port}/headers", dest, max_bytes=CAP, allow_private=True)
    assert lookups == ["rebind.example"]
    assert json.loads(got.path.read_bytes())["Host"] == f"rebind.example:{port}"


def test_every_resolved_address_is_checked(dest, monkeypatch):
    def mixed_resolve(host, port):
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("127.0.0.1")]

    def no_connection(*args):
        raise AssertionError("connected although one address was private")

    monkeypatch.setattr(fetch_module, "_resolve", mixed_resolve)
    monkeypatch.setattr(fetch_module, "_connect", no_connection)
    assert fetch_error("http://mixed.example/cat.png", dest).code == "url_forbidden"


@pytest.mark.parametrize(
    "address, public",
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:93.184.215.14", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),
        ("192.0.0.9", False),
        ("198.18.0.1", False),
        ("192.0.2.1", False),
        ("203.0.113.7", False),
        ("224.0.1.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fec0::1", False),
        ("ff0e::1", False),
        ("2001:db8::1", False),
        ("::ffff:127.0.0.1", False),
        ("::127.0.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("2002:7f00:1::", False),
        ("2002:c0a8:1::", False),
    ],
)
def test_only_global_unicast_addresses_are_public(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


# --- HTTPS: connect to the checked address, check the certificate against the name -----------------


@pytest.fixture(scope="module")
def tls():
    """A throwaway CA and a server certificate for public.example, as PEM."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def certificate(subject, issuer, public_key, signing_key, *, ca, names=()):
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        return builder.sign(signing_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_pem = certificate("Shoebox test CA", "Shoebox test CA", ca_key.public_key(), ca_key, ca=True)
    server_pem = certificate(
        "public.example", "Shoebox test CA", server_key.public_key(), ca_key, ca=False, names=["public.example"]
    )
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca_pem.decode(), server_pem, key_pem


@pytest.fixture(scope="module")
def https_server(tls, tmp_path_factory):
    _ca_pem, server_pem, key_pem = tls
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(server_pem)
    (folder / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server, thread = start_server(context)
    yield server
    stop_server(server, thread)


@pytest.fixture
def trust_test_ca(tls, monkeypatch):
    monkeypatch.setattr(fetch_module, "_ssl_context", lambda: ssl.create_default_context(cadata=tls[0]))


def test_https_connects_to_the_checked_address_and_verifies_the_name(https_server, dest, public_example, trust_test_ca):
    got = fetch(f"https://public.example:{https_server.server_address[1]}/image", dest, max_bytes=CAP)
    assert got.path.read_bytes() == PNG


def test_https_with_a_certificate_for_another_name_is_unreachable(https_server, dest, monkeypatch, trust_test_ca):
    monkeypatch.setattr(fetch_module, "_resolve", lambda host, port: [ipaddress.ip_address("127.0.0.1")])
    url = f"https://impostor.example:{https_server.server_address[1]}/image"
    assert fetch_error(url, dest, allow_private=True).code == "url_unreachable"


def test_a_name_server_that_never_answers_hits_the_overall_deadline(dest, monkeypatch):
    def silent_resolve(host, port):
        time.sleep(3)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(fetch_module, "_resolve", silent_resolve)
    started = time.monotonic()
    error = fetch_error("http://silent-dns.example/cat.png", dest, allow_private=True, timeout=1.0)
    assert error.code == "url_unreachable"
    assert time.monotonic() - started < 1.6


# --- slots: URL uploads never hold every request thread --------------------------------------------


def run_at_once(count, attempt):
    """Call attempt(n) for n in range(count) on `count` threads released together; the results, in order."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(n):
        barrier.wait()
        results[n] = attempt(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def hold_until(slots, release, holding):
    """attempt(owner) for run_at_once: keep a slot until `release`, or the SlotsTaken that refused it."""
    def attempt(owner):
        try:
            with slots.hold(owner, time.monotonic() + 30):
                holding.append(owner)
                release.wait(10)
                return "held"
        except SlotsTaken as taken:
            return taken
    return attempt


def test_fifty_requests_at_once_never_exceed_the_instance_limit_or_anyones_own():
    slots, release, holding = FetchSlots(total=5, per_owner=2), threading.Event(), []
    attempt = hold_until(slots, release, holding)
    finished = []
    runner = threading.Thread(target=lambda: finished.append(run_at_once(50, lambda n: attempt(f"user{n % 10}"))))
    runner.start()
    deadline = time.monotonic() + 5
    while len(holding) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # any request that got past the limits would have joined by now
    assert slots.in_use() == 5
    release.set()
    runner.join(10)
    results = finished[0]
    assert results.count("held") == 5
    assert all(holding.count(owner) <= 2 for owner in holding)
    assert all(isinstance(result, SlotsTaken) and result.retry_after >= 1 for result in results if result != "held")
    assert slots.in_use() == 0


def test_fifty_requests_at_once_from_one_person_get_only_their_own_two_slots():
    slots, release, holding = FetchSlots(total=10, per_owner=2), threading.Event(), []
    release.set()  # each holder lets go at once, yet the refusals all came while the first two held
    slots_seen = []
    real_take = slots._take

    def counting_take(owner, deadline):
        real_take(owner, deadline)
        slots_seen.append(slots.in_use())

    slots._take = counting_take
    results = run_at_once(50, lambda n: hold_until(slots, release, holding)("kim"))
    assert max(slots_seen) <= 2
    assert all(result == "held" or result.own_limit for result in results)
    assert slots.in_use() == 0


def test_a_refused_download_is_told_when_the_first_running_one_must_end():
    slots = FetchSlots(total=1, per_owner=1)
    with slots.hold("kim", time.monotonic() + 7.2):
        with pytest.raises(SlotsTaken) as own:
            with slots.hold("kim", time.monotonic() + 20):
                pass
        with pytest.raises(SlotsTaken) as busy:
            with slots.hold("lee", time.monotonic() + 20):
                pass
    assert (own.value.own_limit, own.value.retry_after) == (True, 8)
    assert (busy.value.own_limit, busy.value.retry_after) == (False, 8)
    with slots.hold("lee", time.monotonic() + 20):
        assert slots.in_use() == 1


def test_a_slot_is_given_back_when_the_download_fails():
    slots = FetchSlots(total=1, per_owner=1)
    with pytest.raises(FetchError):
        with slots.hold("kim", time.monotonic() + 20):
            raise FetchError()
    assert slots.in_use() == 0


def test_url_uploads_default_to_half_the_threads_and_may_never_take_them_all():
    from webapp.config import ConfigError, load_settings

    def slots(**overrides):
        return load_settings(overrides, environ={}, config_file=None)["fetch"]["max_concurrent"]

    assert (slots(), slots(server={"threads": 5}), slots(server={"threads": 1})) == (4, 2, 1)
    assert slots(server={"threads": 4}, fetch={"max_concurrent": 3}) == 3
    with pytest.raises(ConfigError) as refused:
        slots(server={"threads": 4}, fetch={"max_concurrent": 4})
    assert str(refused.value) == ("Configuration key fetch.max_concurrent must be less than server.threads (4), "
                                  "so that other requests always find a free thread.")


# --- the real server: a slow host cannot starve it --------------------------------------------------


class SlowHost:
    """A web server that sends a JPEG one byte every `interval` seconds until `release` is set.

    `in_flight` counts the downloads it is dribbling right now; each gives up after `longest` seconds.
    """

    def __init__(self, interval, longest=15.0):
        from tests.fixtures.media import make_jpeg

        self.body, self.interval, self.longest = make_jpeg((48, 32)), interval, longest
        self.release, self.in_flight, self.lock = threading.Event(), 0, threading.Lock()
        host = self

        class Dribble(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with host.lock:
                    host.in_flight += 1
                try:
                    host.dribble(self)
                finally:
                    with host.lock:
                        host.in_flight -= 1

        self.server = QuietServer(("127.0.0.1", 0), Dribble)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow.jpg"

    def dribble(self, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        sent, give_up = 0, time.monotonic() + self.longest
        while sent < len(self.body) - 1 and not self.release.is_set() and time.monotonic() < give_up:
            handler.wfile.write(self.body[sent : sent + 1])
            handler.wfile.flush()
            sent += 1
            self.release.wait(self.interval)
        handler.wfile.write(self.body[sent:])

    def wait_for_in_flight(self, count, seconds=10):
        deadline = time.monotonic() + seconds
        while self.in_flight != count:
            assert time.monotonic() < deadline, f"{self.in_flight} downloads in flight, not {count}"
            time.sleep(0.02)

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def slow_host():
    hosts = []

    def start(interval):
        hosts.append(SlowHost(interval))
        return hosts[-1]

    yield start
    for host in hosts:
        host.stop()


def create_accounts(app, *names):
    from tests.fixtures.accounts import STRONG_PASSWORD
    from webapp.auth import service

    with app.app_context():
        for name in names:
            service.create_user(f"{name}@example.com", name, STRONG_PASSWORD, verified=True)


def call(base_url, path, body=None, token=None, timeout=20):
    """(status, headers, JSON body) of a request to a running Shoebox; seconds taken as well."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.load(response), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.load(error), time.monotonic() - started


def log_in(base_url, name):
    from tests.fixtures.accounts import STRONG_PASSWORD

    status, _headers, body, _seconds = call(base_url, "/api/v1/auth/login",
                                            {"identifier": name, "password": STRONG_PASSWORD})
    assert status == 200, body
    return body["access_token"]


def assert_refused(answer, status, code):
    got_status, headers, body, seconds = answer
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert int(headers["Retry-After"]) >= 1
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    message = body["error"]["message"]
    assert message.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message), message
    assert seconds < 2, "a refusal must come at once, not after waiting for a slot"


def finished(futures, count, seconds=5):
    """The answers of the first `count` of `futures` to finish, waiting at most `seconds` for them."""
    deadline = time.monotonic() + seconds
    while sum(future.done() for future in futures) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return [future.result() for future in futures if future.done()]


def test_slow_url_uploads_leave_threads_for_health_and_the_excess_is_refused_at_once(
        make_app, database_url, start_instance, slow_host):
    host = slow_host(interval=0.5)
    create_accounts(make_app(), "kim", "lee", "max")
    base = start_instance(SHOEBOX_DATABASE__URL=database_url, SHOEBOX_SECURITY__ALLOW_PRIVATE_FETCH="true",
                          SHOEBOX_SERVER__THREADS="6", SHOEBOX_FETCH__MAX_CONCURRENT="3",
                          SHOEBOX_FETCH__PER_USER="2", SHOEBOX_FETCH__TIMEOUT_SECONDS="30")
    tokens = {name: log_in(base, name) for name in ("kim", "lee", "max")}
    upload = {"url": host.url}
    pool = ThreadPoolExecutor(12)
    try:
        # kim asks for four at once: two run, two are over her own limit.
        kims = [pool.submit(call, base, "/api/v1/images", upload, tokens["kim"], 30) for _ in range(4)]
        host.wait_for_in_flight(2)
        refused = finished(kims, 2)
        assert len(refused) == 2
        for answer in refused:
            assert_refused(answer, 429, "too_many_url_uploads")

        # lee and max ask for eight at once: one more runs; the instance's limit of three refuses the rest.
        others = [pool.submit(call, base, "/api/v1/images", upload, tokens[name], 30)
                  for name in ("lee", "max") * 4]
        host.wait_for_in_flight(3)
        refused = finished(others, 7)
        assert len(refused) == 7
        for answer in refused:
            assert_refused(answer, 503, "url_uploads_busy")

        # Three downloads are still dribbling in, and the server answers everything else at once.
        health = [call(base, "/health", timeout=5) for _ in range(20)]
        assert [status for status, *_ in health] == [200] * 20
        assert max(seconds for *_, seconds in health) < 1.0
        assert host.in_flight == 3

        host.release.set()
        statuses = sorted(future.result(timeout=15)[0] for future in kims + others)
        assert statuses == [201] * 3 + [429] * 2 + [503] * 7
    finally:
        host.release.set()
        pool.shutdown(wait=True, cancel_futures=True)


def test_a_download_that_dribbles_one_byte_a_second_is_cut_off_at_the_configured_deadline(
        make_app, slow_host):
    host = slow_host(interval=1.0)
    app = make_app(security={"allow_private_fetch": True}, fetch={"timeout_seconds": 2})
    create_accounts(app, "kim")
    client = app.test_client()
    from tests.fixtures.accounts import STRONG_PASSWORD

    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    started = time.monotonic()
    response = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, json={"url": host.url})
    took = time.monotonic() - started
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "url_unreachable",
        "message": "The other server could not be reached, or did not send the whole file within 2 seconds."}
    assert 1.5 < took < 3.5
