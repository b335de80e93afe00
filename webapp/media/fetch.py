"""Download a URL to a local file for "upload from a URL", without letting it reach inside the network.

The danger is server-side request forgery: a URL (or a redirect) that points at the cloud metadata
service, the router or Shoebox itself. So every hop resolves its host once, checks every address it
got, and then connects to that checked address, never to the name again, sending the original name
only as the Host header and as the TLS server name (so certificates are still checked against it).
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ACCEPT = "image/*,*/*;q=0.5"
CHUNK_BYTES = 64 * 1024
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
DEFAULT_PORTS = {"http": 80, "https": 443}

# Not global, but ipaddress calls them global (or did in some Python versions): shared address space
# (CGNAT), IETF protocol assignments, benchmarking, the deprecated 6to4 relay anycast.
_NOT_PUBLIC_V4 = tuple(
    ipaddress.ip_network(net) for net in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "192.88.99.0/24")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NOT_PUBLIC_V6 = tuple(
    ipaddress.ip_network(net)
    # IPv4-compatible, SIIT, local-use NAT64, the deprecated site-local range
    for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "fec0::/10")
)


class FetchError(Exception):
    """A URL that could not be downloaded; `code` is snake_case, `message` one sentence for people."""

    code = "url_error"
    message = "That address could not be downloaded."

    def __init__(self, message: str | None = None):
        self.message = message or type(self).message
        super().__init__(self.message)


class URLInvalid(FetchError):
    code = "url_invalid"
    message = "That is not a web address Shoebox can download from."


class URLForbidden(FetchError):
    code = "url_forbidden"
    message = "That address points into a private or local network, so Shoebox will not download from it."


class URLUnreachable(FetchError):
    code = "url_unreachable"
    message = "The server at that address could not be reached."


class URLStatus(FetchError):
    code = "url_status"

    def __init__(self, status: int):
        self.status = status
        super().__init__(f"The server answered with status {status} instead of a file.")


class URLTooLarge(FetchError):
    code = "url_too_large"

    def __init__(self, max_bytes: int):
        super().__init__(f"The file at that address is larger than the limit of {max_bytes} bytes.")


class URLTooManyRedirects(FetchError):
    code = "url_too_many_redirects"

    def __init__(self, max_redirects: int):
        super().__init__(f"The address redirected more than {max_redirects} times.")


@dataclass
class Fetched:
    """A downloaded file in the destination folder, and what the server said about it."""

    path: Path
    size: int
    content_type: str
    final_url: str
    filename: str


@dataclass(frozen=True)
class _Target:
    """One hop's URL, taken apart: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str  # ASCII, no brackets
    port: int
    host_header: str
    request_target: str


def fetch(
    url: str,
    dest_dir: Path,
    *,
    max_bytes: int,
    timeout: float = 20.0,
    max_redirects: int = 5,
    allow_private: bool = False,
) -> Fetched:
    """Download `url` into a new file in `dest_dir`; raise FetchError (leaving no file) when it cannot."""
    deadline = time.monotonic() + timeout
    target = parse_url(url)
    redirects = 0
    while True:
        conn, response = _request(target, deadline, allow_private)
        try:
            location = _redirect_location(response)
            if location is None:
                return _save(conn, response, target, Path(dest_dir), max_bytes, deadline)
        finally:
            response.close()
            conn.close()
        if redirects == max_redirects:
            raise URLTooManyRedirects(max_redirects)
        redirects += 1
        target = parse_url(urljoin(target.url, location))  # every hop is parsed and checked afresh


