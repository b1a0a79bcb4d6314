"""The downloads chart of a package page, drawn on the server as SVG (templates web/partials/chart.html):
one bar per day, readable without any script."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WIDTH = 540
HEIGHT = 90
BAR_GAP = 1


@dataclass(frozen=True)
class Bar:
    day: dt.date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    total: int
    peak: int
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def first_day(self) -> dt.date | None:
        return self.bars[0].day if self.bars else None

    @property
    def last_day(self) -> dt.date | None:
        return self.bars[-1].day if self.bars else None


def downloads_chart(by_day: list[tuple[dt.date, int]]) -> Chart:
    """Bars scaled to the busiest day; a day with downloads is at least one pixel high."""
    peak = max((count for _, count in by_day), default=0)
    step = WIDTH / max(1, len(by_day))
    bars = []
    for i, (day, count) in enumerate(by_day):
        height = 0.0 if not peak else max(1.0, round(HEIGHT * count / peak, 1)) if count else 0.0
        bars.append(Bar(day=day, count=count, x=round(i * step, 2), y=round(HEIGHT - height, 1),
                        width=round(max(1.0, step - BAR_GAP), 2), height=height))
    return Chart(bars=bars, total=sum(count for _, count in by_day), peak=peak)
