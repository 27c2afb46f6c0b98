"""Avatar images: uploads to PNG, stored bytes to small previews and data-URL thumbnails.

The browser never gets an avatar at full size: a card's PNG can hold a 60-megapixel
image, and decoding, re-encoding and sending that on every click is what made large
cards crawl.  The editor shows a preview at most :data:`PREVIEW_PX` wide, decoded once
per avatar version and kept in :class:`app.ui.avatar_cache.AvatarCache`.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Final

from PIL import Image, UnidentifiedImageError

from app.errors import InputError

AVATAR_PX: Final = 96
PREVIEW_PX: Final = 512
#: Errors PIL raises for a file that is not a usable image (a decompression bomb included).
_BAD_IMAGE: Final = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError)
#: Modes that resize well; others (palette, 1-bit, CMYK …) are converted first.
_RESIZABLE: Final = frozenset({"RGB", "RGBA", "L", "LA"})


def image_to_png(path: str | Path) -> bytes:
    """An uploaded image file as PNG bytes (raises InputError naming the file)."""
    try:
        with Image.open(path) as image:
            buffer = io.BytesIO()
            image.convert("RGBA").save(buffer, format="PNG")
    except _BAD_IMAGE as exc:
        raise InputError(Path(path).name, f"not an image ({exc.__class__.__name__})") from exc
    return buffer.getvalue()


def decoded_avatar(avatar: bytes | None) -> Image.Image | None:
    """Stored avatar bytes decoded (None when absent or unreadable)."""
    if not avatar:
        return None
    try:
        with Image.open(io.BytesIO(avatar)) as image:
            image.load()
            return image if image.mode in _RESIZABLE else image.convert("RGBA")
    except _BAD_IMAGE:
        return None


def avatar_preview(avatar: bytes | None, size: int = PREVIEW_PX) -> Image.Image | None:
    """The avatar scaled down to fit ``size`` pixels (None when absent or unreadable)."""
    image = decoded_avatar(avatar)
    if image is None:
        return None
    image.thumbnail((size, size), reducing_gap=2.0)
    return image.convert("RGBA")


def square_data_url(image: Image.Image | None, size: int = AVATAR_PX) -> str:
    """``image`` cut square and scaled to ``size`` as a PNG ``data:`` URL ("" for None)."""
    if image is None:
        return ""
    side = min(image.size)
    left = (image.width - side) // 2
    box = (left, 0, left + side, side)
    square = image.resize((size, size), box=box, reducing_gap=2.0).convert("RGBA")
    buffer = io.BytesIO()
    square.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
