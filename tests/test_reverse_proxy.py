"""`python -m webapp serve` behind a real nginx: server.trusted_proxies makes the forwarded client
address and scheme count (rate limits per client, Secure cookies over https), and nothing else does.

Needs nginx (Debian: apt-get install nginx-light); skipped without it, except under REQUIRE_BROWSER=1
(CI), where a missing nginx fails the run.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest


LOGINS_PER_MINUTE = 10  # webapp.auth.limits.LOGIN_PER_ADDRESS


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _self_signed_certificate(folder) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "photos.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert, private = folder / "proxy.crt", folder / "proxy.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(cert), str(private)


NGINX_CONF = """
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    server {{
        listen 127.0.0.1:{http_port};
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@pytest.fixture
def nginx_in_front(tmp_path):
    """start(app_url) -> (http_port, https_port) of an nginx proxying both to the Shoebox at app_url."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if binary is None:
        message = "nginx is not installed (apt-get install nginx-light); reverse-proxy tests need it"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and REQUIRE_BROWSER=1 is set", pytrace=False)
        pytest.skip(message)
    folder = tmp_path / "nginx"
    folder.mkdir()
    processes = []

    def start(app_url: str) -> tuple[int, int]:
        cert, key = _self_signed_certificate(folder)
        http_port, https_port = _free_port(), _free_port()
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(folder=folder, cert=cert, key=key, http_port=http_port,
                                          https_port=https_port, app_port=app_url.rsplit(":", 1)[1]))
        process = subprocess.Popen([binary, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf),
                                    "-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                return http_port, https_port
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                    raise AssertionError(f"nginx did not start: {process.stdout.read()} {log}") from None
                time.sleep(0.05)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def _refresh_attempt(port: int, client_address: str = "127.0.0.1", headers: dict | None = None) -> int:
    """A token refresh with a token that does not exist, from `client_address`; returns the status.
    (Refreshes share the login limit per address and, unlike logins, hash no password.)"""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(client_address, 0))
    connection.request("POST", "/api/v1/auth/refresh", body=json.dumps({"refresh_token": "no-such-token"}),
                       headers={"Content-Type": "application/json", **(headers or {})})
    status = connection.getresponse().status
    connection.close()
    return status


def _session_cookie(connection: http.client.HTTPConnection, headers: dict | None = None) -> str:
    """The Set-Cookie header of the session that a form page starts (on an empty instance, /setup)."""
    connection.request("GET", "/setup", headers={"Host": "photos.test", **(headers or {})})
    response = connection.getresponse()
    response.read()
    connection.close()
    cookie = next(v for k, v in response.getheaders() if k.lower() == "set-cookie" and "shoebox_session=" in v)
    return cookie


def _is_secure(cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_behind_nginx_each_client_address_has_its_own_rate_limit(start_instance, nginx_in_front):
    http_port, _ = nginx_in_front(start_instance(SHOEBOX_SERVER__TRUSTED_PROXIES="1"))
    statuses = [_refresh_attempt(http_port, "127.0.0.2") for _ in range(LOGINS_PER_MINUTE + 1)]
    assert statuses == [401] * LOGINS_PER_MINUTE + [429]
    assert _refresh_attempt(http_port, "127.0.0.3") == 401, "another client shared the first one's limit"


def test_behind_nginx_over_https_the_session_cookie_is_secure(start_instance, nginx_in_front):
    http_port, https_port = nginx_in_front(start_instance(SHOEBOX_SERVER__TRUSTED_PROXIES="1"))
    unverified = ssl._create_unverified_context()  # the proxy's certificate is self-signed
    assert _is_secure(_session_cookie(http.client.HTTPSConnection("127.0.0.1", https_port, context=unverified)))
    # Plain http to a LAN name: a Secure cookie would be dropped by the browser and nobody could log in.
    assert not _is_secure(_session_cookie(http.client.HTTPConnection("127.0.0.1", http_port)))


def test_without_trusted_proxies_forwarded_headers_from_a_client_are_ignored(start_instance):
    port = int(start_instance().rsplit(":", 1)[1])
    statuses = [_refresh_attempt(port, headers={"X-Forwarded-For": f"203.0.113.{n}"})
                for n in range(LOGINS_PER_MINUTE + 1)]
    assert statuses == [401] * LOGINS_PER_MINUTE + [429]
    cookie = _session_cookie(http.client.HTTPConnection("127.0.0.1", port), {"X-Forwarded-Proto": "https"})
    assert not _is_secure(cookie)
