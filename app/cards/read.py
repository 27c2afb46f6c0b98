"""Read a character card from a file or bytes, detecting the format by content.

Formats: PNG (``ccv3`` ``tEXt`` chunk preferred, then ``chara``), JSON (Tavern V1, V2,
V3, Pygmalion), CHARX (ZIP with ``card.json`` and ``embeded://`` assets) and
text-generation-webui YAML.  Every failure is a :class:`~app.errors.CardError` whose
one-line message names the file.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import yaml
from PIL import Image

from app.cards import png
from app.cards._util import JSONDict, type_name, unsafe_path_problem
from app.cards.model import CardAsset, CharacterCard, embedded_path
from app.cards.shapes import card_from_object
from app.errors import CardError

_MIB: Final = 1024 * 1024
_IMAGE_EXTS: Final = frozenset({"png", "jpg", "jpeg", "webp", "gif", "apng", "avif", "bmp", "jfif"})
_MAX_ICON_PIXELS: Final = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """Size limits that protect the reader from huge files and ZIP bombs."""

    #: Largest file accepted.
    max_bytes: int = 32 * _MIB
    #: Largest total uncompressed size of a CHARX archive.
    max_unpacked_bytes: int = 128 * _MIB
    #: Largest compression ratio of one archive member bigger than ``ratio_floor``.
    max_ratio: int = 100
    ratio_floor: int = _MIB
    #: Most members a CHARX archive may have.
    max_entries: int = 1000


class _NoAliasLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses anchors/aliases (no "billion laughs")."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose a node, raising on an alias."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def read_card(
    src: Path | str | bytes,
    *,
    source_name: str | None = None,
    limits: ReadLimits | None = None,
) -> CharacterCard:
    """Read a card from a path or from bytes, whatever its format.

    ``source_name`` names the file in errors and in :attr:`CharacterCard.source_name`;
    it defaults to the path's file name (or ``"card"`` for bytes).
    """
    limits = limits or ReadLimits()
    if isinstance(src, bytes | bytearray):
        source = source_name or "card"
        raw = bytes(src)
        if len(raw) > limits.max_bytes:
            raise CardError(source, _too_big(len(raw), limits.max_bytes))
    else:
        path = Path(src)
        source = source_name or path.name
        raw = _read_file(path, source, limits.max_bytes)
        suffix = path.suffix.lower()
        if suffix == ".png" and not png.is_png(raw):
            raise CardError(source, "not a PNG image (the file does not start like one)")
        if suffix == ".charx" and not raw.startswith(b"PK\x03\x04"):
            raise CardError(source, "not a CHARX file (not a zip archive)")
    try:
        return _read_bytes(raw, source, limits)
    except RecursionError:
        raise CardError(source, "JSON is nested too deeply") from None


def _too_big(size: int, limit: int) -> str:
    return f"file is {size / _MIB:.1f} MB, more than the {limit / _MIB:.0f} MB allowed"


def _read_file(path: Path, source: str, max_bytes: int) -> bytes:
    """Read a file no bigger than ``max_bytes``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CardError(source, _too_big(size, max_bytes))
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise CardError(source, "file not found") from None
    except OSError as exc:
        raise CardError(source, f"cannot read file: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise CardError(source, _too_big(len(raw), max_bytes))
    return raw


def _read_bytes(raw: bytes, source: str, limits: ReadLimits) -> CharacterCard:
    """Dispatch on the content's signature."""
    if not raw.strip():
        raise CardError(source, "file is empty")
    if png.is_png(raw):
        return _read_png(raw, source)
    if raw.startswith(b"PK\x03\x04") or zipfile.is_zipfile(io.BytesIO(raw)):
        return _read_charx(raw, source, limits)
    kind = _image_kind(raw)
    if kind:
        raise CardError(source, f"{kind} images cannot hold a card; use a PNG card")
    try:
        text = raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError:
        raise CardError(
            source, "not a character card: binary data that is not a PNG or CHARX"
        ) from None
    if text.lstrip()[:1] in ("{", "["):
        return card_from_object(_parse_json(text, source), source_name=source, source_format="json")
    return _read_yaml(text, source)


def _image_kind(raw: bytes) -> str | None:
    """Name image formats that are not PNG, for a clearer error."""
    if raw.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def _parse_json(text: str, source: str, what: str = "JSON") -> object:
    """Parse JSON text; errors name the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(
            source, f"invalid {what}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise CardError(source, f"{what} is nested too deeply") from None


# ---------------------------------------------------------------------------- PNG


def _decode_card_text(text: bytes, source: str, keyword: str) -> object:
    """Decode a ``chara``/``ccv3`` chunk text: base64 -> UTF-8 -> JSON."""
    body = b"".join(text.split())
    if body.startswith(b"{"):  # a few tools store the JSON itself
        payload = body
    else:
        try:
            payload = base64.b64decode(body + b"=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise CardError(source, f"the {keyword!r} chunk is not valid base64") from None
    try:
        decoded = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CardError(source, f"the {keyword!r} chunk is not UTF-8 text") from None
    return _parse_json(decoded, source, f"JSON in the {keyword!r} chunk")


def _read_png(raw: bytes, source: str) -> CharacterCard:
    """Read a PNG card; ``ccv3`` wins over ``chara``, and a broken ``ccv3`` falls back."""
    chunks = png.parse_chunks(raw, source)
    texts = png.card_texts(chunks)
    if not texts:
        raise CardError(source, "PNG has no character data (no 'chara' or 'ccv3' text chunk)")
    first_error: CardError | None = None
    for keyword in ("ccv3", "chara"):
        if keyword not in texts:
            continue
        try:
            obj = _decode_card_text(texts[keyword], source, keyword)
        except CardError as exc:
            first_error = first_error or exc
            continue
        return card_from_object(
            obj, source_name=source, source_format="png", avatar=png.rebuild(chunks)
        )
    assert first_error is not None
    raise first_error


# ---------------------------------------------------------------------------- CHARX


def _read_members(archive: zipfile.ZipFile, source: str, limits: ReadLimits) -> dict[str, bytes]:
    """Check every member against the limits and paths rules, then read them all."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise CardError(
            source, f"archive has {len(infos)} files, more than the {limits.max_entries} allowed"
        )
    total = 0
    for info in infos:
        problem = unsafe_path_problem(info.filename)
        if problem:
            raise CardError(source, f"unsafe file name in archive: {problem}")
        if info.flag_bits & 0x1:
            raise CardError(source, f"archive member {info.filename!r} is encrypted")
        total += info.file_size
        if (
            info.file_size > limits.ratio_floor
            and info.file_size > max(info.compress_size, 1) * limits.max_ratio
        ):
            raise CardError(
                source,
                f"archive member {info.filename!r} expands "
                f"{info.file_size // max(info.compress_size, 1)}x "
                "(over the compression-ratio limit; possible ZIP bomb)",
            )
    if total > limits.max_unpacked_bytes:
        raise CardError(
            source,
            f"archive unpacks to {total / _MIB:.0f} MB, more than the "
            f"{limits.max_unpacked_bytes / _MIB:.0f} MB allowed (possible ZIP bomb)",
        )
    files: dict[str, bytes] = {}
    for info in infos:
        if info.is_dir():
            continue
        try:
            files[info.filename] = archive.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise CardError(source, f"corrupt archive member {info.filename!r}: {exc}") from None
    return files


