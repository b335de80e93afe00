"""`python -m webapp serve`: apply migrations, then serve with waitress. Used by scripts/run and Docker."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from waitress.channel import HTTPChannel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp", description="Run Shoebox.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve HTTP")
    serve.add_argument("--host", help="address to listen on (default: server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    commands.add_parser("check-config", help="load and validate the configuration, then exit")
    args = parser.parse_args(argv)

    from .allocator import give_memory_back

    give_memory_back()  # before any thread starts: workers, scheduler, waitress
    import sqlalchemy.exc

    from . import create_app, logs
    from .config import ConfigError, load_settings
    from .errors import database_unreachable

    # The flags beat the config, as an environment override would: the default base_url follows the port.
    if getattr(args, "port", None):
        os.environ["SHOEBOX_SERVER__PORT"] = str(args.port)
    if getattr(args, "host", None):
        os.environ["SHOEBOX_SERVER__HOST"] = args.host
    try:
        settings = load_settings()
        logs.configure(settings["logging"]["level"], settings["logging"]["json"])
        if args.command == "check-config":
            print("Configuration is valid.")
            return 0
        app = create_app()
    except ConfigError as error:
        print(f"shoebox: {error}", file=sys.stderr)
        return 2
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as error:
        if not database_unreachable(error):
            raise
        print(f"shoebox: {_database_problem(settings['database']['url'], error)}", file=sys.stderr)
        return 1
    return _serve(app, args.host or settings["server"]["host"], args.port or settings["server"]["port"])


def _database_problem(url: str, error) -> str:
    """One sentence for a database that cannot be reached at start-up: where, and the driver's reason."""
    from sqlalchemy.engine import make_url

    reason = str(error.orig).splitlines()[0].removeprefix("connection failed: ").rstrip(".")
    return f"Cannot connect to the database at {make_url(url).render_as_string(hide_password=True)}: {reason}."


