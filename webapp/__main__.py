"""`python -m webapp serve`: apply migrations, then serve with waitress. Used by scripts/run and Docker."""

from __future__ import annotations

import argparse
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp", description="Run Shoebox.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve HTTP")
    serve.add_argument("--host", help="address to listen on (default: server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    commands.add_parser("check-config", help="load and validate the configuration, then exit")
    args = parser.parse_args(argv)

    from . import create_app, logs
    from .config import ConfigError, load_settings

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
    return _serve(app, args.host or settings["server"]["host"], args.port or settings["server"]["port"])


def _serve(app, host: str, port: int) -> int:
    from waitress import serve

    server = app.config["SHOEBOX"]["server"]
    shown = "localhost" if host in {"0.0.0.0", "::"} else host
    print(f"Shoebox is running at http://{shown}:{port}/  (public address: {server['base_url']})", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    # Ctrl-C and `docker stop` (SIGTERM) both stop cleanly, even when started from a
    # shell that left SIGINT ignored for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve(app, host=host, port=port, threads=server["threads"], ident="Shoebox",
              max_request_body_size=server["max_request_bytes"], clear_untrusted_proxy_headers=True)
    except KeyboardInterrupt:
        pass
    scheduler = app.extensions.get("shoebox_scheduler")
    if scheduler is not None:
        scheduler.shutdown()
    print("Shoebox stopped.", flush=True)
    return 0


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
