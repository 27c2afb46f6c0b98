"""One avatar cache for the library's previews and every page's thumbnails."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

from PIL import Image

from app.ui.avatar_cache import AvatarCache
from app.ui.images import AVATAR_PX, PREVIEW_PX
from app.ui.state import Thumbnails

STAMP = datetime(2025, 1, 2, tzinfo=UTC)
LATER = datetime(2025, 1, 3, tzinfo=UTC)


def png(size: tuple[int, int], colour: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


class Loads:
    """A stored avatar that counts how often it is read."""

    def __init__(self, data: bytes | None) -> None:
        self.data, self.count = data, 0

    def __call__(self) -> bytes | None:
        self.count += 1
        return self.data


def decoded(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_a_preview_and_a_thumbnail_read_the_avatar_once() -> None:
    cache, load = AvatarCache(), Loads(png((1500, 1000)))
    preview = cache.preview("character", 1, STAMP, load)
    assert preview is not None and preview.size == (PREVIEW_PX, PREVIEW_PX * 2 // 3)
    url = cache.get("character", 1, STAMP, load)
    assert decoded(url).size == (AVATAR_PX, AVATAR_PX)
    assert cache.get("character", 1, STAMP, load) == url
    assert cache.preview("character", 1, STAMP, load) is preview
    assert load.count == 1
    cache.get("character", 1, LATER, load)  # an edited avatar is read again
    assert load.count == 2
    assert cache.get("persona", 1, STAMP, Loads(None)) == ""


def test_the_least_recently_used_go_first_within_the_bound() -> None:
    one_preview = PREVIEW_PX * PREVIEW_PX * 4
    cache = AvatarCache(limit_bytes=2 * one_preview + one_preview // 2)
    loads = {n: Loads(png((800, 800), colour)) for n, colour in enumerate(("red", "blue", "lime"))}
    for number in (0, 1):
        cache.preview("character", number, STAMP, loads[number])
    cache.preview("character", 0, STAMP, loads[0])  # 0 is now the most recent
    cache.preview("character", 2, STAMP, loads[2])  # over the bound: 1 goes
    for number in (0, 2, 1):
        cache.preview("character", number, STAMP, loads[number])
    assert [loads[n].count for n in (0, 1, 2)] == [1, 2, 1]


def test_the_chat_pages_thumbnails_are_the_same_cache() -> None:
    assert Thumbnails is AvatarCache
