"""``parlor import / export / list / prompt`` end to end: in process, and as subprocesses."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import commands
from app.cards import read_card
from app.chat.imports import Importer, ImportResult
from app.cli import main
from app.context import AppContext, build_context
from app.engine.fake import FakeBackend
from app.prompt.itemize import STORY_SO_FAR_LABEL
from app.settings import Settings
from app.storage.types import AuthorNoteSettings, ChatSettings
from tests.paths import REPO_ROOT, SILLYTAVERN
from tests.servers import run_parlor


class Output:
    """What one in-process ``parlor`` command returned and printed."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def parlor(capsys: pytest.CaptureFixture[str], *args: str) -> Output:
    """Run ``parlor ARGS`` in this process (``app.cli.main``) and capture its output."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Output(code, captured.out, captured.err)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    """Commands get the scripted backend instead of loading SmolLM2 (tokens = code points)."""
    backend = FakeBackend(n_ctx=16384)

    def open_with_fake(settings: Settings, *, needs_model: bool) -> AppContext:
        context = build_context(settings, load_model=False)
        context.models.use(backend)
        return context

    monkeypatch.setattr(commands, "open_context", open_with_fake)
    return backend


@pytest.fixture
def app(fake_model: FakeBackend) -> Iterator[AppContext]:
    """The app on the test's data folder, beside the commands, with the same backend."""
    context = build_context(Settings.load(), load_model=False)
    context.models.use(fake_model)
    yield context
    context.close()


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
    assert done.returncode == 1  # index.json is SillyTavern's list of its bundled files
    assert all("index.json" in line for line in failed), failed
    deepseek = SILLYTAVERN / "reasoning" / "DeepSeek.json"  # the built-in template
    assert f"skipped {deepseek}: already there: reasoning template 'DeepSeek'" in lines
    kinds = {line.split()[1] for line in imported}
    assert kinds == {"card", "lorebook", "preset", "template", "settings"}
    assert any("'Seraphina'" in line for line in imported)
    assert "[####" not in done.stderr  # the progress bar is for terminals only
    assert f"{len(imported)} imported, {len(failed)} failed" in done.stderr
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


def test_an_empty_path_imports_nothing(_isolated_home: Path) -> None:
    """An unset shell variable (``parlor import "$CHAT"``) once imported the current
    folder, as ``Path("")`` is ``.``: here, the repository's cards and presets."""
    done = run_parlor(_isolated_home, "import", "")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "parlor: error: PATH: an empty path (a shell variable that was not set?)"
    ]
    listed = run_parlor(_isolated_home, "list", "characters").stdout.splitlines()
    assert len(listed) == 3  # the starter cast only


# -- parlor prompt --chat ----------------------------------------------------------


def ysolde_chat(app: AppContext, *, note: str = "[Note: it rains all day.]") -> int:
    """A stored chat with Ysolde (greeting only) and an author's note at depth 0."""
    chat = app.chat.new_chat(app.library.find("Ysolde Marrow").id)
    settings = ChatSettings(author_note=AuthorNoteSettings(text=note, depth=0))
    app.stores.chats.update_settings(chat.id, settings)
    return chat.id