def parse_url(url: str) -> _Target:
    """Take an http(s) URL apart, refusing other schemes, credentials, missing hosts and bad ports."""
    if not isinstance(url, str) or re.search(r"[\x00-\x1f\x7f]", url):
        raise URLInvalid()
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise URLInvalid("The host or port in that address is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise URLInvalid("Only http:// and https:// addresses can be downloaded.")
    if "@" in parts.netloc:
        raise URLInvalid("Addresses with a user name or password in them are not accepted.")
    if not parts.hostname:
        raise URLInvalid("That address has no host name.")
    if port == 0:
        raise URLInvalid("The host or port in that address is not valid.")
    host = _ascii_host(parts.hostname)
    port = port or DEFAULT_PORTS[scheme]
    host_header = f"[{host}]" if ":" in host else host
    if port != DEFAULT_PORTS[scheme]:
        host_header += f":{port}"
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Percent-encode what may not appear on the request line (spaces, non-ASCII), as browsers do.
    request_target = re.sub(r"[^\x21-\x7e]", lambda m: _percent_encode(m.group()), request_target)
    clean_url = urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
    return _Target(clean_url, scheme, host, port, host_header, request_target)


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise URLInvalid("The host name in that address is not valid.") from None


def _percent_encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address; IPv4 embedded in IPv6 is judged as IPv4."""
    if address.version == 6:
        if address.ipv4_mapped:
            return is_public_address(address.ipv4_mapped)
        embedded = address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None and not is_public_address(embedded):
            return False
        if any(address in net for net in _NOT_PUBLIC_V6):
            return False
    elif any(address in net for net in _NOT_PUBLIC_V4):
        return False
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, from one DNS lookup (IPv4-mapped IPv6 given as IPv4)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise URLUnreachable(f"The host name {host} could not be found.") from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(sockaddr[0])
            address = getattr(address, "ipv4_mapped", None) or address
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        raise URLUnreachable(f"The host name {host} could not be found.")
    return addresses


def _checked_addresses(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    """Resolve `host` once; refuse it when any of its addresses is not public (unless allowed)."""
    addresses = _resolve(host, port)
    if not allow_private and not all(is_public_address(address) for address in addresses):
        raise URLForbidden()
    return addresses


def _ssl_context() -> ssl.SSLContext:
    """The TLS settings for https downloads: the system's trusted CAs, host names checked."""
    return ssl.create_default_context()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to one checked address that is cut off at an absolute deadline.

    Socket timeouts bound each read; the watchdog bounds them all together, so a server that sends
    its headers one byte at a time cannot hold a download open past the deadline.
    """

    def __init__(self, address: IPAddress, port: int, deadline: float):
        super().__init__(str(address), port, timeout=_remaining(deadline))
        self.deadline = deadline
        # http.client hands the socket over to the response (and forgets it) on "Connection: close".
        self.live_socket: socket.socket | None = None
        self._watchdog = threading.Timer(self.timeout, self._cut_off)
        self._watchdog.daemon = True

    def connect(self):
        self._watchdog.start()
        super().connect()
        self.live_socket = self.sock

    def refresh_timeout(self):
        """Let the next socket operation wait no longer than what is left of the deadline."""
        self.live_socket.settimeout(_remaining(self.deadline))

    def close(self):
        self._watchdog.cancel()
        super().close()

    def _cut_off(self):
        sock = self.live_socket
        if sock is not None:
            try:  # the plain socket's shutdown: it wakes a blocked read, TLS or not, from this thread
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """HTTPS to one checked address, with the certificate checked against the URL's host name."""

    def __init__(self, address: IPAddress, port: int, deadline: float, server_hostname: str):
        super().__init__(address, port, deadline)
        self.server_hostname = server_hostname

    def connect(self):
        super().connect()
        self.sock = self.live_socket = _ssl_context().wrap_socket(
            self.sock, server_hostname=self.server_hostname, do_handshake_on_connect=False
        )
        self.sock.do_handshake()  # after live_socket is set, so the watchdog can cut a slow handshake


def _request(target: _Target, deadline: float, allow_private: bool):
    """Send the GET for one hop to a checked address; return the open connection and its response."""
    addresses = _before_deadline(deadline, _checked_addresses, target.host, target.port, allow_private)
    conn = _connect(target, addresses, deadline)
    try:
        with _network_errors(deadline):
            conn.refresh_timeout()
            conn.request("GET", target.request_target, headers=_headers(target))
            return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def _before_deadline(deadline: float, work, *args):
    """work(*args), given up on (as too slow) if it has not finished by the deadline.

    For the DNS lookup, which no socket timeout reaches: a name server that never answers would
    otherwise hold the download (and the request's thread) for as long as the resolver keeps trying.
    An abandoned lookup finishes on its own daemon thread and its answer is dropped.
    """
    outcome: list = []

    def run():
        try:
            outcome.append((True, work(*args)))
        except BaseException as error:  # handed to the waiting thread, which raises it
            outcome.append((False, error))

    worker = threading.Thread(target=run, name="shoebox-fetch-lookup", daemon=True)
    worker.start()
    worker.join(_remaining(deadline))
    if not outcome:
        raise _too_slow()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def _connect(target: _Target, addresses: list[IPAddress], deadline: float) -> _PinnedHTTPConnection:
    """Connect to the first of the checked addresses that answers."""
    for index, address in enumerate(addresses):
        if target.scheme == "https":
            conn = _PinnedHTTPSConnection(address, target.port, deadline, server_hostname=target.host)
        else:
            conn = _PinnedHTTPConnection(address, target.port, deadline)
        try:
            with _network_errors(deadline):
                conn.connect()
            return conn
        except URLUnreachable:
            conn.close()
            if index == len(addresses) - 1:
                raise
    raise AssertionError("unreachable: _resolve never returns an empty list")


def _headers(target: _Target) -> dict[str, str]:
    from webapp import __version__  # here, not at import time: the package imports its modules

    return {
        "Host": target.host_header,
        "User-Agent": f"Shoebox/{__version__}",
        "Accept": ACCEPT,
        "Accept-Encoding": "identity",  # sizes are counted on what arrives; nothing to inflate
        "Connection": "close",
    }


def _redirect_location(response: http.client.HTTPResponse) -> str | None:
    """The Location of a redirect, or None for a final answer."""
    location = response.getheader("Location")
    if response.status in REDIRECT_STATUSES and location:
        return location.strip()
    return None


def _save(conn, response, target: _Target, dest_dir: Path, max_bytes: int, deadline: float) -> Fetched:
    """Stream a final response's body into a new file in `dest_dir`."""
    if not 200 <= response.status < 300:
        raise URLStatus(response.status)
    if response.length is not None and response.length > max_bytes:
        raise URLTooLarge(max_bytes)
    path, size = _stream_to_file(conn, response, dest_dir, max_bytes, deadline)
    content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    return Fetched(
        path=path,
        size=size,
        content_type=content_type or "application/octet-stream",
        final_url=target.url,
        filename=_filename(response.getheader("Content-Disposition"), target.url),
    )


def _stream_to_file(conn, response, dest_dir: Path, max_bytes: int, deadline: float) -> tuple[Path, int]:
    """Copy the body in chunks, stopping at `max_bytes`; the file is removed if anything fails."""
    fd, name = tempfile.mkstemp(prefix="fetch-", dir=dest_dir)
    path, size = Path(name), 0
    try:
        with os.fdopen(fd, "wb") as file:
            while chunk := _read_chunk(conn, response, deadline):
                size += len(chunk)
                if size > max_bytes:
                    raise URLTooLarge(max_bytes)
                file.write(chunk)
        if response.length:  # Content-Length promised more than arrived
            raise URLUnreachable("The server closed the connection before the whole file arrived.")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


def _read_chunk(conn: _PinnedHTTPConnection, response: http.client.HTTPResponse, deadline: float) -> bytes:
    """Up to one chunk of body, returned as soon as any arrives; b"" at the end."""
    with _network_errors(deadline):
        conn.refresh_timeout()
        chunk = response.read1(CHUNK_BYTES)  # read1, not read: read(n) would wait for all n bytes
    if not chunk and time.monotonic() >= deadline:  # the watchdog's cut-off looks like an end
        raise _too_slow()
    return chunk


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _too_slow()
    return left


def _too_slow() -> URLUnreachable:
    return URLUnreachable("The server took too long to send the file.")


@contextmanager
def _network_errors(deadline: float):
    """Turn socket, TLS and HTTP protocol failures into URLUnreachable."""
    try:
        yield
    except ssl.SSLCertVerificationError:
        raise URLUnreachable("The server's certificate is not valid for that address.") from None
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
            raise _too_slow() from None
        raise URLUnreachable() from None


_DISPOSITION_PARAM = re.compile(r""";\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)""")


def _filename(disposition: str | None, url: str) -> str:
    """The file's name: Content-Disposition (filename* first), else the URL's last segment, else "download"."""
    params = {}
    for key, value in _DISPOSITION_PARAM.findall(disposition or ""):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(key.lower(), value)
    candidates = [
        _decode_ext_value(params.get("filename*", "")),
        _latin1_as_utf8(params.get("filename", "")),
        unquote(urlsplit(url).path.rsplit("/", 1)[-1], errors="replace"),
    ]
    for candidate in candidates:
        if name := _clean_filename(candidate):
            return name
    return "download"


def _decode_ext_value(value: str) -> str:
    """RFC 8187 `charset'language'percent-encoded`, or "" when it is not that."""
    charset, _, rest = value.partition("'")
    _language, _, encoded = rest.partition("'")
    if charset.lower() not in ("utf-8", "iso-8859-1") or not encoded:
        return ""
    try:
        return unquote(encoded, encoding=charset, errors="strict")
    except UnicodeDecodeError:
        return ""


def _latin1_as_utf8(value: str) -> str:
    # http.client reads header bytes as Latin-1; many servers send a bare UTF-8 filename anyway.
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _clean_filename(name: str) -> str:
    """A bare file name: no folders, no control characters, at most 255 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    return "" if name in ("", ".", "..") else name[:255]
