"""Studio settings: command-line options first, then ``LANTERN_*`` environment variables, then defaults.

Where the data goes:

- ``LANTERN_HOME`` (default ``~/LanternStudio``) holds ``projects/``, ``models/``, ``tmp/`` (Gradio's
  upload and output folder, owned and cleaned by the studio) and ``bench-history.jsonl``.
- ``--project DIR`` / ``LANTERN_PROJECT`` opens that project folder (default ``<home>/projects/default``).
- ``--models-dir DIR`` / ``LANTERN_MODELS_DIR`` is where local model weights are looked for first
  (default ``<home>/models``); the Hugging Face cache (``HF_HOME``) is searched after it.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

DEVICES = ("auto", "cpu", "cuda", "mps")


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

    @property
    def projects_dir(self) -> Path:
        return self.home / "projects"

    @property
    def temp_dir(self) -> Path:
        return self.home / "tmp"

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
            raise SettingsError("--share publishes the studio on the internet; it is refused unless --auth "
                                "USER:PASSWORD is also given")
        if not is_loopback(host) and auth is None:
            raise SettingsError(f"--host {host} makes the studio reachable from other machines; add --auth "
                                "USER:PASSWORD, or leave --host out to stay on 127.0.0.1")
        return cls(home=home, project_dir=project, models_dir=models, device=device, host=host, port=port,
                   share=share, auth=auth, open_browser=open_browser)

    def with_changes(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


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
