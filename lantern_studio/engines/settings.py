"""Studio settings: command-line options first, then ``LANTERN_*`` environment variables, then defaults.

Where the data goes:

- ``LANTERN_HOME`` (default ``~/LanternStudio``) holds ``projects/``, ``models/``, ``tmp/`` and
  ``bench-history.jsonl``. Each run keeps its temporary files (Gradio's uploads and outputs, pydub's and
  ffmpeg's scratch files) in its own ``tmp/run-<pid>`` and deletes only that folder.
- ``--project DIR`` / ``LANTERN_PROJECT`` opens that project folder (default ``<home>/projects/default``).
- ``--models-dir DIR`` / ``LANTERN_MODELS_DIR`` is where local model weights are looked for first
  (default ``<home>/models``); the Hugging Face cache (``HF_HOME``) is searched after it.
- ``--auth-file FILE`` / ``LANTERN_AUTH_FILE`` (a file readable by its owner only, holding ``USER:PASSWORD``) or
  ``LANTERN_AUTH`` give the login without putting the password on the command line, where ``ps`` shows it.
- ``--allowed-host NAME`` / ``LANTERN_ALLOWED_HOSTS`` (comma-separated) are the names, besides the bound address
  and loopback, that browsers may use in the ``Host`` header to reach the studio.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

DEVICES = ("auto", "cpu", "cuda", "mps")
# an auth file holds one short line; anything larger is not an auth file
MAX_AUTH_FILE_BYTES = 4096
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?$")


class SettingsError(ValueError):
    """A setting that cannot be used; the message says what to do instead."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    home: Path
    project_dir: Path
    models_dir: Path
    device: str = "auto"
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    auth: tuple[str, str] | None = field(default=None, repr=False)
    open_browser: bool = True
    # host names (besides the bound address and loopback) that requests may carry in their Host header
    allowed_hosts: tuple[str, ...] = ()

    @property
    def projects_dir(self) -> Path:
        return self.home / "projects"

    @property
    def temp_root(self) -> Path:
        """``<home>/tmp``: shared with the user; the studio only ever deletes its own ``run-<pid>`` folders in it."""
        return self.home / "tmp"

    @property
    def temp_dir(self) -> Path:
        """This process's own temporary folder, ``<home>/tmp/run-<pid>`` (made by ``engines.run_temp.claim``)."""
        return self.temp_root / f"run-{os.getpid()}"

    @property
    def bench_history(self) -> Path:
        return self.home / "bench-history.jsonl"

    @classmethod
    def resolve(cls, options: Any = None, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from parsed options (any object with the option attributes), then the environment."""
        env = os.environ if environ is None else environ

        def pick(option: str, variable: str, default: Any) -> Any:
            value = getattr(options, option, None) if options is not None else None
            if value not in (None, False, ""):
                return value
            if env.get(variable, "") != "":
                return env[variable]
            return default

        home = Path(pick("home", "LANTERN_HOME", Path.home() / "LanternStudio")).expanduser()
        project = Path(pick("project", "LANTERN_PROJECT", home / "projects" / "default")).expanduser()
        models = Path(pick("models_dir", "LANTERN_MODELS_DIR", home / "models")).expanduser()
        device = str(pick("device", "LANTERN_DEVICE", "auto"))
        host = str(pick("host", "LANTERN_HOST", "127.0.0.1"))
        port_text = pick("port", "LANTERN_PORT", 7860)
        share = bool(getattr(options, "share", False)) or env.get("LANTERN_SHARE", "") in ("1", "true", "yes")
        auth_text = pick("auth", "LANTERN_AUTH", None)
        auth_file = pick("auth_file", "LANTERN_AUTH_FILE", None)
        if auth_file is not None:
            if getattr(options, "auth", None):
                raise SettingsError("give the login once: --auth or --auth-file, not both (prefer --auth-file, "
                                    "which keeps the password out of `ps`)")
            auth_text = read_auth_file(auth_file)
        allowed_hosts = _allowed_hosts(getattr(options, "allowed_host", None) or
                                       [h for h in env.get("LANTERN_ALLOWED_HOSTS", "").split(",") if h.strip()])
        open_browser = not bool(getattr(options, "no_browser", False)) and env.get("LANTERN_NO_BROWSER", "") == ""

        if device not in DEVICES:
            raise SettingsError(f"device {device!r} is not one of {', '.join(DEVICES)}; pass --device auto to let "
                                "the studio choose")
        try:
            port = int(port_text)
        except (TypeError, ValueError):
            raise SettingsError(f"port {port_text!r} is not a number; pass --port 7860 or another free port") from None
        if not 0 < port < 65536:
            raise SettingsError(f"port {port} is outside 1-65535; pass --port 7860 or another free port")
        auth = None
        if auth_text is not None:
            user, sep, password = str(auth_text).partition(":")
            if not sep or not user or not password:
                raise SettingsError("--auth must look like USER:PASSWORD, both parts non-empty")
            auth = (user, password)
        if share and auth is None:
            raise SettingsError("--share publishes the studio on the internet; it is refused unless a login is "
                                "also given: --auth-file FILE (holding USER:PASSWORD) or --auth USER:PASSWORD")
        if not is_loopback(host) and auth is None:
            raise SettingsError(f"--host {host} makes the studio reachable from other machines; add --auth-file "
                                "FILE (holding USER:PASSWORD) or --auth USER:PASSWORD, or leave --host out to stay "
                                "on 127.0.0.1")
        return cls(home=home, project_dir=project, models_dir=models, device=device, host=host, port=port,
                   share=share, auth=auth, open_browser=open_browser, allowed_hosts=allowed_hosts)

    def with_changes(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


def read_auth_file(path: str | os.PathLike) -> str:
    """The ``USER:PASSWORD`` line of an auth file (the first non-empty line).

    Refused with SettingsError: a missing file, anything but a regular file (a FIFO would block the start),
    a file over ``MAX_AUTH_FILE_BYTES``, and a file that other users may read (``chmod 600`` fixes it).
    """
    file = Path(path).expanduser()
    try:
        info = file.stat()
    except OSError as error:
        raise SettingsError(f"--auth-file {file}: cannot read it ({error.strerror}); give a file holding "
                            "USER:PASSWORD") from None
    if not stat.S_ISREG(info.st_mode):
        raise SettingsError(f"--auth-file {file} is not a regular file; give a file holding USER:PASSWORD")
    if info.st_size > MAX_AUTH_FILE_BYTES:
        raise SettingsError(f"--auth-file {file} is {info.st_size:,} bytes, more than the {MAX_AUTH_FILE_BYTES:,} "
                            "an auth file may hold; it should hold one USER:PASSWORD line")
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(f"--auth-file {file} can be read by other users; run `chmod 600 {file}` and start "
                            "again")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"--auth-file {file} is not UTF-8 text ({error}); write USER:PASSWORD in it") from None
    for line in lines:
        if line.strip():
            return line.strip()
    raise SettingsError(f"--auth-file {file} is empty; write USER:PASSWORD in it")


def _allowed_hosts(names: list[str]) -> tuple[str, ...]:
    hosts = []
    for raw in names:
        name = str(raw).strip().lower()
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if not _HOST_NAME.match(name):
                raise SettingsError(f"--allowed-host {raw!r} is not a host name or address; give a bare name such "
                                    "as studio.local (no scheme, port or path)") from None
        hosts.append(name.rstrip("."))
    return tuple(dict.fromkeys(hosts))


def apply_process_environment(settings: Settings, environ: dict | None = None) -> None:
    """Set the variables libraries read at import time, before they are imported.

    Gradio writes uploads and outputs under the studio's own temp folder (cleaned on exit); nothing phones
    home; Hugging Face libraries stay offline unless the user set ``LANTERN_ALLOW_DOWNLOADS=1``.
    """
    env = os.environ if environ is None else environ
    env.setdefault("GRADIO_TEMP_DIR", str(settings.temp_dir))
    env.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if env.get("LANTERN_ALLOW_DOWNLOADS", "") not in ("1", "true", "yes"):
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
