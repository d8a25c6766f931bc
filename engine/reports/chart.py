"""A report's chart as a standalone SVG document (bar, line or pie), no dependencies.

Data come from the result as shown: categories along ``x`` (the first dimension
by default); series are the pivot columns of a pivoted report, the values of the
``series`` dimension, or else the measures listed in ``y``.
"""

from __future__ import annotations

import html
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ordo.dsl.base import label_text
from ordo.dsl.report import ChartDef

from ..errors import UsageError
from .format import display

if TYPE_CHECKING:
    from .run import ReportResult

W, H = 800, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 80
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as XML entities: ``html.escape`` without quotes (what xml.sax.saxutils.escape does,
    without importing urllib and http.client with it into every process that opens an app)."""
    return html.escape(text, quote=False)


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    return float(v) if isinstance(v, (int, float, Decimal)) else None


def chart_data(result: ReportResult, chart: ChartDef) -> tuple[list[str], list[tuple[str, list[float | None]]]]:
    """(category labels, [(series label, values per category)])."""
    dims = [c for c in result.columns if c.role == "dimension"]
    if not dims:
        raise UsageError(f"report {result.report}: a chart needs a dimension")
    x = next((c for c in dims if c.name == chart.x), dims[0])
    ys = chart.measures or [next(c.measure for c in result.columns if c.role == "measure")]
    cats: list[str] = []
    for r in result.rows:
        label = display(x, r.get(x.name), lang=result.lang)
        if label not in cats:
            cats.append(label)
    index = {c: i for i, c in enumerate(cats)}
    series: dict[str, list[float | None]] = {}

    def put(name: str, cat: str, value: Any) -> None:
        series.setdefault(name, [None] * len(cats))[index[cat]] = _num(value)

    if result.pivot is not None:
        cells = [c for c in result.columns if c.measure in ys and c.role == "measure" and not c.total]
        for r in result.rows:
            for c in cells:
                put(c.label, display(x, r.get(x.name), lang=result.lang), r.get(c.name))
    elif chart.series:
        s = result.column(chart.series)
        y = result.column(ys[0])
        for r in result.rows:
            put(display(s, r.get(s.name), lang=result.lang), display(x, r.get(x.name), lang=result.lang),
                r.get(y.name))
    else:
        for name in ys:
            y = result.column(name)
            for r in result.rows:
                put(y.label, display(x, r.get(x.name), lang=result.lang), r.get(name))
    return cats, list(series.items())


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi == lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    out, v = [], start
    while v <= hi + step * 0.5:
        out.append(round(v, 10))
        v += step
    return out


def _fmt(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _text(x: float, y: float, s: str, anchor: str = "middle", size: int = 11, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {extra}>'
            f"{escape(s)}</text>")


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names[:20]):
        y = TOP + 10 + i * 18
        out.append(f'<rect x="{W - RIGHT + 15}" y="{y - 9}" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(_text(W - RIGHT + 30, y, name[:22], "start"))
    return out


def _axes(cats: list[str], series: list[tuple[str, list[float | None]]], bars: bool) -> tuple[list[str], Any, Any]:
    values = [v for _, vs in series for v in vs if v is not None]
    ticks = _ticks(min([0.0, *values]), max([0.0, *values]))
    lo, hi = ticks[0], ticks[-1]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def ypos(v: float) -> float:
        return TOP + ph - (v - lo) / (hi - lo) * ph

    slot = pw / max(len(cats), 1)

    def xpos(i: int) -> float:
        return LEFT + slot * (i + 0.5) if bars or len(cats) < 2 else LEFT + pw * i / (len(cats) - 1)

    out = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}" stroke="#333"/>']
    for t in ticks:
        y = ypos(t)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(_text(LEFT - 6, y + 4, _fmt(t), "end"))
    out.append(f'<line x1="{LEFT}" y1="{ypos(0):.1f}" x2="{LEFT + pw}" y2="{ypos(0):.1f}" stroke="#333"/>')
    every = max(1, math.ceil(len(cats) / 30))
    for i, c in enumerate(cats):
        if i % every == 0:
            x, y = xpos(i), TOP + ph + 14
            out.append(_text(x, y, c[:16], "end", 10, f'transform="rotate(-35 {x:.1f} {y:.1f})"'))
    return out, xpos, ypos


def render_svg(result: ReportResult) -> str:
    chart = result.chart or ChartDef(type="bar")
    cats, series = chart_data(result, chart)
    title = label_text(chart.title, result.lang, fallback=result.label)
    body: list[str] = [_text(W / 2, 22, title, size=15, extra='font-weight="bold"')]
    if not cats:
        body.append(_text(W / 2, H / 2, "No data"))
    elif chart.type == "pie":
        body += _pie(cats, series[0][1] if series else [])
    else:
        axes, xpos, ypos = _axes(cats, series, chart.type == "bar")
        body += axes
        body += (_bars if chart.type == "bar" else _lines)(cats, series, xpos, ypos)
        body += _legend([name for name, _ in series])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            f'font-family="sans-serif"><rect width="{W}" height="{H}" fill="white"/>'
            + "".join(body) + "</svg>\n")


def _bars(cats: list[str], series: list, xpos: Any, ypos: Any) -> list[str]:
    out = []
    slot = (W - LEFT - RIGHT) / len(cats)
    width = slot * 0.8 / max(len(series), 1)
    for s, (name, values) in enumerate(series):
        for i, v in enumerate(values):
            if v is None:
                continue
            x = xpos(i) - slot * 0.4 + s * width
            y0, y1 = ypos(0), ypos(v)
            out.append(f'<rect x="{x:.1f}" y="{min(y0, y1):.1f}" width="{max(width - 1, 1):.1f}" '
                       f'height="{abs(y1 - y0):.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                       f"<title>{escape(cats[i])} {escape(name)}: {v:g}</title></rect>")
    return out


def _lines(cats: list[str], series: list, xpos: Any, ypos: Any) -> list[str]:
    out = []
    for s, (name, values) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        points = [(xpos(i), ypos(v), v, i) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, v, i in points:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                       f"<title>{escape(cats[i])} {escape(name)}: {v:g}</title></circle>")
    return out


def _pie(cats: list[str], values: list[float | None]) -> list[str]:
    parts = [(c, v) for c, v in zip(cats, values, strict=False) if v is not None and v > 0]
    total = sum(v for _, v in parts)
    if not total:
        return [_text(W / 2, H / 2, "No data")]
    cx, cy, r = LEFT + (W - LEFT - RIGHT) / 2, TOP + (H - TOP - BOTTOM / 2) / 2, min(W, H) / 2 - 60
    out, angle = [], -math.pi / 2
    for i, (c, v) in enumerate(parts):
        sweep = 2 * math.pi * v / total
        color = PALETTE[i % len(PALETTE)]
        tip = f"<title>{escape(c)}: {v:g} ({100 * v / total:.1f}%)</title>"
        if len(parts) == 1:
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{color}">{tip}</circle>')
        else:
            x0, y0 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x1, y1 = cx + r * math.cos(angle + sweep), cy + r * math.sin(angle + sweep)
            large = 1 if sweep > math.pi else 0
            out.append(f'<path d="M{cx:.1f},{cy:.1f} L{x0:.1f},{y0:.1f} A{r:.1f},{r:.1f} 0 {large} 1 '
                       f'{x1:.1f},{y1:.1f} Z" fill="{color}" stroke="white">{tip}</path>')
        angle += sweep
    return out + _legend([c for c, _ in parts])
