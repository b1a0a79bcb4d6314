"""Server-side SVG charts for the console (no script runs on its pages)."""
from __future__ import annotations

from markupsafe import Markup, escape


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def bar_chart(items: list[tuple[str, int]], *, width: int = 640, bar: int = 18, label_width: int = 160) -> Markup:
    """Horizontal bars of byte counts, one a label; an empty chart says so."""
    if not items:
        return Markup('<p class="muted">Nothing stored yet.</p>')
    largest = max(value for _, value in items) or 1
    room = width - label_width - 90
    height = len(items) * (bar + 6) + 6
    parts = [(f'<svg class="chart" role="img" aria-label="storage chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">')]
    for i, (label, value) in enumerate(items):
        y = 6 + i * (bar + 6)
        length = max(1, round(room * value / largest))
        parts.append(f'<text x="{label_width - 8}" y="{y + bar - 5}" text-anchor="end" font-size="12">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{length}" height="{bar}" fill="#0969da"/>')
        parts.append(f'<text x="{label_width + length + 6}" y="{y + bar - 5}" font-size="12">'
                     f'{escape(human_bytes(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
