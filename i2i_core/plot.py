"""Training curves drawn with Pillow alone: ``DIR/plots/losses.png`` from ``DIR/metrics.jsonl``.

One panel of loss terms (unweighted, as logged), and below it a panel of evaluation scores
(oracle mIoU, ...) when the run logged any; each panel has its axes, ticks, labels and a legend.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SCORE_KEYS = ("miou", "oracle_mae", "purity", "coverage", "valid_rate")
NOT_PLOTTED = ("step", "world_size")
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
WIDTH, PANEL_HEIGHT = 960, 380
LEFT, RIGHT, TOP, BOTTOM = 80, 220, 40, 55


def read_rows(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) from at or below ``low`` to at or above ``high``."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


def _series(rows: list[dict], keys: list[str]) -> dict[str, list[tuple[float, float]]]:
    found = {}
    for key in keys:
        points = [(row["step"], row[key]) for row in rows
                  if isinstance(row.get(key), (int, float)) and math.isfinite(row[key])]
        if points:
            found[key] = points
    return found


def _draw_panel(image: Image.Image, draw: ImageDraw.ImageDraw, top: int, title: str, y_label: str, series: dict,
                font, small) -> None:
    x0, x1 = LEFT, WIDTH - RIGHT
    y0, y1 = top + TOP, top + PANEL_HEIGHT - BOTTOM
    steps = [s for points in series.values() for s, _ in points]
    values = [v for points in series.values() for _, v in points]
    x_ticks = nice_ticks(min(steps), max(steps))
    y_ticks = nice_ticks(min(values), max(values))
    x_lo, x_hi = min(x_ticks[0], min(steps)), max(x_ticks[-1], max(steps))
    y_lo, y_hi = min(y_ticks[0], min(values)), max(y_ticks[-1], max(values))
    x_span, y_span = (x_hi - x_lo) or 1.0, (y_hi - y_lo) or 1.0

    def at(step, value):
        return x0 + (step - x_lo) / x_span * (x1 - x0), y1 - (value - y_lo) / y_span * (y1 - y0)

    draw.text((x0, top + 10), title, fill="black", font=font)
    for tick in y_ticks:
        _, y = at(x_lo, tick)
        draw.line([(x0, y), (x1, y)], fill=(230, 230, 230))
        draw.line([(x0 - 5, y), (x0, y)], fill="black")
        draw.text((x0 - 8, y), _label(tick), fill="black", font=small, anchor="rm")
    for tick in x_ticks:
        x, _ = at(tick, y_lo)
        draw.line([(x, y1), (x, y1 + 5)], fill="black")
        draw.text((x, y1 + 8), _label(tick), fill="black", font=small, anchor="ma")
    draw.rectangle([x0, y0, x1, y1], outline="black")
    draw.text(((x0 + x1) / 2, y1 + 28), "step", fill="black", font=font, anchor="ma")
    _vertical_text(image, (18, (y0 + y1) / 2), y_label, font)
    for n, (key, points) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        xy = [at(s, v) for s, v in points]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy if len(xy) <= 30 else []:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        legend_y = y0 + 6 + 20 * n
        draw.line([(x1 + 15, legend_y), (x1 + 40, legend_y)], fill=colour, width=3)
        draw.text((x1 + 48, legend_y), key, fill="black", font=small, anchor="lm")


def _vertical_text(image: Image.Image, centre, text: str, font) -> None:
    left, top, right, bottom = font.getbbox(text)
    label = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(label).text((2 - left, 2 - top), text, fill=255, font=font)
    label = label.rotate(90, expand=True)
    x, y = int(centre[0] - label.width / 2), int(centre[1] - label.height / 2)
    image.paste((0, 0, 0), (x, y, x + label.width, y + label.height), label)


def plot_run(run_dir: Path) -> Path | None:
    """Draw ``run_dir/plots/losses.png``; None when the run logged nothing yet."""
    run_dir = Path(run_dir)
    rows = read_rows(run_dir)
    if not rows:
        return None
    keys = list(dict.fromkeys(k for row in rows for k in row if k not in NOT_PLOTTED))
    losses = _series(rows, [k for k in keys if k not in SCORE_KEYS])
    scores = _series(rows, [k for k in keys if k in SCORE_KEYS])
    panels = [p for p in (("loss terms (unweighted, mean since the previous row)", "loss", losses),
                          ("evaluation on the demo test split", "score", scores)) if p[2]]
    if not panels:
        return None
    image = Image.new("RGB", (WIDTH, PANEL_HEIGHT * len(panels)), "white")
    draw = ImageDraw.Draw(image)
    font, small = ImageFont.load_default(size=15), ImageFont.load_default(size=12)
    for n, (title, y_label, series) in enumerate(panels):
        _draw_panel(image, draw, n * PANEL_HEIGHT, title, y_label, series, font, small)
    path = run_dir / "plots" / "losses.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
