"""Read a GGUF file's header and metadata without loading the model.

Used to reject files that are not GGUF (or cut short inside the header) with a clear
message before llama.cpp sees them, to cap the context at the training length before
the context is allocated, and to list models (architecture, quantization, size).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"
_MAX_KV = 1_000_000
_MAX_STRING = 64 * 1024 * 1024
#: Arrays longer than this are summarised (their length only), e.g. the vocabulary.
_MAX_KEPT_ARRAY = 256

# GGUF value types -> struct format (scalar types only).
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9

#: ``general.file_type`` (llama_ftype) -> the quantization name users know.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4",
}


class _Truncated(Exception):
    pass


@dataclass(frozen=True)
class GgufHeader:
    """The header facts of one GGUF file."""

    path: Path
    version: int
    n_tensors: int
    metadata: dict[str, Any]
    size_bytes: int

    @property
    def architecture(self) -> str:
        """``general.architecture``, e.g. ``llama``."""
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        """``general.name``, else the file name without ``.gguf``."""
        name = self.metadata.get("general.name")
        return str(name) if name else self.path.stem

    @property
    def context_length(self) -> int | None:
        """The training context length, if the file says."""
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def quantization(self) -> str:
        """The quantization name from ``general.file_type`` (or ``?``)."""
        file_type = self.metadata.get("general.file_type")
        return FILE_TYPES.get(file_type, "?") if isinstance(file_type, int) else "?"

    @property
    def chat_template(self) -> str | None:
        """The embedded Hugging Face chat template, if any."""
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None


def read_gguf_header(path: Path) -> GgufHeader:
    """Parse the header and metadata of ``path``; raise ``ModelLoadError`` if it is not GGUF."""
    if not path.exists():
        raise ModelLoadError(str(path), "file not found")
    if not path.is_file():
        raise ModelLoadError(str(path), "not a file")
    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelLoadError(str(path), "not a GGUF model file (wrong magic bytes)")
        try:
            version, n_tensors, n_kv = struct.unpack("<IQQ", _read(handle, 20))
            if version not in (2, 3):
                raise ModelLoadError(str(path), f"unsupported GGUF version {version}")
            if n_kv > _MAX_KV:
                raise ModelLoadError(str(path), f"implausible metadata count {n_kv}")
            metadata = {}
            for _ in range(n_kv):
                key = _read_string(handle)
                metadata[key] = _read_value(handle, struct.unpack("<I", _read(handle, 4))[0])
        except _Truncated:
            raise ModelLoadError(str(path), "file is truncated (ends inside the header)") from None
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            raise ModelLoadError(str(path), f"corrupt GGUF header ({exc})") from exc
    return GgufHeader(path, version, n_tensors, metadata, size)


def _read(handle: BinaryIO, n: int) -> bytes:
    data = handle.read(n)
    if len(data) != n:
        raise _Truncated
    return data


def _read_string(handle: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _read(handle, 8))
    if length > _MAX_STRING:
        raise ValueError(f"string of {length} bytes")
    return _read(handle, length).decode("utf-8")


def _read_value(handle: BinaryIO, value_type: int) -> Any:
    if value_type in _SCALARS:
        fmt = _SCALARS[value_type]
        return struct.unpack(fmt, _read(handle, struct.calcsize(fmt)))[0]
    if value_type == _STRING:
        return _read_string(handle)
    if value_type == _ARRAY:
        item_type, count = struct.unpack("<IQ", _read(handle, 12))
        if count <= _MAX_KEPT_ARRAY:
            return [_read_value(handle, item_type) for _ in range(count)]
        _skip_array(handle, item_type, count)
        return {"array_of": count}
    raise ValueError(f"unknown metadata value type {value_type}")


def _skip_array(handle: BinaryIO, item_type: int, count: int) -> None:
    if item_type in _SCALARS:
        handle.seek(struct.calcsize(_SCALARS[item_type]) * count, 1)
        return
    for _ in range(count):
        _read_value(handle, item_type)
