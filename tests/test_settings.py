"""Settings: options beat LANTERN_* variables beat defaults; unsafe network settings are refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lantern_studio.engines.settings import Settings, SettingsError, apply_process_environment, is_loopback


def options(**values):
    base = dict(project=None, models_dir=None, device=None, host=None, port=None, share=False, auth=None,
                no_browser=False)
    return SimpleNamespace(**{**base, **values})


def test_defaults_live_under_the_home(tmp_path):
    s = Settings.resolve(options(), environ={"LANTERN_HOME": str(tmp_path)})
    assert s.host == "127.0.0.1" and s.port == 7860 and s.device == "auto"
    assert s.project_dir == tmp_path / "projects" / "default"
    assert s.models_dir == tmp_path / "models"
    assert s.temp_dir == tmp_path / "tmp"


def test_environment_beats_defaults_and_options_beat_environment(tmp_path):
    env = {"LANTERN_HOME": str(tmp_path), "LANTERN_PORT": "9000", "LANTERN_DEVICE": "cpu",
           "LANTERN_PROJECT": str(tmp_path / "env-project")}
    s = Settings.resolve(options(), environ=env)
    assert (s.port, s.device, s.project_dir) == (9000, "cpu", tmp_path / "env-project")
    s = Settings.resolve(options(port=9100, project=str(tmp_path / "cli")), environ=env)
    assert (s.port, s.project_dir) == (9100, Path(tmp_path / "cli"))


@pytest.mark.parametrize("values, fragment", [
    (dict(share=True), "--auth"),
    (dict(host="0.0.0.0"), "--auth"),
    (dict(host="192.168.1.5"), "--auth"),
    (dict(auth="nopassword"), "USER:PASSWORD"),
    (dict(device="tpu"), "device"),
    (dict(port=70000), "port"),
])
def test_unsafe_or_invalid_settings_are_refused_with_a_reason(values, fragment):
    with pytest.raises(SettingsError, match=fragment):
        Settings.resolve(options(**values), environ={})


def test_share_and_public_host_are_allowed_with_auth():
    s = Settings.resolve(options(host="0.0.0.0", share=True, auth="ana:secret"), environ={})
    assert s.auth == ("ana", "secret") and s.share


@pytest.mark.parametrize("host, expected", [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("example.com", False)])
def test_loopback_detection(host, expected):
    assert is_loopback(host) is expected


def test_process_environment_keeps_the_studio_offline_and_owns_gradio_temp(tmp_path):
    s = Settings.resolve(options(), environ={"LANTERN_HOME": str(tmp_path)})
    env: dict[str, str] = {}
    apply_process_environment(s, env)
    assert env["GRADIO_TEMP_DIR"] == str(tmp_path / "tmp")
    assert env["HF_HUB_OFFLINE"] == "1"
    env = {"LANTERN_ALLOW_DOWNLOADS": "1"}
    apply_process_environment(s, env)
    assert "HF_HUB_OFFLINE" not in env
