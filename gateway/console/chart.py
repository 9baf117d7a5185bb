"""SCIM requests and errors per minute, drawn on the server as an inline SVG bar chart.

No JavaScript and no image requests: the page carries the SVG itself. Minutes missing
from the series count as zero. Requests are blue bars, errors red bars drawn over them
(an error is also a request); the y axis is rounded up to 1, 2 or 5 times a power of ten.
Each series is one ``<path>`` whatever the number of minutes, so the markup stays small.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Iterable

from markupsafe import Markup

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 24, 20, 40
MIN_BAR = 2.0  # a busy minute stays visible even when 1440 minutes share the width


@dataclass(frozen=True)
class Totals:
    """What the chart shows, in numbers (printed next to it for people and tests)."""

    requests: int
    errors: int
    peak: int
    start: dt.datetime
    end: dt.datetime


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(second=0, microsecond=0)


def fill(series: Iterable[tuple[dt.datetime, int, int]], now: dt.datetime, minutes: int = 1440
         ) -> tuple[dt.datetime, list[int], list[int]]:
    """``(first minute, requests per minute, errors per minute)`` over the ``minutes``
    ending with ``now``'s minute; gaps are zero, points outside the window are ignored."""
    end = _naive_utc(now)
    start = end - dt.timedelta(minutes=minutes - 1)
    requests, errors = [0] * minutes, [0] * minutes
    for minute, count, failed in series:
        index = int((_naive_utc(minute) - start).total_seconds() // 60)
        if 0 <= index < minutes:
            requests[index] += int(count or 0)
            errors[index] += int(failed or 0)
    return start, requests, errors


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value`` (1 for 0)."""
    if value <= 1:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover


def _bars(values: list[int], scale: float, bar: float, baseline: float) -> str:
    parts = []
    width = max(bar * 0.8, MIN_BAR) if bar > MIN_BAR * 1.5 else max(bar, MIN_BAR)
    right = LEFT + len(values) * bar
    for index, value in enumerate(values):
        if value > 0:
            height = max(value * scale, 1.0)
            x = min(LEFT + index * bar, right - width)
            parts.append(f"M{x:.2f} {baseline:.2f}v-{height:.2f}h{width:.2f}v{height:.2f}z")
    return "".join(parts)


def _tick_minutes(minutes: int) -> int:
    """Minutes between two x-axis labels: about eight labels per chart."""
    for step in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720):
        if minutes / step <= 8:
            return step
    return 1440


def _window(minutes: int) -> str:
    if minutes % 60 == 0 and minutes >= 120:
        return f"last {minutes // 60} hours"
    return "last hour" if minutes == 60 else f"last {minutes} minutes"


def render(series: Iterable[tuple[dt.datetime, int, int]], now: dt.datetime, minutes: int = 1440,
           ident: str = "chart") -> tuple[Markup, Totals]:
    """The chart as SVG markup to place in a page, and its totals.

    :param ident: prefix of the ids of the SVG's title and description (unique per page).
    """
    start, requests, errors = fill(series, now, minutes)
    peak = max(requests + errors + [0])
    top = nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    bar = plot_w / minutes
    scale = plot_h / top
    end = start + dt.timedelta(minutes=minutes - 1)
    totals = Totals(requests=sum(requests), errors=sum(errors), peak=peak, start=start, end=end)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{ident}-title">SCIM requests and errors per minute, {_window(minutes)} (UTC)</title>',
        f'<desc id="{ident}-desc">{totals.requests} requests and {totals.errors} errors between '
        f'{start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC; at most {peak} in one minute.</desc>',
        f'<rect class="chart-plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fbfcfe"/>',
    ]
    # y axis: 0, half, top, with grid lines
    for value in sorted({0, top // 2 if top >= 2 else 0, top}):
        y = baseline - value * scale
        out.append(f'<line class="chart-grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.2f}" y2="{y:.2f}" '
                   f'stroke="#d5dbe3" stroke-width="1"/>')
        out.append(f'<text class="chart-label" x="{LEFT - 6}" y="{y + 4:.2f}" text-anchor="end" '
                   f'font-size="12" fill="#3b4654">{value}</text>')
    # x axis: a labelled tick at round times (every 3 hours over a day, 10 minutes over an hour)
    step = _tick_minutes(minutes)
    for index in range(minutes):
        tick = start + dt.timedelta(minutes=index)
        if (tick.hour * 60 + tick.minute) % step == 0:
            x = LEFT + index * bar + bar / 2
            out.append(f'<line class="chart-tick" x1="{x:.2f}" x2="{x:.2f}" y1="{baseline}" y2="{baseline + 5}" '
                       f'stroke="#3b4654" stroke-width="1"/>')
            out.append(f'<text class="chart-label" x="{x:.2f}" y="{baseline + 18}" text-anchor="middle" '
                       f'font-size="12" fill="#3b4654">{tick:%H:%M}</text>')
    out.append(f'<line class="chart-axis" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{baseline}" y2="{baseline}" '
               f'stroke="#3b4654" stroke-width="1"/>')
    out.append(f'<line class="chart-axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{baseline}" '
               f'stroke="#3b4654" stroke-width="1"/>')
    out.append(f'<text class="chart-label" x="{LEFT + plot_w}" y="{HEIGHT - 4}" text-anchor="end" '
               f'font-size="12" fill="#3b4654">time (UTC)</text>')
    out.append(f'<text class="chart-label" x="{LEFT + 4}" y="{TOP - 3}" font-size="12" fill="#3b4654">'
               f'per minute</text>')
    requests_path = _bars(requests, scale, bar, baseline)
    errors_path = _bars(errors, scale, bar, baseline)
    if requests_path:
        out.append(f'<path class="chart-requests" fill="#2f6fb3" d="{requests_path}"><title>requests</title></path>')
    if errors_path:
        out.append(f'<path class="chart-errors" fill="#c62828" d="{errors_path}"><title>errors</title></path>')
    out.append("</svg>")
    return Markup("".join(out)), totals

