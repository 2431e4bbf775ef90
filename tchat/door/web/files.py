"""
The web door's files: the page's, read once at start from
``tchat/web/static`` and served by exact path only (L{StaticFiles}), and
``/protocol.json``, made once at start from L{tchat.commands.protocol_table};
with the headers every response of the web door carries
(L{SECURITY_HEADERS}).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.web.resource import Resource
from twisted.web.server import Request

from tchat.commands import protocol_table


SERVER_HEADER = b"tchat"


# Sent with every file and every error page. connect-src 'self' covers ws:
# and wss: to this same host and port (CSP level 3; Chromium, Firefox, Safari).
SECURITY_HEADERS: dict[bytes, bytes] = {
    b"content-security-policy": (
        b"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
}


_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}


# The server's command table, for the page (commands.js fetches it).
PROTOCOL_PATH = "/protocol.json"


# -- the page's files --------------------------------------------------------


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: bytes


def static_file(body: bytes, content_type: str) -> StaticFile:
    """A file to serve, with its ETag (a hash of the body)."""
    return StaticFile(body, content_type, b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"')


def protocol_file() -> StaticFile:
    """
    ``/protocol.json``: L{tchat.commands.protocol_table}, the one command
    table, as the page fetches it to read what people type.
    """
    body = json.dumps(protocol_table(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return static_file(body, _TYPES[".json"])


def static_folder() -> Any:
    """The package's ``tchat/web/static`` folder (a Traversable)."""
    return resources.files("tchat.web") / "static"


def load_static(folder: Any = None) -> dict[str, StaticFile]:
    """
    Every regular file under ``folder`` (default: the package's static
    folder), keyed by its URL path (``/app.js``, ``/icons/x.svg``). Symbolic
    links and hidden files are left out, so nothing outside the folder can be
    served even if someone links it in.
    """
    folder = static_folder() if folder is None else folder
    files: dict[str, StaticFile] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name.startswith("."):
                continue
            if isinstance(child, Path) and child.is_symlink():
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.is_file():
                body = child.read_bytes()
                kind = _TYPES.get(os.path.splitext(child.name)[1].lower())
                if kind is None:
                    kind = mimetypes.guess_type(child.name)[0] or "application/octet-stream"
                files[prefix + child.name] = static_file(body, kind)

    if folder.is_dir():
        walk(folder, "/")
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    if "/admin.html" in files:
        files["/admin"] = files["/admin.html"]  # the admin page (docs/operations.rst)
    return files


def _security_headers(request: Request) -> None:
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)
    request.setHeader(b"server", SERVER_HEADER)


class StaticFiles(Resource):
    """
    The page's files, looked up by exact path in a table made at start.

    A path is percent-decoded once and must then equal a file's path, so
    ``/../x``, ``/%2e%2e/x``, ``/a%2fb`` and ``//etc/passwd`` are simply
    not found. No directory is ever listed.
    """

    isLeaf = True

    def __init__(self, files: dict[str, StaticFile]) -> None:
        super().__init__()
        self.files = files

    def render(self, request: Request) -> bytes:
        _security_headers(request)
        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.setHeader(b"allow", b"GET, HEAD")
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"method not allowed\n"
        try:
            path = unquote_to_bytes(request.path).decode("utf-8")
        except UnicodeDecodeError:
            path = ""
        found = self.files.get(path)
        if found is None:
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"not found\n"
        request.setHeader(b"content-type", found.content_type.encode())
        # Always ask: after an upgrade the page and its scripts change together.
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"etag", found.etag)
        if request.getHeader(b"if-none-match") == found.etag:
            request.setResponseCode(304)
            return b""
        return found.body
