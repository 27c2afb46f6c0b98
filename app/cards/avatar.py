"""A generated default avatar for cards that have no image (a PNG card needs one)."""

from __future__ import annotations

import hashlib
import io
from typing import Final

from PIL import Image, ImageDraw

#: Size of generated avatars (ST's card size: 400 x 600).
AVATAR_SIZE: Final = (400, 600)


def _palette(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two muted colours derived from ``seed`` (stable across runs and platforms)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    hue = digest[0] / 255

    def colour(lightness: float, shift: float) -> tuple[int, int, int]:
        h = (hue + shift) % 1.0
        # A cheap HSV -> RGB with fixed saturation, enough for a background.
        sector = int(h * 6)
        frac = h * 6 - sector
        v, s = lightness, 0.45
        p, q, t = v * (1 - s), v * (1 - s * frac), v * (1 - s * (1 - frac))
        rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][sector % 6]
        return (int(rgb[0] * 255), int(rgb[1] * 255), int(rgb[2] * 255))

    return colour(0.42, 0.0), colour(0.16, 0.08)


def default_avatar(name: str) -> bytes:
    """Return a 400x600 PNG: a vertical gradient and a quiet bust silhouette.

    The colours depend only on ``name``, so the same card always gets the same image.
    """
    width, height = AVATAR_SIZE
    top, bottom = _palette(name)
    image = Image.new("RGB", AVATAR_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        f = y / (height - 1)
        row = tuple(int(top[i] * (1 - f) + bottom[i] * f) for i in range(3))
        draw.line([(0, y), (width, y)], fill=row)
    figure = tuple(min(255, int(c * 0.55 + 255 * 0.35)) for c in top)
    cx = width // 2
    draw.ellipse([cx - 78, 150, cx + 78, 320], fill=figure)
    draw.rounded_rectangle([cx - 150, 350, cx + 150, height + 80], radius=120, fill=figure)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
