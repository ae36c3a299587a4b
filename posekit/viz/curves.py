"""Training curves from a run's ``metrics.jsonl`` rows, drawn with Pillow.

Rows are the JSON objects of ``metrics.jsonl``: training rows ``{"step", "lr", "loss/<term>", "time/…", …}``
and validation rows ``{"step", "split": "source_val", "<metric>": value, …}``. The figure has one panel per
loss term (y: the loss, log scale unless asked otherwise), one for the learning rate (log scale) and one per
validation split (one series per logged metric, y: the value as logged, e.g. PCK as a fraction). x is the
optimisation step everywhere. Timing and memory keys are not drawn. Non-finite values are left out, and on a
log axis so are values ≤ 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageDraw

from posekit.fonts import font, text_size

PANEL_W, PANEL_H = 440, 290
LEFT, RIGHT, TOP, BOTTOM = 88, 16, 30, 46  # plot-box margins inside a panel, pixels
TEXT = 13
INK, GRID, WHITE = (25, 25, 25), (225, 225, 225), (255, 255, 255)
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))
MAX_MARKED = 40  # draw a marker on every point of series with at most this many points


@dataclass
class Series:
    """One line: ``steps`` and ``values`` of equal length."""

    label: str
    steps: list[float]
    values: list[float]


@dataclass
class Panel:
    title: str
    ylabel: str
    series: list[Series]
    log: bool


def curve_panels(rows: list[dict], log_losses: bool = True) -> list[Panel]:
    """Panels for ``rows`` (see the module docstring): ``loss/loss`` first, then the other loss terms by name,
    the learning rate, and the validation splits in the order they first appear."""
    train = [r for r in rows if "split" not in r]
    losses = sorted({k for r in train for k in r if k.startswith("loss/")}, key=lambda k: (k != "loss/loss", k))
    panels = [Panel(key, "loss", [_series(key.removeprefix("loss/"), train, key)], log_losses) for key in losses]
    if any("lr" in r for r in train):
        panels.append(Panel("learning rate", "lr", [_series("lr", train, "lr")], True))
    for split in dict.fromkeys(r["split"] for r in rows if "split" in r):
        val = [r for r in rows if r.get("split") == split]
        keys = sorted({k for r in val for k, v in r.items() if k not in ("step", "split") and _is_number(v)})
        if keys:
            panels.append(Panel(f"{split} (validation)", "value", [_series(k, val, k) for k in keys], False))
    return panels


def render_curves(rows: list[dict], title: str, log_losses: bool = True, columns: int = 3) -> Image.Image:
    """All panels of ``rows`` in a grid of ``columns``, under ``title``. Returns an RGB image
    (``PANEL_W`` × ``PANEL_H`` pixels per panel); with nothing to draw, a small image saying so."""
    panels = curve_panels(rows, log_losses)
    title_h = text_size(title, TEXT + 3)[1] + 16
    cols = max(1, min(columns, len(panels)))
    nrows = max(1, math.ceil(len(panels) / cols))
    canvas = Image.new("RGB", (cols * PANEL_W, title_h + nrows * PANEL_H), WHITE)
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 8), title, fill=INK, font=font(TEXT + 3))
    if not panels:
        draw.text((10, title_h + 10), "no metrics logged", fill=INK, font=font(TEXT))
    for i, panel in enumerate(panels):
        _draw_panel(canvas, panel, (i % cols) * PANEL_W, title_h + (i // cols) * PANEL_H)
    return canvas


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _series(label: str, rows: list[dict], key: str) -> Series:
    pts = [(float(r["step"]), float(r[key])) for r in rows if _is_number(r.get(key)) and _is_number(r.get("step"))]
    return Series(label, [p[0] for p in pts], [p[1] for p in pts])


def nice_ticks(lo: float, hi: float, target: int = 5, min_step: float = 0.0) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart, at least ``min_step``) inside ``[lo, hi]``, about ``target``."""
    raw = max((hi - lo) / target, min_step)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    return [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over ``[lo, hi]`` (values > 0): the powers of ten inside it (at most 8, thinned
    evenly), or round linear ticks when fewer than two powers of ten fall inside."""
    decades = [10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
               if lo * (1 - 1e-9) <= 10.0**e <= hi * (1 + 1e-9)]
    if len(decades) >= 2:
        return decades[:: math.ceil(len(decades) / 8)]
    return [t for t in nice_ticks(lo, hi) if t > 0]


def format_ticks(values: list[float]) -> list[str]:
    """Tick labels with the fewest significant digits (1 to 8) that keep them distinct: fixed-point between
    1e-3 and 1e5, otherwise scientific (``1e-5``)."""

    def fmt(v: float, digits: int) -> str:
        if v == 0:
            return "0"
        if 1e-3 <= abs(v) < 1e5:
            return f"{v:.{max(0, digits - 1 - math.floor(math.log10(abs(v))))}f}"
        return f"{v:.{digits - 1}e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")

    for digits in range(1, 9):
        labels = [fmt(v, digits) for v in values]
        if len(set(labels)) == len(labels):
            break
    return labels


def _padded(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """Axis limits around data limits (in log10 units for a log axis): 5 % margins, never an empty range."""
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        half = 0.5 if log else max(abs(hi) * 0.1, 1e-12)
        return lo - half, hi + half
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _draw_panel(canvas: Image.Image, panel: Panel, left: int, top: int) -> None:
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = left + LEFT, top + TOP, left + PANEL_W - RIGHT, top + PANEL_H - BOTTOM
    tw = text_size(panel.title, TEXT + 1)[0]
    draw.text(((x0 + x1 - tw) // 2, top + 8), panel.title, fill=INK, font=font(TEXT + 1))
    ylabel = panel.ylabel + (" (log scale)" if panel.log else "")
    _vertical_text(canvas, ylabel, left + 4, (y0 + y1) // 2)
    draw.text(((x0 + x1 - text_size("step", TEXT)[0]) // 2, y1 + 24), "step", fill=INK, font=font(TEXT))
    series = []
    for s in panel.series:
        pts = [(x, y) for x, y in zip(s.steps, s.values) if math.isfinite(y) and (y > 0 or not panel.log)]
        if pts:
            series.append((s.label, pts))
    if not series:
        draw.rectangle([x0, y0, x1, y1], outline=INK)
        draw.text((x0 + 10, y0 + 10), "no finite values" + (" > 0" if panel.log else ""), fill=INK, font=font(TEXT))
        return

    def ty(v: float) -> float:
        return math.log10(v) if panel.log else v

    xs = [x for _, pts in series for x, _ in pts]
    ys = [ty(y) for _, pts in series for _, y in pts]
    xlo, xhi = _padded(min(xs), max(xs), False)
    ylo, yhi = _padded(min(ys), max(ys), panel.log)

    def px(x: float) -> float:
        return x0 + (x - xlo) / (xhi - xlo) * (x1 - x0)

    def py(t: float) -> float:
        return y1 - (t - ylo) / (yhi - ylo) * (y1 - y0)

    xticks = nice_ticks(xlo, xhi, min_step=1.0)  # steps are integers
    for x, label in zip(xticks, format_ticks(xticks)):
        draw.line([(px(x), y0), (px(x), y1)], fill=GRID)
        draw.line([(px(x), y1), (px(x), y1 + 4)], fill=INK)
        draw.text((px(x) - text_size(label, TEXT)[0] / 2, y1 + 6), label, fill=INK, font=font(TEXT))
    yticks = log_ticks(10**ylo, 10**yhi) if panel.log else nice_ticks(ylo, yhi)
    for v, label in zip(yticks, format_ticks(yticks)):
        y = py(ty(v))
        draw.line([(x0, y), (x1, y)], fill=GRID)
        draw.line([(x0 - 4, y), (x0, y)], fill=INK)
        w, h = text_size(label, TEXT)
        draw.text((x0 - 7 - w, y - h / 2 - 1), label, fill=INK, font=font(TEXT))
    draw.rectangle([x0, y0, x1, y1], outline=INK)
    for i, (_, pts) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        xy = [(px(x), py(ty(y))) for x, y in pts]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2, joint="curve")
        if len(xy) <= MAX_MARKED:
            for x, y in xy:
                draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=colour)
    _legend(draw, [label for label, _ in series], x1, y0)


def _legend(draw: ImageDraw.ImageDraw, labels: list[str], right: float, top: float) -> None:
    """Series names with their colours, boxed, inside the top-right corner of the plot box."""
    line_h = text_size("Hg", TEXT)[1] + 5
    width = max(text_size(label, TEXT)[0] for label in labels) + 36
    box = [right - width - 6, top + 6, right - 6, top + 10 + line_h * len(labels)]
    draw.rectangle(box, fill=WHITE, outline=GRID)
    for i, label in enumerate(labels):
        y = box[1] + 4 + i * line_h
        colour = PALETTE[i % len(PALETTE)]
        draw.line([(box[0] + 6, y + line_h / 2 - 2), (box[0] + 26, y + line_h / 2 - 2)], fill=colour, width=2)
        draw.text((box[0] + 30, y), label, fill=INK, font=font(TEXT))


def _vertical_text(canvas: Image.Image, text: str, left: int, centre_y: int) -> None:
    """``text`` rotated to read bottom-up, its left edge at ``left``, centred on ``centre_y``."""
    w, h = text_size(text, TEXT)
    label = Image.new("L", (w + 2, h + 4), 0)
    ImageDraw.Draw(label).text((1, 1), text, fill=255, font=font(TEXT))
    label = label.rotate(90, expand=True)
    canvas.paste(Image.new("RGB", label.size, INK), (left, centre_y - label.size[1] // 2), label)
