"""Shared fixtures: a studio server on a free loopback port, and a real headless Chromium driving it.

Browser tests are marked ``browser``. Without Chromium they skip with a reason on a user's machine; under
CI (``CI=true``) a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SERVER_START_TIMEOUT_S = 180
# the project's shared sample inputs sit beside the checkout (../shared/samples), in CI too
SAMPLES_DIR = ROOT.parent / "shared" / "samples"


def run_check_script(name: str, ok_line: str, *, cudasim: bool = False, may_skip: bool = False,
                     timeout: int = 600) -> None:
    """Run ``tests/<name>`` in a fresh interpreter and assert it exits 0 having printed ``ok_line``.

    ``cudasim`` sets NUMBA_ENABLE_CUDASIM=1 for it (numba reads that at import, hence the subprocess);
    with ``may_skip``, exit status 3 skips the test with the script's own message (e.g. no libnvvm here).
    """
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1") if cudasim else None
    result = subprocess.run([sys.executable, str(ROOT / "tests" / name)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if may_skip and result.returncode == 3:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr
    assert ok_line in result.stdout


def shared_sample(name: str) -> Path:
    """Path of a shared sample input; skips the test with the reason when the samples are not beside the checkout."""
    path = SAMPLES_DIR / name
    if not path.is_file():
        pytest.skip(f"shared sample {path} is not here")
    return path


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def find_chromium() -> str | None:
    for candidate in (os.environ.get("LANTERN_CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the studio exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the studio did not answer at {url} within {timeout_s} s:\n{log_path.read_text()[-4000:]}")


class StudioServer:
    """A studio started through launch.py exactly as a user starts it, on its own home and project."""

    def __init__(self, home: Path):
        self.home = home
        self.project = home / "projects" / "browser-test"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = home / "studio.log"
        env = {**os.environ, "LANTERN_HOME": str(home), "LANTERN_NO_BROWSER": "1", "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "launch.py"), "--port", str(self.port), "--project", str(self.project)],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for_http(self.url, self.process, self.log_path, SERVER_START_TIMEOUT_S)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@pytest.fixture(scope="session")
def studio(tmp_path_factory) -> StudioServer:
    server = StudioServer(tmp_path_factory.mktemp("studio-home"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    executable = find_chromium()
    if executable is None:
        message = "Chromium not found (install Debian's `chromium` or set LANTERN_CHROMIUM)"
        if in_ci():
            pytest.fail(message + "; under CI a missing browser is a failure")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci():
            pytest.fail("playwright is not installed; under CI this is a failure")
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, studio, tmp_path):
    """A fresh browser page on the studio, with downloads accepted; screenshots go under tmp_path."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(studio.url)
    page.wait_for_selector("#lantern-header")
    yield page
    context.close()


def open_tab(page, label: str) -> None:
    """Click a studio tab by its label and wait for it to show."""
    page.get_by_role("tab", name=label).click()
    page.wait_for_timeout(300)
