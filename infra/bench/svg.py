"""A few plain SVG charts for the benchmark report (no plotting library): grouped bars, lines
(CDFs, time series), horizontal stacked bars. Linear or log10 axes."""

from __future__ import annotations

import math
from html import escape

COLORS = ["#1f6feb", "#2da44e", "#d1242f", "#bf8700", "#8250df", "#57606a"]
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k" if v % 1000 == 0 else f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


class Axis:
    def __init__(self, lo: float, hi: float, log: bool, p0: float, p1: float):
        if log:
            lo = 10 ** math.floor(math.log10(max(lo, 1e-9)))
            hi = 10 ** math.ceil(math.log10(max(hi, lo * 10)))
        else:
            lo = 0 if lo >= 0 else lo
            hi = _nice(hi)
        self.lo, self.hi, self.log, self.p0, self.p1 = lo, hi, log, p0, p1

    def __call__(self, v: float) -> float:
        if self.log:
            v = max(v, self.lo)
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (v - self.lo) / ((self.hi - self.lo) or 1)
        return self.p0 + f * (self.p1 - self.p0)

    def ticks(self) -> list[float]:
        if self.log:
            out, v = [], self.lo
            while v <= self.hi * 1.0001:
                out.append(v)
                v *= 10
            return out
        step = _nice((self.hi - self.lo) / 5)
        n = int((self.hi - self.lo) / step + 1e-9)
        return [self.lo + i * step for i in range(n + 1)]


def _nice(v: float) -> float:
    if v <= 0:
        return 1
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e * 1.0000001:
            return m * e
    return 10 * e


class Chart:
    def __init__(self, title: str, width: int = 720, height: int = 380, left: int = 70, right: int = 20,
                 top: int = 48, bottom: int = 56):
        self.w, self.h = width, height
        self.l, self.r, self.t, self.b = left, right, top, bottom
        self.parts: list[str] = []
        self.title = title
        self.legend: list[tuple[str, str]] = []

    def text(self, x, y, s, size=12, anchor="middle", color="#24292f", weight="normal", rotate=None):
        rot = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                          f'fill="{color}" font-weight="{weight}"{rot}>{escape(str(s))}</text>')

    def axes(self, x: Axis | None, y: Axis | None, xlabel: str, ylabel: str, xticks=None):
        l, r, t, b = self.l, self.w - self.r, self.t, self.h - self.b
        for v in (y.ticks() if y is not None else []):
            py = y(v)
            self.parts.append(f'<line x1="{l}" y1="{py:.1f}" x2="{r}" y2="{py:.1f}" stroke="#d0d7de" stroke-width="1"/>')
            self.text(l - 6, py + 4, _fmt(v), 11, "end", "#57606a")
        if x is not None:
            for v in (xticks or x.ticks()):
                px = x(v)
                self.parts.append(f'<line x1="{px:.1f}" y1="{b}" x2="{px:.1f}" y2="{b + 4}" stroke="#57606a"/>')
                self.text(px, b + 17, _fmt(v), 11, "middle", "#57606a")
        self.parts.append(f'<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#57606a"/>')
        if y is not None:
            self.parts.append(f'<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#57606a"/>')
            self.text(16, (t + b) / 2, ylabel, 12, rotate=-90)
        self.text((l + r) / 2, self.h - 12, xlabel, 12)

    def add_legend(self, name: str, color: str):
        self.legend.append((name, color))

    def svg(self) -> str:
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
               f'viewBox="0 0 {self.w} {self.h}" {FONT}>',
               f'<rect width="{self.w}" height="{self.h}" fill="#ffffff"/>']
        out.append(f'<text x="{self.l}" y="22" font-size="15" font-weight="600" fill="#24292f">{escape(self.title)}</text>')
        x = self.l
        for name, color in self.legend:
            out.append(f'<rect x="{x}" y="31" width="11" height="11" fill="{color}"/>')
            out.append(f'<text x="{x + 15}" y="41" font-size="11.5" fill="#24292f">{escape(name)}</text>')
            x += 22 + 6.8 * len(name)
        out += self.parts
        out.append("</svg>")
        return "\n".join(out) + "\n"


