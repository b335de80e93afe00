"""What a User-Agent says about a visitor: a link-preview bot or a person, and on which device, browser and OS."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

# Link-preview fetchers of chat apps, social sites and mail gateways: they only GET, and are not people.
PREVIEW_BOTS = ("slackbot", "slack-imgproxy", "discordbot", "telegrambot", "whatsapp", "facebookexternalhit",
                "facebookcatalog", "twitterbot", "linkedinbot", "skypeuripreview", "iframely", "embedly",
                "googlebot", "bingbot", "applebot", "mastodon", "pinterest", "redditbot", "bot/", "bot;",
                "crawler", "spider", "preview", "curl/", "wget/", "python-requests", "go-http-client")
DEVICES = ("desktop", "phone", "tablet", "bot", "other")
PHONE_SYSTEMS = {"iOS", "Android", "Windows Phone", "KaiOS", "BlackBerry OS", "Firefox OS", "HarmonyOS"}
DESKTOP_SYSTEMS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Debian", "Fedora", "Red Hat", "SUSE", "openSUSE",
                   "Arch Linux", "Linux Mint", "Gentoo", "Chrome OS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"}
# Parsing runs the uap-core regexes (about a millisecond); the same few agents come back all day.
CACHED_AGENTS = 4096
LONGEST_AGENT = 512


@dataclass(frozen=True)
class Agent:
    """A User-Agent read: device is one of DEVICES; browser and os are names, "" when unknown."""

    device: str
    browser: str
    os: str


def is_preview_bot(user_agent: str) -> bool:
    """Whether a User-Agent is a known link-preview fetcher or crawler."""
    agent = (user_agent or "").lower()
    return any(marker in agent for marker in PREVIEW_BOTS)


@lru_cache(maxsize=CACHED_AGENTS)  # a function of the string alone: nothing to go stale on any instance
def describe(user_agent: str) -> Agent:
    """The device type, browser and OS of a User-Agent."""
    result = parse(user_agent[:LONGEST_AGENT]).with_defaults()
    browser = _named(result.user_agent.family)
    system = _named(result.os.family)
    return Agent(_device(user_agent, result.device, system), browser[:40], system[:40])


def _named(family: str) -> str:
    return "" if family == "Other" else family


def _device(user_agent: str, device, system: str) -> str:
    agent = user_agent.lower()
    if device.family == "Spider" or is_preview_bot(agent):
        return "bot"
    # Android tablets leave "Mobile" out of their User-Agent; uap-core knows many by model as well.
    if device.family == "iPad" or "tablet" in (device.brand or "").lower() or "tablet" in agent \
            or (system == "Android" and "mobile" not in agent):
        return "tablet"
    if device.family == "iPhone" or system in PHONE_SYSTEMS or "mobile" in agent:
        return "phone"
    if system in DESKTOP_SYSTEMS and device.family in ("Other", "Mac"):
        return "desktop"
    return "other"
