"""What kinds of job exist (handlers) and which of them the clock starts (schedules).

Each domain registers its handlers and schedules from its init_app(); registering a name again
replaces it. A handler takes a JobContext (see worker.py) and returns a JSON-able result or None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

# Interval schedules count from a fixed moment, so that every instance computes the same slots.
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass
class Handler:
    name: str
    func: Callable
    title: str
    max_attempts: int = 3


@dataclass
class ScheduledJob:
    name: str
    func: Callable[[], None]
    trigger: str
    trigger_args: dict = field(default_factory=dict)

    def build_trigger(self) -> BaseTrigger:
        if self.trigger == "interval":
            return IntervalTrigger(start_date=EPOCH, timezone=timezone.utc, **self.trigger_args)
        return CronTrigger(timezone=timezone.utc, **self.trigger_args)

    def due_slot(self, now: datetime, grace: timedelta) -> datetime | None:
        """The latest time at or before `now` (and within `grace` of it) this schedule fires at."""
        trigger = self.build_trigger()
        fire = trigger.get_next_fire_time(None, now - grace)
        last = None
        while fire is not None and fire <= now:
            last = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
        return last


HANDLERS: dict[str, Handler] = {}
REGISTRY: dict[str, ScheduledJob] = {}  # the scheduled ones
SOURCES: list[Callable[[datetime], int]] = []  # more due work, such as each person's backup schedule


def handler(name: str, *, title: str = "", max_attempts: int = 3):
    """Register `func(context)` as the job called `name`."""
    def decorate(func):
        HANDLERS[name] = Handler(name, func, title or name.replace("_", " ").capitalize(), max_attempts)
        return func
    return decorate


def register(name: str, func: Callable[[], None], trigger: str, *, title: str = "", **trigger_args) -> None:
    """Have the leader queue the job `name` on `trigger` ("interval" or "cron", UTC); a worker runs `func()`."""
    HANDLERS[name] = Handler(name, lambda context: func(), title or name.replace("_", " ").capitalize())
    REGISTRY[name] = ScheduledJob(name, func, trigger, trigger_args)


def scheduled(name: str, trigger: str, **trigger_args):
    """register() as a decorator."""
    def decorate(func):
        register(name, func, trigger, **trigger_args)
        return func
    return decorate


def add_source(source: Callable[[datetime], int]) -> None:
    """`source(now)` queues whatever else is due (with slot keys) on each tick of the leader's clock."""
    if source not in SOURCES:
        SOURCES.append(source)


def title_of(name: str) -> str:
    found = HANDLERS.get(name)
    return str(found.title) if found else name  # str(): a title marked _l(...) speaks the request's language
