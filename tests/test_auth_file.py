"""``--auth-file`` starts a studio that asks for the login, with the password nowhere on its command line."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from lantern_testkit import ROOT, SERVER_START_TIMEOUT_S, free_port, wait_for_http

PASSWORD = "lantern-pw-7c1e"


def _status(url: str, data: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_auth_file_keeps_the_password_out_of_ps_and_the_login_works(tmp_path):
    login = tmp_path / "login.txt"
    login.write_text(f"ana:{PASSWORD}\n")
    login.chmod(0o600)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp_path / "studio.log"
    env = {**os.environ, "LANTERN_HOME": str(tmp_path), "LANTERN_NO_BROWSER": "1"}
    with open(log_path, "w") as log:
        studio = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--port", str(port), "--auth-file",
                                   str(login)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(url, studio, log_path, SERVER_START_TIMEOUT_S)
            command_line = Path(f"/proc/{studio.pid}/cmdline").read_bytes()
            assert PASSWORD.encode() not in command_line and str(login).encode() in command_line
            assert _status(url + "config") == 401                      # no login, no config
            form = urllib.parse.urlencode({"username": "ana", "password": "wrong"}).encode()
            assert _status(url + "login", form) == 400
            form = urllib.parse.urlencode({"username": "ana", "password": PASSWORD}).encode()
            assert _status(url + "login", form, {"Origin": url.rstrip("/")}) == 200
        finally:
            studio.terminate()
            studio.wait(30)
