"""Who may use the UI's own API (issue 19, item 1), against real servers.

- Bound beyond loopback, Parlor refuses to start without a UI password and an API key;
  with them, every ``/gradio_api`` route and ``/v1`` needs the login or the key.
- A file input takes only files uploaded through this server, never a server path.
- Bound to loopback, a request for another host name (DNS rebinding) and a cross-site
  request to the UI's API are refused.
- A ``config.yaml`` holding a secret is made readable by its owner only.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, run_parlor, running, serve_parlor

pytestmark = pytest.mark.slow

#: No model: these servers only need to answer HTTP.
NO_MODEL = ("--model", "/nonexistent/model.gguf", "--threads", "1")
PASSWORD = "correct horse battery staple"
API_KEY = "sk-parlor-test"


@pytest.fixture(scope="module")
def loopback_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server on 127.0.0.1 with no credentials, and its data folder."""
    home = tmp_path_factory.mktemp("loopback")
    log = home.parent / f"{home.name}.log"
    for base in serve_parlor(home, list(NO_MODEL), log):
        yield base, home


@pytest.fixture(scope="module")
def exposed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server on every interface, with a UI password and an API key in config.yaml."""
    home = tmp_path_factory.mktemp("exposed")
    config = home / "config.yaml"
    config.write_text(f"ui_password: {PASSWORD}\napi_key: {API_KEY}\n")
    config.chmod(0o644)
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--host", "0.0.0.0", "--port", str(port),
               "--data-dir", str(home), *NO_MODEL]  # fmt: skip
    log = home.parent / f"{home.name}.log"
    base = f"http://127.0.0.1:{port}"
    with running("parlor", command, f"{base}/healthz", log):
        yield base, home


def test_serving_beyond_loopback_needs_credentials(tmp_path: Path) -> None:
    done = run_parlor(tmp_path, "serve", "--host", "0.0.0.0", "--port", str(free_port()),
                      *NO_MODEL, timeout=120)  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "--ui-password" in lines[0] and "--api-key" in lines[0]


def test_an_exposed_server_wants_the_login_everywhere(exposed_server: tuple[str, Path]) -> None:
    base, home = exposed_server
    with httpx.Client(base_url=base, timeout=30) as client:
        for path in ("/gradio_api/info", "/config"):
            assert client.get(path).status_code == 401
        call = client.post("/gradio_api/call/save_config", json={"data": ["host: 0.0.0.0"]})
        assert call.status_code == 401
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {API_KEY}"}).is_success
        wrong = client.post("/login", data={"username": "parlor", "password": "guess"})
        assert wrong.status_code >= 400
        right = client.post("/login", data={"username": "parlor", "password": PASSWORD})
        assert right.is_success
        assert client.get("/gradio_api/info").is_success  # the session cookie now
    mode = stat.S_IMODE((home / "config.yaml").stat().st_mode)
    assert mode == 0o600


#: Files planted on the server, outside the upload folder, one per file input.
PLANTED = {
    "/import_files": ("planted-card.json", {"spec": "chara_card_v2", "spec_version": "2.0",
                      "data": {"name": "Planted", "first_mes": "PLANTED"}}),
    "/import_world": ("planted-world.json", {"name": "Planted book", "entries": {"0": {
                      "uid": 0, "key": ["x"], "content": "PLANTED"}}}),
    "/import_files_1": ("planted-preset.json", {"temp": 0.5, "name": "Planted"}),
    "/import_chats": ("planted-chat.jsonl", None),
}  # fmt: skip


def _plant(folder: Path, endpoint: str) -> Path:
    name, content = PLANTED[endpoint]
    path = folder / name
    if content is None:
        header = {"user_name": "You", "character_name": "HESPER", "chat_metadata": {}}
        message = {"name": "HESPER", "is_user": False, "mes": "PLANTED"}
        path.write_text(json.dumps(header) + "\n" + json.dumps(message) + "\n")
    else:
        path.write_text(json.dumps(content))
    return path


def _call(client: httpx.Client, endpoint: str, parameters: list[dict[str, object]],
          planted: Path) -> None:  # fmt: skip
    file_data = {"path": str(planted), "meta": {"_type": "gradio.FileData"}}
    data: list[object] = []
    for parameter in parameters:
        kind = json.dumps(parameter["type"])
        if parameter.get("component") == "File":
            data.append([file_data] if '"array"' in kind else file_data)
        elif parameter.get("component") == "Textbox":
            data.append("")
        else:
            data.append([] if '"array"' in kind else None)
    call = client.post(f"/gradio_api/call{endpoint}", json={"data": data})
    if call.is_success:  # the refusal comes as the event's error
        client.get(f"/gradio_api/call{endpoint}/{call.json()['event_id']}")


def test_a_file_input_never_takes_a_server_path(
    loopback_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, home = loopback_server
    with httpx.Client(base_url=base, timeout=60) as client:
        endpoints = client.get("/gradio_api/info").json()["named_endpoints"]
        for endpoint in PLANTED:
            assert endpoint in endpoints, f"{endpoint}: the file input to probe is gone"
            _call(client, endpoint, endpoints[endpoint]["parameters"], _plant(tmp_path, endpoint))
    with sqlite3.connect(home / "parlor.db") as db:
        planted = [
            db.execute("SELECT count(*) FROM characters WHERE name = 'Planted'").fetchone(),
            db.execute("SELECT count(*) FROM lorebooks WHERE name = 'Planted book'").fetchone(),
            db.execute("SELECT count(*) FROM messages WHERE content = 'PLANTED'").fetchone(),
        ]
    assert planted == [(0,), (0,), (0,)]
    assert not list((home / "presets").glob("Planted*"))


def test_rebinding_and_cross_site_requests_are_refused(loopback_server: tuple[str, Path]) -> None:
    base, _ = loopback_server
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/", headers={"Host": "attacker.example"}).status_code == 403
        refused = client.get("/v1/models", headers={"Host": "attacker.example"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        cross = client.post(
            "/gradio_api/call/save_config",
            json={"data": ["host: 0.0.0.0"]},
            headers={"Origin": "https://attacker.example"},
        )
        assert cross.status_code == 403
        assert client.get("/", headers={"Host": "localhost"}).is_success
        same = client.get("/gradio_api/info", headers={"Origin": base})
        assert same.is_success
