"""Write character cards as PNG (``chara`` + ``ccv3``), JSON (V2 or V3) and CHARX.

The PNG writer does what SillyTavern's ``character-card-parser.js`` ``write()`` does:
remove every ``chara``/``ccv3`` ``tEXt`` chunk, then insert ``chara`` (the V2 object,
base64 of UTF-8 JSON) and ``ccv3`` (the same object with ``spec``/``spec_version`` set to
V3) just before ``IEND``.  Every other chunk is copied byte for byte.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import zipfile
from typing import Final, Literal

from app.cards import png
from app.cards._util import JSONDict, deep_copy, unsafe_path_problem
from app.cards.avatar import default_avatar
from app.cards.model import CharacterCard, embedded_path
from app.cards.shapes import to_st_v3_object, to_v2_object, to_v3_object
from app.errors import CardError

#: Where a CHARX writer puts the avatar when the card names no main icon file.
DEFAULT_ICON_PATH: Final = "assets/icon/images/main.png"
_ZIP_DATE: Final = (1980, 1, 1, 0, 0, 0)


def _compact_json(obj: JSONDict) -> bytes:
    """UTF-8 JSON as ``JSON.stringify`` writes it (no spaces, no ASCII escaping)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def encode_card_text(obj: JSONDict) -> bytes:
    """Base64 of the compact UTF-8 JSON of a card object (the ``tEXt`` chunk text)."""
    return base64.b64encode(_compact_json(obj))


def avatar_or_default(card: CharacterCard) -> bytes:
    """The card's avatar PNG, or a generated default one when it has none."""
    return card.avatar if card.avatar is not None else default_avatar(card.name)


def write_png(card: CharacterCard) -> bytes:
    """Return the avatar PNG with the card embedded in ``chara`` (V2) and ``ccv3`` (V3).

    A card without an avatar gets a generated default image.  CHARX assets cannot be
    carried by a PNG and are left out.
    """
    source = f"{card.source_name} (avatar)"
    chunks = png.parse_chunks(avatar_or_default(card), source)
    texts = [
        png.make_text_chunk("chara", encode_card_text(to_v2_object(card))),
        png.make_text_chunk("ccv3", encode_card_text(to_st_v3_object(card))),
    ]
    return png.rebuild(chunks, texts)


def write_json(card: CharacterCard, version: Literal[2, 3] = 2) -> bytes:
    """Return the card as pretty-printed UTF-8 JSON (4 spaces, as ST exports it).

    ``version=2`` writes ST's V2 object (V1 fields mirrored at the top level);
    ``version=3`` writes a plain ``chara_card_v3`` object.
    """
    if version == 2:
        obj = to_v2_object(card)
    elif version == 3:
        obj = to_v3_object(card)
    else:
        raise CardError(card.source_name, f"cannot write card JSON version {version!r}")
    return json.dumps(obj, ensure_ascii=False, indent=4, allow_nan=False).encode("utf-8")


def _main_icon_index(assets: list[JSONDict]) -> int | None:
    """Index of the ``icon`` asset named ``main`` (case-insensitive), if any."""
    for index, asset in enumerate(assets):
        if asset.get("type") == "icon" and str(asset.get("name", "")).lower() == "main":
            return index
    return None


def _charx_files(card: CharacterCard, data: JSONDict) -> dict[str, bytes]:
    """Collect the archive's files and point ``data.assets`` at the avatar."""
    files: dict[str, bytes] = {}
    for asset in card.assets:
        if asset.path is not None:
            files[asset.path] = asset.data
    assets = data.get("assets")
    if not isinstance(assets, list):
        assets = data["assets"] = []
    index = _main_icon_index(assets)
    if index is None:
        assets.append(
            {"type": "icon", "uri": "embeded://" + DEFAULT_ICON_PATH, "name": "main", "ext": "png"}
        )
        index = len(assets) - 1
    entry = assets[index]
    uri = str(entry.get("uri") or "")
    path = embedded_path(uri)
    if path is None and uri in ("", "ccdefault:"):
        path = DEFAULT_ICON_PATH
        entry["uri"] = "embeded://" + path
        entry["ext"] = "png"
    if path is not None and path not in files:
        files[path] = avatar_or_default(card)
    for path, blob in card.extra_files.items():
        files.setdefault(path, blob)
    return files


def write_charx(card: CharacterCard) -> bytes:
    """Return a CHARX archive: ``card.json`` (V3) plus the avatar and every asset.

    The avatar is stored as the ``icon`` asset named ``main``; if ``data.assets`` lists
    no such asset, one is added (``embeded://assets/icon/images/main.png``) in the
    written ``card.json``.
    """
    data = deep_copy(card.data)
    files = _charx_files(card, data)
    card_json = json.dumps(
        to_v3_object(dataclasses.replace(card, data=data, avatar=None)),
        ensure_ascii=False,
        indent=2,
        allow_nan=False,
    ).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _add(archive, "card.json", card_json)
        for path, blob in files.items():
            problem = unsafe_path_problem(path)
            if problem or path == "card.json":
                raise CardError(card.source_name, f"cannot write asset: {problem or path}")
            _add(archive, path, blob)
    return buffer.getvalue()


def _add(archive: zipfile.ZipFile, path: str, blob: bytes) -> None:
    """Add one file with a fixed timestamp, so equal cards give equal archives."""
    info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, blob)
