"""Charts as server-side SVG: no script, no inline style (the CSP allows neither), every label escaped."""
from __future__ import annotations

from flask_babel import gettext as _
from markupsafe import Markup, escape

from dms.reports.stats import MonthlyChart

PALETTE = ("#1d4f91", "#2e8b57", "#d68910", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#2c3e50")
LEGEND_CHARS = 36
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return step * factor
    return step * 10


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def bar_chart(title: str, items: list[tuple[str, int]], width: int = 520) -> Markup:
    """Horizontal bars, one per (label, value)."""
    row, label_w, top = 26, 170, 8
    height = top * 2 + row * max(1, len(items))
    top_value = max((v for _, v in items), default=0) or 1
    bar_w = width - label_w - 60
    body = []
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = max(1, round(bar_w * value / top_value)) if value else 0
        body.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" font-size="13" {FONT} '
                    f'fill="#1f2328">{escape(label)}</text>'
                    f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{row - 8}" fill="{PALETTE[0]}" rx="2">'
                    f'<title>{escape(label)}: {value}</title></rect>'
                    f'<text x="{label_w + w + 6}" y="{y + 17}" font-size="13" {FONT} fill="#1f2328">{value}</text>')
    if not items:
        nothing = escape(_("Нет данных"))
        body.append(f'<text x="{width // 2}" y="{top + 17}" text-anchor="middle" font-size="13" {FONT} '
                    f'fill="#5b6470">{nothing}</text>')
    return _svg(width, height, title, body)


def monthly_chart(title: str, chart: MonthlyChart, *, stacked: bool, unit: str = "",
                  width: int = 620, height: int = 260) -> Markup:
    """Vertical bars per month: stacked (parts of a whole) or side by side (figures to compare)."""
    left, right, top, bottom, legend_h = 44, 10, 10, 28, 22 * ((len(chart.series) + 1) // 2)
    plot_h = height - top - bottom - legend_h
    plot_w = width - left - right
    n = max(1, len(chart.months))
    slot = plot_w / n
    totals = [sum(s.values[i] for s in chart.series) if stacked else max((s.values[i] for s in chart.series), default=0)
              for i in range(len(chart.months))]
    top_value = _nice_max(max(totals, default=0))
    scale = plot_h / top_value
    body = []
    for k in range(5):
        value = top_value * k / 4
        y = top + plot_h - value * scale
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#d9dde3"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" {FONT} '
                    f'fill="#5b6470">{_number(round(value, 1))}</text>')
    for i, month in enumerate(chart.months):
        x0 = left + i * slot
        body.append(f'<text x="{x0 + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11" '
                    f'{FONT} fill="#5b6470">{escape(month)}</text>')
        base: float = top + plot_h
        bar = slot * 0.7 if stacked else slot * 0.7 / max(1, len(chart.series))
        for j, s in enumerate(chart.series):
            value = s.values[i]
            if not value:
                continue
            h = value * scale
            x = x0 + slot * 0.15 + (0 if stacked else j * bar)
            y = base - h if stacked else top + plot_h - h
            tip = f"{escape(s.name)}, {escape(month)}: {_number(value)}{escape(unit)}"
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[j % len(PALETTE)]}"><title>{tip}</title></rect>')
            if stacked:
                base -= h
    for j, s in enumerate(chart.series):
        x = left + (j % 2) * (plot_w / 2)
        y = height - legend_h + 6 + (j // 2) * 22
        short = s.name if len(s.name) <= LEGEND_CHARS else s.name[:LEGEND_CHARS - 1] + "…"
        body.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="{PALETTE[j % len(PALETTE)]}"/>'
                    f'<text x="{x + 18:.1f}" y="{y + 11}" font-size="12" {FONT} fill="#1f2328">'
                    f'<title>{escape(s.name)}</title>{escape(short)}</text>')
    if chart.empty:
        nothing = escape(_("Нет данных за 12 месяцев"))
        body.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
                    f'font-size="13" {FONT} fill="#5b6470">{nothing}</text>')
    return _svg(width, height, title, body)
