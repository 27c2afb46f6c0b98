"""One cache of scaled avatars: the editor's previews and every page's thumbnails.

Pure presentation, shared by every page and browser.  An entry is keyed by (kind, id,
modification stamp, size), so an edited avatar is read again; the least recently used
entries go first once the cache holds more than its byte budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from PIL import Image

from app.ui.images import (
    AVATAR_PX,
    PREVIEW_PX,
    avatar_preview,
    decoded_avatar,
    square_data_url,
)

#: (kind, id, modification stamp, size in pixels).
AvatarKey = tuple[str, int, datetime, int]
#: Reads a stored avatar (None when there is none).
AvatarLoader = Callable[[], bytes | None]
#: What the cache may hold: 64 MiB is 64 previews of 512 × 512, or thousands of thumbnails.
DEFAULT_LIMIT_BYTES: Final = 64 * 2**20
#: What an entry costs besides its pixels or text.
_OVERHEAD: Final = 256


@dataclass(frozen=True)
class _Scaled:
    """One cached avatar: a preview image, or a thumbnail's data URL."""

    image: Image.Image | None = None
    url: str = ""

    @property
    def weight(self) -> int:
        """About how many bytes the entry holds."""
        pixels = self.image.width * self.image.height * 4 if self.image is not None else 0
        return pixels + len(self.url) + _OVERHEAD


class AvatarCache:
    """Avatar previews and thumbnails, the least recently used dropped beyond a budget."""

    def __init__(self, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        self._entries: OrderedDict[AvatarKey, _Scaled] = OrderedDict()
        self._limit = limit_bytes
        self._held = 0
        #: Pages handle events in several threads.
        self._lock = threading.Lock()

    def preview(
        self, kind: str, key: int, stamp: datetime, load: AvatarLoader
    ) -> Image.Image | None:
        """``kind`` ``key``'s avatar as of ``stamp``, at most :data:`PREVIEW_PX` wide."""
        made = self._entry((kind, key, stamp, PREVIEW_PX), lambda: _Scaled(avatar_preview(load())))
        return made.image

    def get(self, kind: str, key: int, stamp: datetime, load: AvatarLoader) -> str:
        """``kind`` ``key``'s square thumbnail as of ``stamp`` as a ``data:`` URL.

        Made from the cached preview when there is one, else from the stored avatar
        (``load``); "" when there is no usable image.
        """

        def make() -> _Scaled:
            preview = self._entries.get((kind, key, stamp, PREVIEW_PX))
            image = preview.image if preview is not None else decoded_avatar(load())
            return _Scaled(url=square_data_url(image))

        return self._entry((kind, key, stamp, AVATAR_PX), make).url

    def _entry(self, key: AvatarKey, make: Callable[[], _Scaled]) -> _Scaled:
        """The cached entry of ``key`` (made and kept when missing), now the most recent."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        made = make()  # outside the lock: decoding a large avatar takes a while
        with self._lock:
            self._keep(key, made)
        return made

    def _keep(self, key: AvatarKey, made: _Scaled) -> None:
        """Add ``made`` as the most recent entry; drop the oldest beyond the budget."""
        replaced = self._entries.pop(key, None)
        self._held += made.weight - (replaced.weight if replaced is not None else 0)
        self._entries[key] = made
        while self._held > self._limit and len(self._entries) > 1:
            _, dropped = self._entries.popitem(last=False)
            self._held -= dropped.weight