def grouped_bars(title: str, groups: list[str], series: dict[str, list[float]], ylabel: str, xlabel: str,
                 log: bool = False, labels: bool = True, fmt=lambda v: f"{v:,.0f}") -> str:
    c = Chart(title)
    values = [v for vs in series.values() for v in vs if v > 0]
    y = Axis(min(values) if log else 0, max(values) * (1.0 if log else 1.08), log, c.h - c.b, c.t)
    c.axes(None, y, xlabel, ylabel)
    n, k = len(groups), len(series)
    span = (c.w - c.r - c.l) / n
    bw = span * 0.75 / k
    for gi, g in enumerate(groups):
        x0 = c.l + gi * span + span * 0.125
        c.text(c.l + gi * span + span / 2, c.h - c.b + 17, g, 12)
        for si, (name, vs) in enumerate(series.items()):
            v = vs[gi]
            color = COLORS[si % len(COLORS)]
            px, py = x0 + si * bw, y(v) if v > 0 else c.h - c.b
            c.parts.append(f'<rect x="{px:.1f}" y="{py:.1f}" width="{bw - 2:.1f}" height="{c.h - c.b - py:.1f}" fill="{color}"/>')
            if labels:
                c.text(px + (bw - 2) / 2, py - 4, fmt(v), 10, "middle", "#24292f")
    for si, name in enumerate(series):
        c.add_legend(name, COLORS[si % len(COLORS)])
    return c.svg()


def lines(title: str, series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str,
          xlog: bool = False, ylog: bool = False, xlim=None, ylim=None, colors=None, step: bool = False,
          hline: tuple[float, str] | None = None, width: int = 720, height: int = 380) -> str:
    c = Chart(title, width, height)
    xs = [p[0] for pts in series.values() for p in pts]
    ys = [p[1] for pts in series.values() for p in pts]
    x = Axis(*(xlim or (min(xs), max(xs))), xlog, c.l, c.w - c.r)
    y = Axis(*(ylim or (min(ys), max(ys))), ylog, c.h - c.b, c.t)
    c.axes(x, y, xlabel, ylabel)
    if hline is not None:
        py = y(hline[0])
        c.parts.append(f'<line x1="{c.l}" y1="{py:.1f}" x2="{c.w - c.r}" y2="{py:.1f}" stroke="#d1242f" '
                       f'stroke-dasharray="5,4" stroke-width="1.5"/>')
        c.text(c.w - c.r - 4, py - 5, hline[1], 11, "end", "#d1242f")
    for si, (name, pts) in enumerate(series.items()):
        color = (colors or COLORS)[si % len(COLORS)]
        if not pts:
            continue
        d = []
        for i, (px, py) in enumerate(pts):
            X, Y = x(px), y(py)
            if step and i:
                d.append(f"L{X:.1f},{y(pts[i - 1][1]):.1f}")
            d.append(f"{'M' if i == 0 else 'L'}{X:.1f},{Y:.1f}")
        c.parts.append(f'<path d="{" ".join(d)}" fill="none" stroke="{color}" stroke-width="2"/>')
        c.add_legend(name, color)
    return c.svg()


def stacked_hbars(title: str, rows: dict[str, list[float]], parts: list[str], xlabel: str,
                  width: int = 720) -> str:
    h = 110 + 44 * len(rows)
    c = Chart(title, width, h, left=150, bottom=50)
    total = max(sum(v) for v in rows.values())
    x = Axis(0, total * 1.05, False, c.l, c.w - c.r)
    c.axes(x, None, xlabel, "")
    for ri, (name, vals) in enumerate(rows.items()):
        py = c.t + 14 + ri * 44
        c.text(c.l - 8, py + 17, name, 12, "end")
        acc = 0.0
        for pi, v in enumerate(vals):
            x0, x1 = x(acc), x(acc + v)
            c.parts.append(f'<rect x="{x0:.1f}" y="{py}" width="{max(x1 - x0, 0.5):.1f}" height="26" '
                           f'fill="{COLORS[pi % len(COLORS)]}"/>')
            if x1 - x0 > 34:
                c.text((x0 + x1) / 2, py + 17, f"{v:.0f}", 10.5, "middle", "#ffffff")
            acc += v
    for pi, name in enumerate(parts):
        c.add_legend(name, COLORS[pi % len(COLORS)])
    return c.svg()