def test_prompt_for_a_stored_chat_is_what_send_sends(
    app: AppContext, fake_model: FakeBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    chat_id = ysolde_chat(app)
    message = "Take me to the Drowned Library, {{char}}."
    shown = parlor(capsys, "prompt", "--chat", str(chat_id), "--message", message)
    assert shown.code == 0, shown.err
    assert "Take me to the Drowned Library, Ysolde Marrow." in shown.out  # macros as on send
    assert "[Note: it rains all day.]" in shown.out  # the author's note
    assert "The Drowned Library: seven floors" in shown.out  # lore the new message triggers
    count, fmt = shown.err.strip().split(" tokens ")
    assert int(count) == len(shown.out) and fmt.startswith("(")  # the fake counts code points
    assert len(app.stores.chats.active_path(chat_id)) == 1  # the message was not stored
    list(app.chat.send(chat_id, message))
    assert fake_model.requests[-1].prompt_text == shown.out


def test_prompt_without_a_message_is_the_next_reply_after_the_stored_path(
    app: AppContext, fake_model: FakeBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    chat_id = ysolde_chat(app)
    fake_model.enqueue(["The lantern gutters."])
    list(app.chat.send(chat_id, "Hello."))
    shown = parlor(capsys, "prompt", "--chat", str(chat_id))
    assert shown.code == 0, shown.err
    list(app.chat.send(chat_id, ""))  # another reply, after the stored one
    assert fake_model.requests[-1].prompt_text == shown.out


def test_prompt_finds_a_chat_by_title_and_lists_the_ids_of_a_shared_title(
    app: AppContext, fake_model: FakeBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ysolde_chat(app)
    app.stores.chats.rename(first, "Harbour walk")
    by_title = parlor(capsys, "prompt", "--chat", "harbour WALK")
    assert by_title.code == 0 and by_title.out == parlor(capsys, "prompt", "--chat", str(first)).out
    second = ysolde_chat(app)
    app.stores.chats.rename(second, "Harbour walk")
    shared = parlor(capsys, "prompt", "--chat", "Harbour walk")
    assert shared.code == 1 and shared.out == ""
    assert shared.err.count("\n") == 1
    assert f"ids {first}, {second}" in shared.err or f"ids {second}, {first}" in shared.err
    missing = parlor(capsys, "prompt", "--chat", "No such chat")
    assert missing.code == 1
    assert missing.err == "parlor: error: no chat named 'No such chat'\n"


def test_prompt_speaker_must_be_the_chats_character(
    app: AppContext, fake_model: FakeBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    chat_id = ysolde_chat(app)
    right = parlor(capsys, "prompt", "--chat", str(chat_id), "--speaker", "ysolde marrow")
    assert right.code == 0, right.err
    wrong = parlor(capsys, "prompt", "--chat", str(chat_id), "--speaker", "HESPER")
    assert wrong.code == 1 and wrong.out == ""
    assert wrong.err.count("\n") == 1 and "'HESPER'" in wrong.err and "Ysolde Marrow" in wrong.err


def test_prompt_takes_a_chat_or_a_character_not_both(
    app: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["prompt"], ["prompt", "--chat", "1", "--character", "HESPER"]):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        assert "--chat" in capsys.readouterr().err


def test_prompt_breakdown_counts_every_part(
    app: AppContext, fake_model: FakeBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    chat_id = ysolde_chat(app)
    shown = parlor(
        capsys, "prompt", "--chat", str(chat_id), "--message", "The library?", "--breakdown"
    )
    assert shown.code == 0, shown.err
    lines = shown.err.strip().splitlines()
    total = int(lines[0].split(" tokens")[0])
    parts = {line[9:]: int(line[:7]) for line in lines[1:]}
    assert {"Story string", "World Info", "Chat history"} <= set(parts), lines
    assert "Author's note and in-chat injections" in parts
    assert sum(parts.values()) == total == len(shown.out)  # the fake counts code points


def test_prompt_breakdown_shows_what_long_term_memory_costs(
    app: AppContext, fake_model: FakeBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    chat_id = ysolde_chat(app)
    fact = "The lighthouse keeper owes Ysolde a favour."
    app.services.memory.add_fact(chat_id, fact)
    shown = parlor(capsys, "prompt", "--chat", str(chat_id), "--breakdown")
    assert shown.code == 0, shown.err
    lines = shown.err.strip().splitlines()
    total = int(lines[0].split(" tokens")[0])
    parts = {line[9:]: int(line[:7]) for line in lines[1:]}
    story_so_far = f"[Facts to remember:\n- {fact}\n]"
    assert story_so_far in shown.out
    assert parts[STORY_SO_FAR_LABEL] == len(story_so_far), lines  # not in the story string
    assert sum(parts.values()) == total == len(shown.out)


# -- parlor import -----------------------------------------------------------------


class Terminal(io.StringIO):
    """stdout and stderr of a terminal: one screen that both write to."""

    def isatty(self) -> bool:
        return True


def visible_lines(screen: str) -> list[str]:
    """Each line as a terminal shows it: what follows the last carriage return."""
    return [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in screen.split("\n")]


def card_file(folder: Path, name: str) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"name": name, "first_mes": f"I am {name}."}))
    return path


def test_import_progress_bar_and_item_lines_never_share_a_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("Ann", "Bea", "Cid"):
        card_file(tmp_path, name)
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setattr("sys.stderr", screen)
    assert main(["import", str(tmp_path)]) == 0
    shown = [line for line in visible_lines(screen.getvalue()) if line]
    items = [line for line in shown if "imported card" in line]
    assert len(items) == 3
    assert all(line.startswith("imported card ") for line in items), shown
    assert not any(line.startswith("[") for line in shown), shown  # the bar is cleared at the end
    assert "[" + "#" * 30 + "] 3/3" in screen.getvalue()  # …after it was drawn


def test_import_progress_bar_is_not_written_into_a_pipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("Ann", "Bea"):
        card_file(tmp_path, name)
    done = parlor(capsys, "import", str(tmp_path))
    assert done.code == 0
    assert "\r" not in done.err and "[#" not in done.err
    assert done.err == "2 imported, 0 failed\n"


def test_a_deeply_nested_json_fails_alone_and_the_folder_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card_file(tmp_path, "Ann")
    deep = tmp_path / "Bea.json"
    deep.write_text("[" * 50_000)
    card_file(tmp_path, "Cid")
    done = parlor(capsys, "import", str(tmp_path))
    assert done.code == 1
    assert "imported card 'Ann'" in done.out and "imported card 'Cid'" in done.out
    failed = [line for line in done.out.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and failed[0].startswith(f"failed: {deep}: "), failed
    assert "Traceback" not in done.out + done.err
    alone = parlor(capsys, "import", str(deep))
    assert alone.code == 1 and alone.out.startswith(f"failed: {deep}: ")
    assert alone.out.count("\n") == 1 and "Traceback" not in alone.err


def test_any_unexpected_error_of_one_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, bea = card_file(tmp_path, "Ann"), card_file(tmp_path, "Bea")
    real = Importer.import_file

    def flaky(self: Importer, path: Path, *, character: str | None = None) -> ImportResult:
        if path == ann:
            raise ValueError("a bug somewhere\nwith a second line")
        return real(self, path, character=character)

    monkeypatch.setattr(Importer, "import_file", flaky)
    done = parlor(capsys, "import", str(tmp_path))
    assert done.code == 1
    assert f"failed: {ann}: ValueError: a bug somewhere\n" in done.out
    assert f"imported card 'Bea' from {bea}" in done.out


# -- parlor export -----------------------------------------------------------------


def test_export_into_a_folder_names_the_file_after_the_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = parlor(capsys, "export", "character", "Ysolde Marrow", "-o", str(tmp_path))
    assert done.code == 0, done.err
    card = tmp_path / "Ysolde Marrow.png"
    assert done.out == f"wrote {card}\n" and read_card(card).name == "Ysolde Marrow"
    new_folder = tmp_path / "new" / "cards"
    as_json = parlor(
        capsys, "export", "character", "HESPER", "--format", "json", "-o", f"{new_folder}/"
    )
    assert as_json.code == 0 and read_card(new_folder / "HESPER.json").name == "HESPER"
    preset = parlor(capsys, "export", "preset", "Euryale", "-o", str(tmp_path))
    assert preset.code == 0 and json.loads((tmp_path / "Euryale.json").read_text())["temp"] == 1.17


def test_the_characters_page_and_export_name_a_card_file_alike(
    app: AppContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = 'Mira\'s "Best": v2.'
    made = app.services.characters.create({"name": name, "first_mes": "Hi."})
    page_name = app.services.characters.export(made.id, "png").file_name
    done = parlor(capsys, "export", "character", name, "-o", f"{tmp_path / 'out'}/")
    assert done.code == 0, done.err
    files = [p.name for p in (tmp_path / "out").iterdir()]
    assert files == [page_name] == ["Mira's _Best_ v2.png"]


def test_export_to_a_path_that_cannot_be_written_is_one_line(
    app: AppContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app.chat.new_chat(app.library.find("HESPER").id)
    target = tmp_path / "missing" / "card.png"
    done = parlor(capsys, "export", "character", "HESPER", "-o", str(target))
    assert done.code == 1
    assert done.err == f"parlor: error: {target}: No such file or directory\n"
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    chats = parlor(capsys, "export", "chats", "HESPER", "-o", str(a_file))
    assert chats.code == 1 and chats.err.startswith(f"parlor: error: {a_file}: ")
    assert chats.err.count("\n") == 1


# -- help --------------------------------------------------------------------------

SERVER_ONLY_FLAGS = ("--host", "--port", "--api-key", "--inbrowser", "--remote-mode")
MODEL_FLAGS = ("--model", "--models-dir", "--n-ctx", "--n-gpu-layers", "--threads")


def help_of(capsys: pytest.CaptureFixture[str], command: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_each_command_shows_only_its_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = help_of(capsys, "prompt")
    for flag in ("--chat", "--character", "--speaker", "--breakdown", "--data-dir", *MODEL_FLAGS):
        assert flag in prompt
    for command in ("prompt", "import", "export", "list"):
        text = help_of(capsys, command)
        assert "--data-dir" in text
        for flag in SERVER_ONLY_FLAGS:
            assert not has_flag(text, flag), (command, flag)
        if command != "prompt":
            assert not has_flag(text, "--n-ctx") and not has_flag(text, "--model"), command


def has_flag(help_text: str, flag: str) -> bool:
    """Whether ``flag`` itself (not a longer flag it begins) is in the help text."""
    return re.search(re.escape(flag) + r"(?![\w-])", help_text) is not None