def _serve(app, host: str, port: int) -> int:
    server = app.config["SHOEBOX"]["server"]
    shown = "localhost" if host in {"0.0.0.0", "::"} else host
    waitress = _waitress(app, host, port)
    stopper = GracefulStop(waitress, server["drain_seconds"])
    print(f"Shoebox is running at http://{shown}:{port}/  (public address: {server['base_url']})", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    # Ctrl-C and `docker stop` (SIGTERM) both stop gracefully, even when started from a shell that left
    # SIGINT ignored for background jobs; a second one stops at once.
    signal.signal(signal.SIGINT, stopper.on_signal)
    signal.signal(signal.SIGTERM, stopper.on_signal)
    try:
        stopper.run()
    except KeyboardInterrupt:
        pass
    finally:
        stopper.close()
    from . import jobs

    jobs.shutdown(app)  # frees the scheduler's leader lock and gives back the jobs this process held
    print("Shoebox stopped.", flush=True)
    return 0


class GracefulStop:
    """waitress's event loop, stopped gracefully on the first signal.

    The listening sockets close at once, so new connections are refused (a load balancer tries another
    instance); requests already received or still arriving are finished, for at most drain_seconds;
    connections that sit idle between requests are closed. Then the loop ends.
    """

    IDLE_SECONDS = 1.0  # how long a connection with nothing to do may stay open while draining

    def __init__(self, server, drain_seconds: int):
        from waitress.server import BaseWSGIServer, MultiSocketServer

        self.server = server
        self.map = server.map if isinstance(server, MultiSocketServer) else server._map
        self.listeners = [d for d in self.map.values() if isinstance(d, BaseWSGIServer)]
        self.drain_seconds = drain_seconds
        self.deadline: float | None = None

    def on_signal(self, _signum, _frame) -> None:
        if self.deadline is not None:  # asked twice: stop now
            raise KeyboardInterrupt
        self.deadline = time.monotonic() + self.drain_seconds
        from waitress import wasyncore

        for listener in self.listeners:
            # Take the connections the kernel has completed already, so that none is reset with the socket.
            while listener.socket is not None and len(self.map) < listener.adj.connection_limit:
                try:
                    accepted = listener.socket.accept()
                except OSError:  # nothing more waiting (the socket does not block)
                    break
                listener.set_socket_options(accepted[0])
                listener.channel_class(listener, accepted[0], listener.fix_addr(accepted[1]), listener.adj,
                                       map=self.map)
            wasyncore.dispatcher.close(listener)  # only the socket: the server's trigger still wakes the loop

    def run(self) -> None:
        from waitress import wasyncore

        adj = self.listeners[0].adj
        poll = wasyncore.poll2 if adj.asyncore_use_poll else wasyncore.poll
        while True:
            if self.deadline is not None:
                open_channels = self._close_idle()
                if not open_channels:
                    return
                if time.monotonic() >= self.deadline:
                    print(f"Stopped waiting for {open_channels} unfinished request(s) after "
                          f"{self.drain_seconds} s (server.drain_seconds).", flush=True)
                    return
            poll(0.2 if self.deadline is not None else adj.asyncore_loop_timeout, self.map)

    def close(self) -> None:
        """Stop waitress's threads (a request still running is abandoned) and close every socket."""
        from waitress import wasyncore

        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(self.map)

    def _close_idle(self) -> int:
        """Mark idle connections for closing; returns how many connections are still open."""
        now = time.time()
        channels = [d for d in list(self.map.values()) if isinstance(d, HTTPChannel)]
        for channel in channels:
            idle = not channel.requests and channel.request is None and not channel.total_outbufs_len
            if idle and now - channel.last_activity >= self.IDLE_SECONDS:
                channel.will_close = True
        return len(channels)


def _waitress(app, host: str, port: int):
    """A waitress server for `app` with Shoebox's limits: connections, timeouts, request size."""
    from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

    server = app.config["SHOEBOX"]["server"]
    _allow_open_files(server["connection_limit"] + 100)  # the rest: database, files, the listener
    created = create_server(
        app, host=host, port=port, threads=server["threads"], ident="Shoebox",
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"],  # refused from the headers, before any is read
        # ProxyFix (create_app) reads the forwarded headers when proxies are trusted; waitress must
        # pass them on then, and drop them otherwise.
        clear_untrusted_proxy_headers=not server["trusted_proxies"],
        connection_limit=server["connection_limit"], channel_timeout=server["read_timeout"],
        cleanup_interval=1,  # read_timeout is enforced to the second
        asyncore_use_poll=True)  # select() cannot watch file descriptors past 1023
    # create_server makes one listener per address `host` resolves to; each accepts into our channel.
    dispatchers = created.map if isinstance(created, MultiSocketServer) else created._map
    for listener in [d for d in dispatchers.values() if isinstance(d, BaseWSGIServer)]:
        listener.channel_class = HeaderDeadlineChannel
        listener.header_timeout = server["header_timeout"]
    return created


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit on open files towards `wanted`, as far as the hard limit allows."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


class HeaderDeadlineChannel(HTTPChannel):
    """A waitress channel closed when a request's headers take longer than header_timeout to arrive.

    waitress itself only closes a channel that falls silent (channel_timeout), so a client
    sending a header line every few seconds would hold its connection for ever.
    """

    _timed_request = None  # the request being received, and when its first bytes came
    _timed_since = 0.0

    def received(self, data):
        result = super().received(data)
        if self.request is not self._timed_request:
            self._timed_request, self._timed_since = self.request, time.monotonic()
        return result

    def writable(self):
        # The event loop asks every channel this at least once a second, so it is where an
        # overdue channel marks itself for closing.
        request = self.request
        if request is not None and request is self._timed_request and not request.headers_finished \
                and time.monotonic() - self._timed_since > self.server.header_timeout:
            self.will_close = True
        return super().writable()


if __name__ == "__main__":
    sys.exit(main())
