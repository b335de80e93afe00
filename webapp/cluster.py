"""Messages between instances: when one instance changes something that every instance keeps in memory,
every instance forgets it before its next request.

`announce(topic, key)` forgets at once in this process and publishes the message on Redis
(`cluster.redis_url`); a thread in every process listens and runs the handlers that domains registered
with `listen(topic, handler)`. A handler takes the key (or None: forget everything under the topic).

Nothing is left to a timer: a memory is only used while it can be told about changes. With no Redis
configured there is one instance (SQLite on one machine) and memories are always usable. With Redis
configured, an instance uses its memories only while it is subscribed; when the subscription breaks
it forgets everything and answers from the database until it is subscribed again (and forgets once
more then, for the messages it missed). So a change is seen everywhere on the next request, and an
instance that cannot hear about changes never answers from what it remembers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import defaultdict
from typing import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)

EXTENSION = "shoebox_cluster"
RETRY_SECONDS = 1.0
# How long a publish or a reconnect may take before Redis counts as down.
SOCKET_SECONDS = 2.0
SENDER = f"{socket.gethostname()}:{os.getpid()}:{id(object()):x}"


class Bus:
    """One process's end of the channel: its handlers, its publisher and its listening thread."""

    def __init__(self, redis_url: str, channel: str):
        self.redis_url, self.channel = redis_url, channel
        self.handlers: dict[str, list[Callable[[str | None], None]]] = defaultdict(list)
        self.sender = f"{SENDER}:{id(self):x}"
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = None
        self.last_error = ""

    # --- what domains call -----------------------------------------------------------------------------

    def listen(self, topic: str, handler: Callable[[str | None], None]) -> None:
        if handler not in self.handlers[topic]:
            self.handlers[topic].append(handler)

    def announce(self, topic: str, key: str | None = None) -> None:
        """Forget `key` under `topic` here, now, and tell every other instance to."""
        self._apply(topic, key)
        if not self.redis_url:
            return
        message = json.dumps({"topic": topic, "key": key, "from": self.sender})
        try:
            self._publisher().publish(self.channel, message)
        except Exception as error:  # the listeners' subscriptions break too, so they stop trusting memory
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("Could not tell the other instances to forget %s %s: %s", topic, key or "(all)", error)

    @property
    def memory_usable(self) -> bool:
        """Whether what this instance remembers may be used: always with one instance, else while subscribed."""
        return not self.redis_url or self._subscribed.is_set()

    def status(self) -> dict:
        """For /health/ready: "single" (no Redis), "ok" (subscribed) or "unreachable"."""
        if not self.redis_url:
            return {"status": "single", "ok": True}
        if self._subscribed.is_set():
            return {"status": "ok", "ok": True}
        return {"status": "unreachable", "ok": True, "detail": self.last_error or "not subscribed yet"}

    # --- the listening thread ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self.redis_url or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen, name="shoebox-cluster-bus", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._subscribed.clear()

    def wait_subscribed(self, seconds: float) -> bool:
        return self._subscribed.wait(seconds)

    def _publisher(self):
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.redis_url, socket_timeout=SOCKET_SECONDS,
                                                socket_connect_timeout=SOCKET_SECONDS)
        return self._client

    def _listen(self) -> None:
        import redis

        while not self._stopping.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=SOCKET_SECONDS,
                                              socket_timeout=None, health_check_interval=5)
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(self.channel)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        pubsub.check_health()
                        continue
                    if message["type"] == "subscribe":
                        self._forget_everything()  # what was missed while not subscribed
                        self._subscribed.set()
                        self.last_error = ""
                        log.info("Listening for changes made by other instances.")
                    elif message["type"] == "message":
                        self._receive(message["data"])
            except Exception as error:
                if self._subscribed.is_set() or not self.last_error:
                    log.warning("Lost the channel to the other instances (%s); answering from the database "
                                "until it is back.", error)
                self.last_error = f"{type(error).__name__}: {error}"
            finally:
                was_subscribed = self._subscribed.is_set()
                self._subscribed.clear()
                if was_subscribed:
                    self._forget_everything()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        log.debug("Closing the subscription failed.", exc_info=True)
            self._stopping.wait(RETRY_SECONDS)

    def _receive(self, data) -> None:
        try:
            message = json.loads(data)
            topic, key = message["topic"], message.get("key")
        except (ValueError, KeyError, TypeError):
            log.warning("Ignored a malformed message on %s.", self.channel)
            return
        if message.get("from") != self.sender:  # this process applied its own announcement already
            self._apply(topic, key)

    def _apply(self, topic: str, key: str | None) -> None:
        for handler in list(self.handlers.get(topic, ())):
            try:
                handler(key)
            except Exception:
                log.exception("Forgetting %s %s failed.", topic, key)

    def _forget_everything(self) -> None:
        for topic in list(self.handlers):
            self._apply(topic, None)


def init_app(app: Flask) -> None:
    settings = app.config["SHOEBOX"]
    # One channel per database, so that two Shoebox sites sharing a Redis never hear each other.
    from sqlalchemy.engine import make_url

    database = make_url(settings["database"]["url"]).render_as_string(hide_password=True)
    bus = Bus(settings["cluster"]["redis_url"], f"shoebox:forget:{database}")
    app.extensions[EXTENSION] = bus


def start(app: Flask) -> None:
    """Start listening (serving processes only, as the workers and the scheduler are)."""
    app.extensions[EXTENSION].start()


def stop(app: Flask) -> None:
    bus = app.extensions.get(EXTENSION)
    if bus is not None:
        bus.stop()


def bus_of(app: Flask | None = None) -> Bus:
    return (app or current_app).extensions[EXTENSION]


def listen(app: Flask, topic: str, handler: Callable[[str | None], None]) -> None:
    """Run `handler(key)` whenever any instance announces a change under `topic` (key None: everything)."""
    bus_of(app).listen(topic, handler)


def announce(topic: str, key: str | None = None) -> None:
    """After a commit: every instance (this one at once) forgets what it remembers of `key` under `topic`."""
    bus_of().announce(topic, key)


def memory_usable() -> bool:
    """Whether this instance may answer from what it remembers (see the module's description)."""
    return bus_of().memory_usable