def _to_png(blob: bytes) -> bytes | None:
    """Return ``blob`` as PNG bytes (converted with Pillow if needed), or None if unusable."""
    if png.is_png(blob):
        try:
            png.parse_chunks(blob, "icon")
        except CardError:
            return None
        return blob
    try:
        with Image.open(io.BytesIO(blob)) as image:
            if image.width * image.height > _MAX_ICON_PIXELS:
                return None
            out = io.BytesIO()
            image.convert("RGBA").save(out, format="PNG")
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _main_icon(assets: list[JSONDict], files: dict[str, bytes]) -> int | None:
    """Index of the avatar asset: the ``icon`` named ``main``, else the first image icon."""
    icons = [
        (i, a)
        for i, a in enumerate(assets)
        if a.get("type") == "icon" and embedded_path(str(a.get("uri", ""))) in files
    ]
    for index, asset in icons:
        if str(asset.get("name", "")).lower() == "main":
            return index
    for index, asset in icons:
        path = embedded_path(str(asset.get("uri", ""))) or ""
        ext = str(asset.get("ext") or path.rsplit(".", 1)[-1]).lower()
        if ext in _IMAGE_EXTS:
            return index
    return None


def _read_charx(raw: bytes, source: str, limits: ReadLimits) -> CharacterCard:
    """Read a CHARX archive: ``card.json``, the main icon as avatar, the other assets."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            files = _read_members(archive, source, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise CardError(source, f"not a valid CHARX (ZIP) archive: {exc}") from None
    if "card.json" not in files:
        raise CardError(source, "CHARX archive has no card.json")
    try:
        text = files["card.json"].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CardError(source, "card.json is not UTF-8 text") from None
    obj = _parse_json(text, source, "JSON in card.json")
    if not isinstance(obj, dict) or not obj.get("spec"):
        raise CardError(source, "card.json has no spec field")
    card = card_from_object(obj, source_name=source, source_format="charx")
    listed: list[JSONDict] = card.data.get("assets") or []
    for asset in listed:
        path = embedded_path(str(asset.get("uri", "")))
        problem = unsafe_path_problem(path) if path is not None else None
        if problem:
            raise CardError(source, f"asset {asset.get('name', '')!r} has an unsafe uri: {problem}")
    main = _main_icon(listed, files)
    avatar = None
    assets: list[CardAsset] = []
    used = {"card.json"}
    for index, asset in enumerate(listed):
        path = embedded_path(str(asset.get("uri", "")))
        if path is None or path not in files:
            continue
        used.add(path)
        blob = files[path]
        if index == main:
            avatar = _to_png(blob)
            if avatar is blob:
                continue  # a PNG main icon is the avatar itself
        assets.append(
            CardAsset(
                str(asset.get("type", "")),
                str(asset.get("name", "")),
                str(asset["uri"]),
                str(asset.get("ext", "")),
                blob,
            )
        )
    extra_files = {p: b for p, b in files.items() if p not in used}
    return replace(card, avatar=avatar, assets=assets, extra_files=extra_files)


# ---------------------------------------------------------------------------- YAML


def _read_yaml(text: str, source: str) -> CharacterCard:
    """Read a text-generation-webui YAML character (or a card object written as YAML)."""
    try:
        obj = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise CardError(where, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise CardError(source, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise CardError(source, "YAML is nested too deeply") from None
    if not isinstance(obj, dict):
        raise CardError(
            source, f"not a character card: expected a YAML/JSON object, got {type_name(obj)}"
        )
    return card_from_object(obj, source_name=source, source_format="yaml")
