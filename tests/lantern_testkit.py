"""Helpers the tests share: a studio started as a user starts it, sample inputs, subprocess checks, browser steps.

``tests/`` is on ``sys.path`` for pytest (``pythonpath`` in pyproject.toml) and is not a package, so this module
is imported as ``lantern_testkit``: a name no installed distribution provides (test_import_names checks it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lantern_studio.engines.music.presets import all_presets

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SERVER_START_TIMEOUT_S = 180
# sample inputs travel with the repository (tests/data/README.md names their sources), so a clone runs every test
SAMPLES_DIR = ROOT / "tests" / "data"


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


def sample_path(name: str) -> Path:
    """Path of a sample input in ``tests/data``; a missing one is a broken checkout, so it fails loudly."""
    path = SAMPLES_DIR / name
    assert path.is_file(), f"sample input {path} is missing from the checkout"
    return path


def load_launcher():
    """``launch.py`` as a module. The repository root is not on ``sys.path`` (nothing there is imported by
    name), so it is loaded from its file, under a name no installed distribution provides."""
    import importlib.util

    if "lantern_launch" not in sys.modules:
        spec = importlib.util.spec_from_file_location("lantern_launch", ROOT / "launch.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["lantern_launch"] = module
        spec.loader.exec_module(module)
    return sys.modules["lantern_launch"]


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


def open_window(browser, url: str):
    """A new browser window (its own context: its own cookies and session) on the studio at 1400x1000, with
    downloads accepted, once the page has drawn its header and tabs. Returns (context, page); close the context."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    return context, open_page(context, url)


def open_page(context, url: str):
    """Another page (a tab of the same browser window) on the studio, once it has drawn its header and its
    tabs (Gradio can draw the header before the tab row on a loaded machine)."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#lantern-header")
    page.get_by_role("tab", name="System").wait_for()
    return page


def _select_tab(page, tab) -> None:
    """Click ``tab`` until the page marks it selected: on a loaded machine a click that lands while Gradio
    redraws the row can be lost, and a test that goes on reads a step that never showed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _ in range(3):
        tab.click()
        try:
            page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'", arg=tab.element_handle(),
                                   timeout=10_000)
            break
        except PlaywrightTimeoutError:
            continue
    else:
        raise AssertionError(f"the tab {tab.inner_text()!r} did not open after three clicks")
    page.wait_for_timeout(300)          # the panel's own transition


def open_tab(page, label: str) -> None:
    """Click a studio tab by its label and wait until it is the selected one."""
    _select_tab(page, page.get_by_role("tab", name=label))


def edit_cell(page, table_id: str, row: int, column: int, text: str) -> None:
    """Type ``text`` into cell (row, column) of the editable gr.Dataframe ``#table_id``, as a user does:
    double-click, select what is there, type, Enter."""
    page.locator(f'#{table_id} [data-testid="cell-{row}-{column}"]').dblclick()
    page.keyboard.press("Control+a")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def open_step(page, label: str) -> None:
    """Open the Storyboard tab (if another tab shows) and its step ``label`` ("Script", "Shots", "Voices",
    "Panels", "Pages", "Animatic", "Batch"), and wait for it to show."""
    steps = page.locator("#story-steps")
    if not steps.is_visible():
        open_tab(page, "Storyboard")
    _select_tab(page, steps.get_by_role("tab", name=label, exact=True))


# ---- browser steps shared by the Music and Mixer tests --------------------------------------------------

def screenshot(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    if os.environ.get("LANTERN_SCREENSHOTS"):
        shot = Path(os.environ["LANTERN_SCREENSHOTS"]) / name
        shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    return shot


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def generate(page, *, takes: int, seed: int, preset: str = "lion-dance", duration_s: int = 11) -> None:
    label = all_presets()[preset]["name"]          # the dropdown shows the preset's name
    page.locator("#music-preset input").click()
    page.get_by_role("option").filter(has_text=label).first.click()
    set_number(page, "music-duration", duration_s)
    set_number(page, "music-takes", takes)
    page.locator("#music-seed-mode").get_by_label("fixed").check()
    page.locator("#music-seed input").fill(str(seed))
    page.locator("#music-generate").click()
    page.wait_for_function(
        "n => document.querySelector('#music-status').innerText.includes(`Done: ${n} of ${n}`) || "
        "document.querySelector('.toast-body.error, .toast-body')", arg=takes, timeout=180_000)
    status = page.locator("#music-status").inner_text()
    toasts = " | ".join(page.locator(".toast-body").all_inner_texts())
    assert f"Done: {takes} of {takes}" in status, f"generation failed: {status} {toasts}"


def take_cell(page, name: str):
    """The visible table cell holding a take's name."""
    return page.locator("#music-takes-table").get_by_text(name, exact=True).filter(visible=True).first


def ab_state(page) -> dict:
    return page.evaluate("window.lanternAB.state()")


def take_folder(studio, take_id: str) -> Path:
    return studio.project / "takes" / take_id


def take_metas(project: Path) -> list[dict]:
    """The sidecars (take.json) of every take in the project folder, as dicts."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in (project / "takes").glob("*/take.json")]


def wait_for_take(page, studio, match, what: str, *, timeout_s: float = 120) -> dict:
    """Poll the take store until a sidecar matching ``match`` exists (the sidecar is written last); fail naming
    ``what`` with the Music tab's status and toasts when none does within ``timeout_s``."""
    for _ in range(int(timeout_s * 10)):
        found = next((m for m in take_metas(studio.project) if match(m)), None)
        if found is not None:
            return found
        page.wait_for_timeout(100)
    toasts = " | ".join(page.locator(".toast-body").all_inner_texts())
    raise AssertionError(f"no {what} appeared: {page.locator('#music-status').inner_text()} {toasts}")


def wait_selected(page, seed: int) -> None:
    """Wait until the Music tab's selected-take panel shows the take of ``seed``."""
    page.wait_for_function("s => document.querySelector('#music-selected-info').innerText.includes(`seed ${s}`)",
                           arg=seed)


def download(page, link) -> Path:
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path())


def median_f0_hz(audio, sample_rate: int) -> float:
    """Median pYIN pitch (Hz) of float audio over the frames within 20 dB of the loudest.

    pYIN's voiced flag is not used: on low, buzzy eSpeak voices its voicing probability stays under the flag's
    threshold on some renders (depending on eSpeak's random pitch flutter) although the pitch track is right.
    """
    import librosa
    import numpy as np

    audio = np.asarray(audio, np.float64)
    f0, _, _ = librosa.pyin(audio, fmin=50, fmax=600, sr=sample_rate, fill_na=None)
    rms = librosa.feature.rms(y=audio)[0][:len(f0)]
    loud = rms >= rms.max() * 10 ** (-20 / 20)
    return float(np.median(f0[:len(rms)][loud]))
