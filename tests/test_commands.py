"""``parlor import / export / list / prompt`` end to end, as subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cards import read_card
from tests.paths import REPO_ROOT, SILLYTAVERN
from tests.servers import run_parlor


def test_first_run_lists_the_starter_cast_and_bundled_things(_isolated_home: Path) -> None:
    characters = run_parlor(_isolated_home, "list", "characters")
    assert characters.returncode == 0
    names = [line.split("\t")[1].split("  [")[0] for line in characters.stdout.splitlines()]
    assert names == ["Basil Thorne", "HESPER", "Ysolde Marrow"]
    presets = run_parlor(_isolated_home, "list", "presets").stdout.split()
    assert {"Euryale", "Stheno", "Deterministic"} <= set(presets)
    templates = run_parlor(_isolated_home, "list", "templates").stdout.splitlines()
    assert "Llama-3-Instruct-Names" in templates and "ChatML" in templates
    models = run_parlor(_isolated_home, "list", "models").stdout
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in models and "(bundled)" in models


def test_importing_a_sillytavern_folder(_isolated_home: Path) -> None:
    done = run_parlor(_isolated_home, "import", str(SILLYTAVERN))
    lines = done.stdout.splitlines()
    imported = [line for line in lines if line.startswith("imported")]
    failed = [line for line in lines if line.startswith("failed")]
    assert done.returncode == 1  # the reasoning templates are not ours to import
    assert all("reasoning" in line or "index.json" in line for line in failed), failed
    kinds = {line.split()[1] for line in imported}
    assert kinds == {"card", "lorebook", "preset", "template"}
    assert any("'Seraphina'" in line for line in imported)
    assert "[####" in done.stderr  # progress bar for folders
    listed = run_parlor(_isolated_home, "list", "characters").stdout
    assert "Seraphina" in listed
    assert "Llama 3 Instruct" in run_parlor(_isolated_home, "list", "templates").stdout


def test_a_broken_file_fails_alone_with_one_line(_isolated_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png at all")
    (folder / "good.json").write_text(json.dumps({"name": "Tess", "first_mes": "Hi!"}))
    done = run_parlor(_isolated_home, "import", str(folder))
    assert done.returncode == 1
    assert f"failed: {folder / 'broken.png'}: " in done.stdout
    assert "imported card 'Tess'" in done.stdout
    assert "Traceback" not in done.stderr


def test_export_character_round_trips(_isolated_home: Path, tmp_path: Path) -> None:
    for fmt in ("png", "json", "charx"):
        out = tmp_path / f"ysolde.{fmt}"
        done = run_parlor(
            _isolated_home, "export", "character", "Ysolde Marrow", "--format", fmt, "-o", str(out)
        )
        assert done.returncode == 0, done.stderr
        original = read_card(REPO_ROOT / "characters" / "Ysolde_Marrow.png")
        exported = read_card(out)
        assert exported.name == original.name
        assert exported.alternate_greetings == original.alternate_greetings
        book = exported.character_book
        assert book is not None and len(book.entries) == len(original.character_book.entries)


def test_export_preset_and_unknown_names(_isolated_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "euryale.json"
    assert run_parlor(_isolated_home, "export", "preset", "Euryale", "-o", str(out)).returncode == 0
    data = json.loads(out.read_text())
    assert data["temp"] == 1.17 and data["min_p"] == 0.075 and data["rep_pen"] == 1.1
    missing = run_parlor(_isolated_home, "export", "character", "Nobody", "-o", str(out))
    assert missing.returncode == 1
    assert missing.stderr.strip() == "parlor: error: no character named 'Nobody'"


@pytest.mark.model
def test_prompt_prints_the_exact_prompt(_isolated_home: Path) -> None:
    done = run_parlor(
        _isolated_home,
        "prompt",
        "--character",
        "HESPER",
        "--format",
        "Llama-3-Instruct-Names",
        "--user",
        "Ada",
        "--message",
        "Status report?",
        "--message",
        "Nominal.",
        "--message",
        "Good.",
        "--threads",
        "2",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<|start_header_id|>system<|end_header_id|>\n\n")
    assert done.stdout.endswith(
        "<|start_header_id|>Ada<|end_header_id|>\n\nStatus report?<|eot_id|>"
        "<|start_header_id|>HESPER<|end_header_id|>\n\nNominal.<|eot_id|>"
        "<|start_header_id|>Ada<|end_header_id|>\n\nGood.<|eot_id|>"
        "<|start_header_id|>HESPER<|end_header_id|>\n\n"
    )
    count, fmt = done.stderr.strip().split(" tokens ")
    assert int(count) > 500 and fmt == "(Llama-3-Instruct-Names)"


def test_sillytavern_chat_import_and_export(_isolated_home: Path, tmp_path: Path) -> None:
    header = {
        "user_name": "Ada",
        "character_name": "HESPER",
        "create_date": "2025-01-01@10h00m00s",
        "chat_metadata": {"integrity": "abc-123", "note_prompt": "", "custom": {"x": 1}},
    }
    messages = [
        {
            "name": "HESPER",
            "is_user": False,
            "send_date": "2025-01-01T10:00:00.000Z",
            "mes": "Wake up.",
            "swipe_id": 1,
            "swipes": ["Hello.", "Wake up."],
            "swipe_info": [{"send_date": "a", "extra": {}}, {"send_date": "b", "extra": {}}],
            "extra": {},
        },
        {
            "name": "Ada",
            "is_user": True,
            "send_date": "2025-01-01T10:01:00.000Z",
            "mes": "Where am I?",
            "extra": {"note": 1},
        },
    ]
    source = tmp_path / "HESPER - first.jsonl"
    source.write_text("\n".join(json.dumps(x, separators=(",", ":")) for x in [header, *messages]))
    done = run_parlor(_isolated_home, "import", str(source))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported chat" in done.stdout
    out = tmp_path / "export"
    exported = run_parlor(_isolated_home, "export", "chats", "HESPER", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    files = sorted(out.glob("*.jsonl"))
    assert len(files) == 1
    back = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert back[0]["chat_metadata"] == header["chat_metadata"]
    assert back[1]["swipes"] == ["Hello.", "Wake up."] and back[1]["swipe_id"] == 1
    assert back[2]["mes"] == "Where am I?" and back[2]["extra"] == {"note": 1}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(header) + "\n{not json\n")
    failed = run_parlor(_isolated_home, "import", str(bad))
    assert failed.returncode == 1 and f"{bad}:2" in failed.stdout
