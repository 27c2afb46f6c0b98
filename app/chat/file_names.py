"""File names made from item names: one rule for the UI's downloads and ``parlor export``."""

from __future__ import annotations

import re
from typing import Final

#: Characters no file name may hold on Windows, macOS or Linux.
_UNSAFE: Final = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def safe_file_name(name: str, fallback: str) -> str:
    """``name`` with every character a file name cannot hold replaced by ``_``.

    Leading and trailing spaces and dots are dropped (no hidden files, no ``..``);
    ``fallback`` when nothing is left.
    """
    return _UNSAFE.sub("_", name).strip(" .") or fallback
