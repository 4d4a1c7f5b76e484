"""Settings: options beat LANTERN_* variables beat defaults; unsafe network settings are refused."""

from __future__ import annotations

import os
import stat
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
    assert s.temp_root == tmp_path / "tmp"
    assert s.temp_dir == tmp_path / "tmp" / f"run-{os.getpid()}"     # this run's own folder inside it


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
    assert env["GRADIO_TEMP_DIR"] == str(s.temp_dir)
    assert env["HF_HUB_OFFLINE"] == "1"
    env = {"LANTERN_ALLOW_DOWNLOADS": "1"}
    apply_process_environment(s, env)
    assert "HF_HUB_OFFLINE" not in env


def test_auth_file_gives_the_login_without_the_command_line(tmp_path):
    secret = tmp_path / "login"
    secret.write_text("\nana:s3cret pass\n")
    secret.chmod(0o600)
    s = Settings.resolve(options(auth_file=str(secret), host="0.0.0.0"), environ={})
    assert s.auth == ("ana", "s3cret pass")
    s = Settings.resolve(options(), environ={"LANTERN_AUTH_FILE": str(secret), "LANTERN_SHARE": "1"})
    assert s.auth == ("ana", "s3cret pass") and s.share
    s = Settings.resolve(options(), environ={"LANTERN_AUTH": "bo:pw", "LANTERN_HOST": "0.0.0.0"})
    assert s.auth == ("bo", "pw")


def test_bad_auth_files_are_refused_with_what_to_do(tmp_path):
    readable = tmp_path / "readable"
    readable.write_text("ana:secret")
    readable.chmod(0o644)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge"
    huge.write_text("a:" + "b" * 10_000)
    huge.chmod(0o600)
    cases = [(readable, "chmod 600"), (empty, "empty"), (fifo, "not a regular file"), (huge, "bytes"),
             (tmp_path / "missing", "cannot read")]
    for path, fragment in cases:
        with pytest.raises(SettingsError, match=fragment):
            Settings.resolve(options(auth_file=str(path)), environ={})
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(SettingsError, match="not both"):
        Settings.resolve(options(auth_file=str(readable), auth="a:b"), environ={})


def test_allowed_hosts_are_bare_names(tmp_path):
    s = Settings.resolve(options(allowed_host=["Studio.Local", "[::1]", "10.0.0.7"]), environ={})
    assert s.allowed_hosts == ("studio.local", "::1", "10.0.0.7")
    s = Settings.resolve(options(), environ={"LANTERN_ALLOWED_HOSTS": "a.example, b.example"})
    assert s.allowed_hosts == ("a.example", "b.example")
    for bad in ("http://x.example", "x.example:80", "x/y", "*.example", ""):
        with pytest.raises(SettingsError, match="allowed-host"):
            Settings.resolve(options(allowed_host=[bad]), environ={})


def test_help_offers_the_auth_file_and_says_auth_is_visible_in_ps():
    from lantern_testkit import load_launcher

    text = " ".join(load_launcher().build_parser().format_help().split())
    assert "--auth-file FILE" in text and "--allowed-host NAME" in text
    assert "can read it in `ps`" in text
