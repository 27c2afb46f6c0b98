"""A wheel install carries the bundled presets, formats and starter cast (issue 13, item 15).

The wheel is built from the repository and installed, without its dependencies, into a
fresh virtual environment that borrows this one's packages through a ``.pth`` file (the
editable install of this checkout is not among them), so what runs is the wheel alone.
"""

from __future__ import annotations

import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow


def _run(*command: str | Path, **kwargs: object) -> str:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=600,
        check=False, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, REPO_ROOT)
    (built,) = out.glob("parlor-*.whl")
    return built


def test_the_wheel_holds_the_bundled_folders(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "app/_bundled/presets/Euryale.yaml",
        "app/_bundled/templates/llama-3-instruct-names.jinja",
        "app/_bundled/characters/HESPER.png",
        "app/storage/migrations/versions/0001_initial.py",
        "app/py.typed",
    ):
        assert expected in names
    assert not any(name.endswith("make_starter_cast.py") for name in names)


def test_an_installed_wheel_lists_the_bundled_items(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    borrowed = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "borrowed-dependencies.pth").write_text("\n".join(borrowed) + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    where = _run(python, "-c", "import app; print(app.__file__)", cwd=tmp_path)
    assert where.startswith(str(venv)), where
    home = tmp_path / "home"
    env = {"PARLOR_HOME": str(home), "PATH": "/usr/bin:/bin"}
    presets = _run(python, "-m", "app", "list", "presets", env=env, cwd=tmp_path)
    assert "Euryale" in presets.split()
    templates = _run(python, "-m", "app", "list", "templates", env=env, cwd=tmp_path)
    assert "Llama-3-Instruct-Names" in templates and "GGUF" in templates
    characters = _run(python, "-m", "app", "list", "characters", env=env, cwd=tmp_path)
    assert "HESPER" in characters and "Ysolde Marrow" in characters
