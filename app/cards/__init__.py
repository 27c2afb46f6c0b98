"""Character cards: Tavern V1/V2/V3 in PNG, JSON, CHARX and YAML.

The public API, re-exported here:

* :class:`CharacterCard` (lossless card model) and :class:`CardAsset`;
* :func:`read_card` (any format, detected by content) with :class:`ReadLimits`;
* :func:`write_png`, :func:`write_json`, :func:`write_charx`;
* :class:`Lorebook`, :class:`LoreEntry`, :class:`WorldInfo` and :func:`read_world_file`.
"""

from app.cards.lorebook import Lorebook, LoreEntry, WorldInfo, read_world_file
from app.cards.model import CardAsset, CharacterCard, DepthPrompt
from app.cards.read import ReadLimits, read_card
from app.cards.write import write_charx, write_json, write_png

__all__ = [
    "CardAsset",
    "CharacterCard",
    "DepthPrompt",
    "LoreEntry",
    "Lorebook",
    "ReadLimits",
    "WorldInfo",
    "read_card",
    "read_world_file",
    "write_charx",
    "write_json",
    "write_png",
]
