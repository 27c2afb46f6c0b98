"""The bundled presets, prompt formats and starter cast, wherever Parlor is installed.

In a source checkout (and an editable install) they are the repository's top-level
``presets/``, ``templates/`` and ``characters/`` folders; a wheel carries copies of them
inside the package, as ``app/_bundled/<name>`` (see ``setup.py``), found here with
:mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

Bundled = Literal["presets", "templates", "characters"]
#: The folder inside the package that a wheel carries the bundled folders in.
PACKAGED = "_bundled"


def bundled_dir(name: Bundled) -> Path:
    """The folder of bundled ``name`` (presets, templates or characters)."""
    packaged = Path(str(files("app").joinpath(PACKAGED, name)))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name
