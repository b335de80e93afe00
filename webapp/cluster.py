"""Messages between instances: when one instance changes something that every instance keeps in memory,
every instance forgets it before its next request.

`announce(topic, key)` forgets at once in this process and publishes the message on Redis
(`cluster.redis_url`); a thread in every process listens and runs the handlers that domains registered
with `listen(topic, handler)`. A handler takes the key (or None: forget everything under the topic).

Nothing is left to a timer: a memory is only used while it can be told about changes. With no Redis
configured there is one instance (SQLite on one machine) and memories are always usable. With Redis
configured, an instance uses its memories only while it is subscribed and has nothing unread or half
handled on its subscription (a message that reached this machine is applied before any request may
answer from memory again); when the subscription breaks it forgets everything and answers from the
database until it is subscribed again (and forgets once more then, for the messages it missed). So a
change is seen everywhere on the next request, and an instance that cannot hear about changes never
answers from what it remembers.

Checking whether memory is usable touches no network, so no request waits on a dead Redis. A request
that changes something while Redis cannot take the announcement waits out FRESH_SECONDS (about a
second) before it answers: by then every instance whose subscription went quiet too has stopped using
its memory. The announcement is kept and published once this instance is subscribed again. What this
cannot cover is a network that cuts off only the announcing instance while the others still hear
Redis: they keep using their memories until its kept announcements arrive.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import threading
import time
from collections import defaultdict
from typing import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)

EXTENSION = "shoebox_cluster"
# What is announced; each domain listens to the topics whose memories it keeps.
PHOTO = "photo"  # key: a photo's id; it was made public or private, changed or deleted
ACCOUNT = "account"  # key: an account's id; it was blocked, unblocked, deleted or moved to another plan
PLANS = "plans"  # key None: a plan's limits changed
SETTINGS = "settings"  # key None: Admin → Settings changed (the hotlink list, the public address)

RETRY_SECONDS = 1.0
# How long a publish or a reconnect may take before Redis counts as down.
SOCKET_SECONDS = 0.5
# The listener pings this often; a subscription that heard nothing for FRESH_SECONDS is dead, and memory is
# not used from that moment on, even before the listener gives the connection up (a Redis that hangs, or is
# cut off by the network, closes no socket).
PING_SECONDS = 0.5
FRESH_SECONDS = PING_SECONDS * 2.5
# How long a request waits for the listener to apply a message that has just arrived (or a ping's answer)
# before it answers from the database instead.
CATCH_UP_SECONDS = 0.05
# Announcements kept while not subscribed; past this many, each topic's are replaced by one "forget all".
MOST_PENDING = 1000
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
        self._socket = None  # the subscription's socket, polled by requests for unread messages
        self._applying = False  # the listener has read messages it has not finished applying
        self._heard_at = 0.0  # when the subscription last brought anything (a message or a ping's answer)
        self._caught_up = threading.Condition()
        self._batches = 0  # how many times the listener has finished applying what it read
        self._pending: list[tuple[str, str | None]] = []
        self._pending_lock = threading.Lock()
        self.last_error = ""

    # --- what domains call -----------------------------------------------------------------------------

    def listen(self, topic: str, handler: Callable[[str | None], None]) -> None:
        if handler not in self.handlers[topic]:
            self.handlers[topic].append(handler)

    def announce(self, topic: str, key: str | None = None) -> None:
        """Forget `key` under `topic` here, now, and tell every other instance to.

        When Redis cannot take the message, this returns only once FRESH_SECONDS have passed: by then every
        instance whose subscription went quiet with it has stopped answering from memory, so nothing
        anyone asks after the change is answered from before it.
        """
        started = time.monotonic()
        key = None if key is None else str(key)
        self._apply(topic, key)
        if not self.redis_url:
            return
        if self._thread is not None and not self._subscribed.is_set():
            self._keep(topic, key)  # Redis is down (or not reached yet): published once it is back
            self._outlast_silence(started)
            return
        try:
            self._publish(topic, key)
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("Could not tell the other instances to forget %s %s: %s", topic, key or "(all)", error)
            if self._thread is not None:
                self._keep(topic, key)
            self._outlast_silence(started)

    @staticmethod
    def _outlast_silence(started: float) -> None:
        """Wait until any subscription that has heard nothing since `started` counts as dead everywhere."""
        time.sleep(max(0.0, started + FRESH_SECONDS + CATCH_UP_SECONDS - time.monotonic()))

    @property
    def memory_usable(self) -> bool:
        """Whether what this instance remembers may be used: always with one instance, else while subscribed
        with every message that reached this process applied."""
        if not self.redis_url:
            return True
        batches = self._batches
        if self._subscribed.is_set() and (self._applying or self._unread()):
            with self._caught_up:  # most often a message applied within the millisecond
                self._caught_up.wait_for(lambda: self._batches != batches, CATCH_UP_SECONDS)
        return self._subscribed.is_set() and not self._applying and not self._unread() \
            and time.monotonic() - self._heard_at <= FRESH_SECONDS

    def status(self) -> dict:
        """For /health/ready: "single" (no Redis), "ok" (subscribed) or "unreachable"."""
        if not self.redis_url:
            return {"status": "single", "ok": True}
        if self._subscribed.is_set():
            return {"status": "ok", "ok": True}
        detail = "stopped" if self._stopping.is_set() else self.last_error or "not subscribed yet"
        return {"status": "unreachable", "ok": True, "detail": detail}

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

    def _publish(self, topic: str, key: str | None) -> None:
        message = json.dumps({"topic": topic, "key": key, "from": self.sender})
        client = self._publisher()
        client.publish(self.channel, message)
        # Redis answers a PUBLISH before it has written the message to every subscriber (the writes follow in
        # the same turn of its loop, and it may be paused between them). A second command is read only in a
        # later turn, so its answer means the message sits in every subscriber's socket: an instance asked
        # after this returns finds it unread there (memory_usable) and applies it before answering.
        client.ping()

    def _keep(self, topic: str, key: str | None) -> None:
        with self._pending_lock:
            self._pending.append((topic, key))
            if len(self._pending) > MOST_PENDING:
                self._pending = [(topic, None) for topic in dict.fromkeys(topic for topic, _key in self._pending)]

    def _send_kept(self) -> None:
        """Publish what was announced while not subscribed (from the listening thread, once subscribed)."""
        with self._pending_lock:
            kept, self._pending = self._pending, []
        for number, (topic, key) in enumerate(kept):
            try:
                self._publish(topic, key)
            except Exception:
                with self._pending_lock:
                    self._pending[:0] = kept[number:]
                raise

    def _unread(self) -> bool:
        """Whether the subscription's socket holds a message not read yet (a poll, no network)."""
        sock = self._socket
        if sock is None:
            return True
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):  # closed under us: the listener is reconnecting
            return True

    def _listen(self) -> None:
        import redis

        while not self._stopping.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=SOCKET_SECONDS,
                                              socket_timeout=SOCKET_SECONDS)
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(self.channel)
                self._socket = pubsub.connection._sock  # redis-py keeps it private; polled read-only
                self._hear(pubsub)
            except Exception as error:
                if self._subscribed.is_set() or not self.last_error:
                    log.warning("Lost the channel to the other instances (%s); answering from the database "
                                "until it is back.", error)
                self.last_error = f"{type(error).__name__}: {error}"
            finally:
                was_subscribed = self._subscribed.is_set()
                self._subscribed.clear()
                self._socket, self._applying = None, False
                if was_subscribed:
                    self._forget_everything()
                self._caught_up_now()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        log.debug("Closing the subscription failed.", exc_info=True)
            self._stopping.wait(RETRY_SECONDS)

    def _hear(self, pubsub) -> None:
        """Apply messages as they come, pinging to notice a Redis that went away without closing the socket."""
        connection = pubsub.connection
        heard = pinged = time.monotonic()
        while not self._stopping.is_set():
            if time.monotonic() - heard > FRESH_SECONDS:
                raise ConnectionError(f"Redis did not answer for {FRESH_SECONDS:.2f} s")
            if time.monotonic() - pinged >= PING_SECONDS:
                pubsub.ping()
                pinged = time.monotonic()
            if not self._wait_readable(PING_SECONDS / 2):
                continue
            # Set before reading: from the moment a message is read until it is applied, memory is not used.
            # On an error it stays set: _listen() stops trusting memory first (messages read but not applied
            # may sit in redis-py's buffer, where no poll of the socket sees them).
            self._applying = True
            while connection.can_read(timeout=0):
                heard = self._heard_at = time.monotonic()
                message = pubsub.get_message(timeout=0)
                if message is not None:
                    self._handle(message)
            self._applying = False
            self._caught_up_now()

    def _caught_up_now(self) -> None:
        with self._caught_up:
            self._batches += 1
            self._caught_up.notify_all()

    def waiting(self) -> int:
        """How many announcements wait for Redis to be reachable again."""
        with self._pending_lock:
            return len(self._pending)

    def _wait_readable(self, seconds: float) -> bool:
        poller = select.poll()
        poller.register(self._socket, select.POLLIN)
        return bool(poller.poll(seconds * 1000))

    def _handle(self, message: dict) -> None:
        if message["type"] == "subscribe":
            self._heard_at = time.monotonic()
            self._forget_everything()  # what was missed while not subscribed
            self._subscribed.set()
            self.last_error = ""
            log.info("Listening for changes made by other instances.")
            self._send_kept()
        elif message["type"] == "message":
            self._receive(message["data"])

    def _receive(self, data) -> None:
        try:  # anyone who reaches Redis may publish: nothing in a message may stop the listener
            message = json.loads(data)
            topic, key = message["topic"], message.get("key")
            if not isinstance(topic, str) or not (key is None or isinstance(key, str)):
                raise TypeError("topic and key must be text")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
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
