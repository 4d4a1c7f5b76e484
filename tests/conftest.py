"""Shared fixtures: a studio server on a free loopback port (one for the session, and one of its own for a module
that asks for ``own_studio``), a real headless Chromium driving it, and a studio context on a fresh project folder
for the handler tests that call a tab's handlers directly.

Browser tests are marked ``browser``. Without Chromium they skip with a reason on a user's machine; under
CI (``CI=true``) a missing browser is a failure, never a skip. The helpers live in ``lantern_testkit``.
"""

from __future__ import annotations

import pytest

from lantern_studio.engines.project import Project
from lantern_studio.engines.settings import Settings
from lantern_studio.studio.context import StudioContext
from lantern_testkit import CHROMIUM_ARGS, StudioServer, find_chromium, in_ci, open_window


@pytest.fixture
def ctx(tmp_path) -> StudioContext:
    """The context a tab's handlers get, on a new project folder with its own home and models folder."""
    settings = Settings(home=tmp_path / "home", project_dir=tmp_path / "project", models_dir=tmp_path / "models")
    return StudioContext(settings=settings, project=Project.open(tmp_path / "project"))


@pytest.fixture(scope="session")
def studio(tmp_path_factory) -> StudioServer:
    server = StudioServer(tmp_path_factory.mktemp("studio-home"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_studio(tmp_path_factory, request) -> StudioServer:
    """A studio on a fresh home (no models) for one test module: its projects are that module's alone."""
    server = StudioServer(tmp_path_factory.mktemp(f"{request.module.__name__}-home"))
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether the test body failed, so the page fixture can keep a picture of what it showed."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.lantern_call_failed = report.failed


@pytest.fixture
def page(browser, studio, tmp_path, request):
    """A fresh browser page on the studio, with downloads accepted; screenshots go under tmp_path. When the
    test fails, the page as it stood is saved as ``failure.png`` there and its path printed in the report."""
    context, page = open_window(browser, studio.url)
    yield page
    if getattr(request.node, "lantern_call_failed", False):
        shot = tmp_path / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"the page when the test failed: {shot}")
        except Exception as error:  # noqa: BLE001 - a closed or crashed page has no picture; say why
            print(f"no screenshot of the failed page: {error}")
    context.close()
