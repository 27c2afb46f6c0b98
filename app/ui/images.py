"""Avatar images: uploads to PNG, stored bytes to PIL images and small data-URL thumbnails."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Final

from PIL import Image, UnidentifiedImageError

from app.errors import InputError

AVATAR_PX: Final = 96


def image_to_png(path: str | Path) -> bytes:
    """An uploaded image file as PNG bytes (raises InputError naming the file)."""
    try:
        with Image.open(path) as image:
            buffer = io.BytesIO()
            image.convert("RGBA").save(buffer, format="PNG")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(Path(path).name, f"not an image ({exc.__class__.__name__})") from exc
    return buffer.getvalue()


def avatar_image(avatar: bytes | None) -> Image.Image | None:
    """Stored avatar bytes as an image for ``gr.Image`` (None when absent or unreadable)."""
    if not avatar:
        return None
    try:
        with Image.open(io.BytesIO(avatar)) as image:
            return image.convert("RGBA")
    except (UnidentifiedImageError, OSError):
        return None


def avatar_data_url(image: bytes | None, size: int = AVATAR_PX) -> str:
    """A small square PNG thumbnail as a ``data:`` URL ("" when there is no usable image)."""
    square = avatar_image(image)
    if square is None:
        return ""
    side = min(square.size)
    left = (square.width - side) // 2
    square = square.crop((left, 0, left + side, side)).resize((size, size))
    buffer = io.BytesIO()
    square.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
