"""Who may reach a running Parlor: loopback by default, credentials for anything else.

- :func:`check_exposure` refuses to serve beyond this machine without a UI password and
  an API key.
- :func:`protect_config_file` keeps a ``config.yaml`` holding secrets readable by its
  owner only.
- :class:`LocalRequestsMiddleware` stops a web page elsewhere from using the UI's own API:
  bound to loopback, only requests addressed to a loopback name are served (no DNS
  rebinding), and a state-changing request to the UI must come from the UI's own origin
  (no cross-site requests).

The threat model is written down in docs/security.md.
"""

from __future__ import annotations

import ipaddress
import logging
import stat
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.settings import CONFIG_FILE_NAME, SECRET_SETTINGS, Settings, SettingsError

log = logging.getLogger(__name__)

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
#: Paths of the UI's own API (Gradio's), which only the UI's pages may call.
_UI_API_PREFIXES = ("/gradio_api", "/login", "/logout")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, maybe ``[::1]``) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without a UI password and an API key."""
    if is_loopback(settings.host):
        return
    missing = [
        flag
        for flag, value in (
            ("--ui-password", settings.ui_password),
            ("--api-key", settings.api_key),
        )
        if not value
    ]
    if missing:
        raise SettingsError(
            f"--host {settings.host}",
            "serving beyond this machine needs "
            + " and ".join(missing)
            + " (or ui_password / api_key in config.yaml)",
        )


def protect_config_file(data_dir: Path) -> None:
    """Make a ``config.yaml`` that holds a secret readable and writable by its owner only."""
    path = data_dir / CONFIG_FILE_NAME
    if not path.is_file() or not _holds_secret(path):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)
        log.warning("%s holds a secret: made it readable by its owner only (was %o)", path, mode)


def _holds_secret(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and any(data.get(key) for key in SECRET_SETTINGS)


def _refusal(path: str, problem: str) -> Response:
    """A 403 in the shape the caller reads: the API's JSON error, else plain text."""
    if path.startswith(_UI_API_PREFIXES) or path in ("", "/"):
        return PlainTextResponse(problem, status_code=403)
    error = {"message": problem, "type": "permission_error", "param": None, "code": "forbidden"}
    return JSONResponse({"error": error}, status_code=403)


class LocalRequestsMiddleware:
    """Serves only requests a user of this Parlor can have made.

    ``loopback_only``: the Host header must name this machine (a rebinding DNS name is
    refused).  Always: a state-changing request to the UI's API must carry no
    ``Origin`` or the server's own.
    """

    def __init__(self, app: ASGIApp, *, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        problem = self._problem(scope, headers, host)
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _refusal(str(scope.get("path", "")), problem)(scope, receive, send)

    def _problem(self, scope: Scope, headers: Headers, host: str) -> str | None:
        hostname = urlsplit(f"//{host}").hostname or ""
        if self.loopback_only and not is_loopback(hostname):
            return f"Parlor answers only to this machine's own address, not {hostname!r}"
        path = str(scope.get("path", ""))
        method = str(scope.get("method", "GET"))
        if method in _SAFE_METHODS or not path.startswith(_UI_API_PREFIXES):
            return None
        origin = headers.get("origin")
        if origin is None:  # not a browser page: a local program, or a same-origin GET
            return None
        if urlsplit(origin).netloc.lower() != host.lower():
            return "cross-site requests to the UI are refused"
        return None
