"""Admin → Dashboard: totals, charts and the instance's health."""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from flask import current_app, redirect, request, url_for
from flask_babel import format_number, get_locale
from flask_login import current_user

from ..analytics import chart
from ..auth import permissions
from ..errors import NotFound
from ..i18n import human_size
from ..web import render
from . import bp, dashboard as figures, sections_for


@bp.get("/")
def dashboard():
    """The dashboard for those who may see it; anyone else in the panel goes to their first page.

    ?days=7|30|90 picks the charts' period; the period links ask htmx for the charts alone.
    """
    if not permissions.has(current_user, "view_stats"):
        pages = sections_for(current_user)
        if not pages:  # their permission's page is not served (yet): nothing here for them
            raise NotFound()
        return redirect(pages[0][2], 303)
    found = figures.dashboard(current_app, request.args.get("days", type=int) or figures.DEFAULT_DAYS)
    charts = {name: chart.bars([(p.day, p.value) for p in series.points]) for name, series in found.series.items()}
    return render("admin/dashboard.html", fragment="admin/_dashboard_charts.html", dash=found, charts=charts,
                  periods=figures.PERIODS, short_day=_short_day, day_labels=_day_labels(found),
                  day_figures=_day_figures(found), person_url=_person_url())


def _day_labels(found: figures.Dashboard) -> dict[date, str]:
    """Each day of the period as the charts label it ("Dec 2"), formatted once rather than once per chart."""
    locale = get_locale() or "en"
    return {p.day: format_skeleton("MMMd", p.day, locale=locale) for p in found.series["signups"].points}


def _day_figures(found: figures.Dashboard) -> dict[str, list[str]]:
    """Each chart's daily figures as its columns' tooltips say them: sizes for storage, counts for the others.

    Below 1,000 a count needs no grouping separator in any language offered, so only larger ones go through
    Babel: the page has 540 of them at 90 days, and formatting each took a fifth of the page's time.
    """
    return {name: [human_size(p.value) if name == "storage_added" else
                   str(p.value) if p.value < 1000 else format_number(p.value) for p in series.points]
            for name, series in found.series.items()}


def _person_url():
    """person_url(user_id): their page in Admin → People, or None for those who may not open it."""
    if "admin.users_detail" in current_app.view_functions and permissions.has(current_user, "manage_users"):
        return lambda user_id: url_for("admin.users_detail", user_id=user_id)
    return lambda user_id: None


def _short_day(day: date) -> str:
    """A day as "Dec 2" in the reader's language."""
    return format_skeleton("MMMd", day, locale=get_locale() or "en")
