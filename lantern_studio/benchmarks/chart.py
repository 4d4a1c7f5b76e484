"""A horizontal bar chart of benchmark ratios on a log scale, drawn with Pillow (no plotting stack needed)."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (40, 40, 48)
GRID = (225, 225, 232)
FASTER = (214, 69, 65)      # lantern red: this project is faster than the peer
SLOWER = (120, 120, 130)    # grey: the peer is faster


def _font(size: int) -> ImageFont.ImageFont:
    try:
        from lantern_studio.engines.fonts import find_cjk_font

        path = find_cjk_font()
        if path is not None:
            return ImageFont.truetype(str(path), size)
    except Exception:  # noqa: BLE001 - the default bitmap font still draws ASCII labels
        pass
    return ImageFont.load_default()


LABEL_CHARS = 62


def _label(scenario: str, peer: str) -> str:
    """'<scenario> vs <peer>', shortening the scenario (never the peer) to fit the label column."""
    suffix = f" vs {peer}"
    room = LABEL_CHARS - len(suffix)
    if len(scenario) > room:
        scenario = scenario[: max(room - 1, 8)].rstrip(" ,x@") + "…"
    return scenario + suffix


def ratio_bars(rows: list[dict]) -> list[tuple[str, float]]:
    """(label, ratio) for every peer ratio of every row, in table order."""
    bars = []
    for row in rows:
        for peer, ratio in (row.get("ratios") or {}).items():
            if ratio and ratio > 0 and math.isfinite(ratio):
                bars.append((_label(row["scenario"], peer), float(ratio)))
    return bars


def ratio_chart(rows: list[dict], *, width: int = 1100, bar_height: int = 26) -> Image.Image:
    """Ratios (this project / peer) as bars on a log10 axis; 1× is the peer's speed."""
    bars = ratio_bars(rows)
    font, small = _font(15), _font(13)
    label_width = 470
    top, bottom = 40, 40
    height = top + bottom + max(1, len(bars)) * (bar_height + 8)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), "How many times faster than each peer (log scale; 1× = same speed)", fill=INK, font=font)
    if not bars:
        draw.text((10, top + 10), "No ratios yet: run the benchmarks.", fill=INK, font=font)
        return image
    low = min(0.0, math.floor(math.log10(min(r for _, r in bars))))
    high = max(1.0, math.ceil(math.log10(max(r for _, r in bars))))
    plot_left, plot_right = label_width + 20, width - 90

    def x_of(ratio: float) -> float:
        return plot_left + (math.log10(ratio) - low) / (high - low) * (plot_right - plot_left)

    for decade in range(int(low), int(high) + 1):
        x = x_of(10.0 ** decade)
        draw.line([(x, top - 5), (x, height - bottom + 5)], fill=GRID, width=1)
        draw.text((x - 12, height - bottom + 10), f"{10.0 ** decade:g}×", fill=INK, font=small)
    one = x_of(1.0)
    for index, (label, ratio) in enumerate(bars):
        y = top + index * (bar_height + 8)
        draw.text((10, y + 4), label, fill=INK, font=small)
        x = x_of(ratio)
        left, right = sorted((one, x))
        draw.rectangle([left, y, max(right, left + 2), y + bar_height], fill=FASTER if ratio >= 1 else SLOWER)
        draw.text((max(x, one) + 6, y + 4), f"{ratio:,.1f}×", fill=INK, font=small)
    return image
