"""Builds copy the top-level presets/, templates/ and characters/ into the package.

A wheel then carries them as ``app/_bundled/<name>`` (found by :mod:`app.resources`);
an editable install uses the top-level folders themselves.  Everything else about the
package is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("presets", "templates", "characters")
#: What a bundled folder ships: data files, not the scripts that made them.
SHIPPED = ("*.yaml", "*.jinja", "*.png", "*.json", "*.charx")


class BuildWithBundled(build_py):
    """``build_py`` plus the bundled folders, copied into ``app/_bundled``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in BUNDLED:
            target = Path(self.build_lib) / "app" / "_bundled" / name
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for pattern in SHIPPED:
                for path in sorted(Path(name).glob(pattern)):
                    shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildWithBundled})
