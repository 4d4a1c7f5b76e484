"""The studio's web surface, guarded in one ASGI middleware in front of Gradio's routes.

- **Host**: every request (page, ``/config``, the API, files, the queue) must name the studio itself in its
  ``Host`` header: loopback (``127.0.0.1``, ``localhost``, ``[::1]``), the bound address, or a name the user
  passed with ``--allowed-host``. A web page that rebinds its own name to 127.0.0.1 (DNS rebinding) sends its
  own name, and is refused.
- **Origin**: a state-changing request (any method but GET/HEAD/OPTIONS, and every WebSocket) that carries an
  ``Origin`` must come from the page's own origin. Browsers send ``Origin`` on such requests, so a foreign page
  cannot post to the studio; tools without a browser (gradio_client, curl) send none and are let through.
- **Files**: ``/gradio_api/file=PATH`` serves only files inside a project open in this run (never its
  ``.trash``) or this run's temporary folder (uploads, outputs); never a URL.
- **Uploads**: each upload request is bounded in bytes, and so are the uploads of the last ``max_age_s`` in
  number and bytes; Gradio deletes uploads that old on a timer (``gr.Blocks(delete_cache=...)``), so together
  they bound what uploads can hold on disk (see ``UploadPolicy``).

Nothing here imports Gradio: it is plain ASGI, so it is tested without a browser.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from lantern_studio.engines.devices import format_bytes

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SHARE_DOMAIN = ".gradio.live"
_FILE_ROUTE = re.compile(r"^(?:/gradio_api)?/file(?:=|/)(?P<target>.*)$", re.DOTALL)
_UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/upload/", "/gradio_api/process_recording")
# multipart framing around the files of one upload request: boundaries, part headers
MULTIPART_OVERHEAD_BYTES = 1 << 20


@dataclass(frozen=True)
class UploadPolicy:
    """How much the browser may upload in one run.

    Attributes
    ----------
    max_request_bytes : int
        Largest single upload request (all its files together), bytes.
    max_total_bytes : int
        Most bytes uploaded within ``max_age_s``; further uploads are refused until the oldest ones expire.
    max_uploads : int
        Most upload requests within ``max_age_s``.
    max_age_s : float
        Uploads and outputs older than this are deleted by Gradio's timer.
    sweep_every_s : float
        How often that timer runs.
    """

    max_request_bytes: int = 512 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_uploads: int = 500
    max_age_s: float = 6 * 3600.0
    sweep_every_s: float = 600.0

    @classmethod
    def from_environ(cls, max_request_bytes: int, environ: Mapping[str, str] | None = None) -> "UploadPolicy":
        """Defaults with ``max_request_bytes`` (the studio's upload limit), overridden by
        ``LANTERN_MAX_UPLOADS_BYTES``, ``LANTERN_MAX_UPLOADS`` and ``LANTERN_UPLOAD_MAX_AGE_S``."""
        env = os.environ if environ is None else environ
        values: dict = {"max_request_bytes": int(max_request_bytes)}
        for variable, name, kind in (("LANTERN_MAX_UPLOADS_BYTES", "max_total_bytes", int),
                                     ("LANTERN_MAX_UPLOADS", "max_uploads", int),
                                     ("LANTERN_UPLOAD_MAX_AGE_S", "max_age_s", float)):
            text = env.get(variable, "")
            if text == "":
                continue
            try:
                value = kind(text)
            except ValueError:
                raise ValueError(f"{variable}={text!r} is not a number") from None
            if not value > 0:
                raise ValueError(f"{variable} must be positive, not {text!r}")
            values[name] = value
        if "max_age_s" in values:
            values["sweep_every_s"] = min(cls.sweep_every_s, max(1.0, values["max_age_s"] / 4))
        return cls(**values)

    def delete_cache(self) -> tuple[int, int]:
        """``(frequency_s, age_s)`` for ``gr.Blocks(delete_cache=...)``."""
        return max(1, int(self.sweep_every_s)), max(1, int(self.max_age_s))


def split_host(header: str) -> tuple[str, int | None]:
    """``"Example.COM:7860"`` -> ``("example.com", 7860)``; ``"[::1]:80"`` -> ``("::1", 80)``.
    A malformed header gives ``("", None)``."""
    text = header.strip().lower()
    port_text = ""
    if text.startswith("["):
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return "", None
        port_text = rest[1:]
    else:
        name, _, port_text = text.partition(":") if text.count(":") <= 1 else (text, "", "")
    if port_text and not port_text.isdigit():
        return "", None
    name = name.rstrip(".")
    return name, int(port_text) if port_text else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Which ``Host`` names reach the studio: loopback, the bound address, the user's ``--allowed-host`` names,
    any IP literal when bound to all interfaces (an address cannot be rebound), Gradio's share domain with
    ``--share``."""

    def __init__(self, bound_host: str, allowed_hosts: Iterable[str] = (), *, share: bool = False):
        bound = bound_host.strip("[]").lower()
        self.names = frozenset({*LOOPBACK_NAMES, bound, *(h.lower() for h in allowed_hosts)})
        self.any_ip = bound in ("0.0.0.0", "::")
        self.share = share

    def allows(self, name: str) -> bool:
        if not name:
            return False
        if name in self.names:
            return True
        if self.any_ip and _is_ip(name):
            return True
        return self.share and name.endswith(SHARE_DOMAIN)


def same_origin(origin: str, host_header: str) -> bool:
    """Whether ``Origin`` names the same host and port as the ``Host`` the request was sent to."""
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    default_port = 443 if parts.scheme == "https" else 80
    host_name, host_port = split_host(host_header)
    return (parts.hostname.rstrip(".").lower() == host_name
            and (origin_port or default_port) == (host_port or default_port))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class FilePolicy:
    """Which files ``/gradio_api/file=`` may serve: inside an open project but not its ``.trash``, or inside
    one of ``temp_roots`` (this run's folder). ``project_roots`` is called per request, since windows open
    projects while the studio runs."""

    def __init__(self, project_roots: Callable[[], Iterable[Path]], temp_roots: Iterable[Path]):
        self.project_roots = project_roots
        self.temp_roots = tuple(os.path.realpath(root) for root in temp_roots)

    def allows(self, target: str) -> bool:
        if not target or "\x00" in target or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", target):
            return False
        path = os.path.realpath(os.path.join(os.getcwd(), os.path.expanduser(target)))
        if any(_inside(path, root) for root in self.temp_roots):
            return True
        for root in self.project_roots():
            real_root = os.path.realpath(root)
            if _inside(path, real_root):
                return not _inside(path, os.path.join(real_root, ".trash"))
        return False


class WebGuard:
    """ASGI middleware applying ``HostPolicy``, the same-origin rule, ``FilePolicy`` and ``UploadPolicy``."""

    def __init__(self, app, *, hosts: HostPolicy, files: FilePolicy, uploads: UploadPolicy, studio_url: str):
        self.app = app
        self.hosts = hosts
        self.files = files
        self.uploads = uploads
        self.studio_url = studio_url
        # (monotonic time, bytes) of the uploads accepted within the policy's age; checked and appended with
        # no await in between, so concurrent requests on the event loop cannot both take the last slot
        self._recent_uploads: deque[tuple[float, int]] = deque()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {}
        for key, value in scope.get("headers", ()):
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        refusal = self._refusal(scope, headers)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = f"Lantern Studio: {message}\n".encode("utf-8")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host_header = headers.get("host", "")
        name, _port = split_host(host_header)
        if not self.hosts.allows(name):
            shown = host_header[:80] or "(none)"
            return 403, (f"requests for host {shown!r} are refused, so other web sites cannot reach the studio. "
                         f"Open {self.studio_url}, or start the studio with --allowed-host NAME to use another "
                         "name for this machine")
        method = scope.get("method", "GET").upper()
        if scope["type"] == "websocket" or method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and not same_origin(origin, host_header):
                return 403, (f"a request from the web page at {origin[:80]!r} was refused: only the studio's own "
                             f"page ({self.studio_url}) may change anything")
        path = scope.get("path", "")
        file_route = _FILE_ROUTE.match(path)
        if file_route is not None and not self.files.allows(file_route.group("target")):
            return 404, "that file is not served: only the open project's media (not its trash) is"
        if method == "POST" and path in _UPLOAD_ROUTES:
            return self._upload_refusal(headers)
        return None

    def _upload_refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        length_text = headers.get("content-length", "")
        if not length_text.isdigit():
            return 411, "uploads must state their size (Content-Length); upload the file from the studio's page"
        length = int(length_text)
        policy = self.uploads
        if length > policy.max_request_bytes + MULTIPART_OVERHEAD_BYTES:
            return 413, (f"the upload is {format_bytes(length)}; one upload may be at most "
                         f"{format_bytes(policy.max_request_bytes)}. Trim or compress the file first")
        now = time.monotonic()
        recent = self._recent_uploads
        while recent and now - recent[0][0] > policy.max_age_s:
            recent.popleft()
        count, size = len(recent), sum(n for _, n in recent)
        if count >= policy.max_uploads or size + length > policy.max_total_bytes:
            return 429, (f"{count} upload(s), {format_bytes(size)}, arrived in the last {policy.max_age_s / 3600:g} h; "
                         f"the limits are {policy.max_uploads} uploads and {format_bytes(policy.max_total_bytes)}. "
                         "Uploads that old are deleted automatically; wait, or restart the studio to clear them")
        recent.append((now, length))
        return None
