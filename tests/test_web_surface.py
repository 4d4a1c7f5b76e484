"""The running studio (started with launch.py) against a hostile web page: DNS rebinding (a foreign Host), cross-site
posts and uploads, fetching the trash or other projects, and flooding the upload folder.

Each attack is paired with the same request done the studio's own way, which must still work, so a guard that
refused everything would fail here too.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from lantern_testkit import StudioServer

ATTACKER = "attacker.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("web-home")
    studio = StudioServer(home)
    yield studio
    studio.stop()


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    """A studio with tiny upload limits and a short upload age, so the bounds and the timer show quickly."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LANTERN_MAX_UPLOAD_BYTES", str(64 * 1024))
        patch.setenv("LANTERN_MAX_UPLOADS", "3")
        patch.setenv("LANTERN_UPLOAD_MAX_AGE_S", "4")
        studio = StudioServer(tmp_path_factory.mktemp("small-home"))
    yield studio
    studio.stop()


def _request(url: str, *, method: str = "GET", headers: dict | None = None, data: bytes | None = None
             ) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _multipart(filename: str, payload: bytes) -> tuple[bytes, str]:
    boundary = "----lantern" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _upload(studio, payload: bytes, *, origin: str | None = None, host: str | None = None) -> tuple[int, object]:
    body, content_type = _multipart(f"take-{uuid.uuid4().hex[:8]}.wav", payload)
    headers = {"Content-Type": content_type}
    if origin:
        headers["Origin"] = origin
    if host:
        headers["Host"] = host
    status, raw = _request(studio.url + "gradio_api/upload", method="POST", headers=headers, data=body)
    return status, (json.loads(raw) if status == 200 else raw.decode("utf-8", "replace"))


def _own_origin(studio) -> str:
    return studio.url.rstrip("/")


def _uploaded_names(studio) -> set[str]:
    return {p.name for p in (studio.home / "tmp").rglob("*") if p.is_file()}


def _file_url(studio, path: Path) -> str:
    return studio.url + "gradio_api/file=" + urllib.parse.quote(str(path))


def test_a_foreign_host_gets_4xx_on_every_route(server):
    media = server.project / "renders" / "served.txt"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_text("project media")
    routes = ["", "config", "gradio_api/info", "gradio_api/openapi.json", "gradio_api/heartbeat/abc",
              "gradio_api/file=" + urllib.parse.quote(str(media)), "theme.css", "manifest.json"]
    refused = 0
    for route in routes:
        foreign, body = _request(server.url + route, headers={"Host": f"{ATTACKER}:{server.port}"})
        assert 400 <= foreign < 500, (route, foreign)
        assert b"project media" not in body and "Lantern Studio 灯" not in body.decode("utf-8", "replace")
        refused += 1
    for route in ("", "config", "gradio_api/info"):
        assert _request(server.url + route)[0] == 200, route        # the studio's own page still answers
    assert _request(_file_url(server, media)) == (200, b"project media")
    for route in ("gradio_api/queue/join", "gradio_api/upload", "gradio_api/run/predict", "gradio_api/cancel"):
        status, _ = _request(server.url + route, method="POST", data=b"{}",
                             headers={"Host": ATTACKER, "Content-Type": "application/json"})
        assert 400 <= status < 500, (route, status)
        refused += 1
    assert _request(server.url + "config", headers={"Host": f"localhost:{server.port}"})[0] == 200
    print(f"\nforeign-Host requests refused: {refused}", flush=True)


def test_a_cross_origin_upload_is_refused_and_keeps_nothing(server):
    before = _uploaded_names(server)
    for origin in ("http://evil.example", f"http://{ATTACKER}:{server.port}", "null",
                   f"http://127.0.0.1:{server.port + 1}"):
        status, _ = _upload(server, b"RIFF-cross-site-" + uuid.uuid4().bytes, origin=origin)
        assert status == 403, (origin, status)
    assert _uploaded_names(server) == before
    status, saved = _upload(server, b"RIFF-own-page", origin=_own_origin(server))
    assert status == 200 and Path(saved[0]).read_bytes() == b"RIFF-own-page"
    status, saved = _upload(server, b"RIFF-no-browser")           # gradio_client and curl send no Origin
    assert status == 200 and Path(saved[0]).is_file()


def test_a_cross_origin_queue_join_is_refused(server):
    body = json.dumps({"data": [], "fn_index": 0, "session_hash": "x" + uuid.uuid4().hex[:8]}).encode()
    status, text = _request(server.url + "gradio_api/queue/join", method="POST", data=body,
                            headers={"Content-Type": "application/json", "Origin": "http://evil.example"})
    assert status == 403 and b"refused" in text


def test_only_the_open_projects_media_is_served_never_its_trash(server):
    take = server.project / "takes" / "web-test" / "mix.txt"
    take.parent.mkdir(parents=True, exist_ok=True)
    take.write_text("a take")
    trashed = server.project / ".trash" / "old-take" / "mix.txt"
    trashed.parent.mkdir(parents=True, exist_ok=True)
    trashed.write_text("trashed take")
    other = server.home / "projects" / "someone-else" / "takes" / "mix.txt"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_text("another project")
    outside = server.home / "outside.txt"
    outside.write_text("outside")
    link = server.project / "renders" / "link-out.txt"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(trashed)

    assert _request(_file_url(server, take)) == (200, b"a take")
    for path in (trashed, other, outside, link, server.project / "takes" / ".." / ".trash" / "old-take" / "mix.txt"):
        status, body = _request(_file_url(server, path))
        assert status == 404, (path, status)
        assert body not in (b"trashed take", b"another project", b"outside")
    assert _request(server.url + "gradio_api/file=https://example.com/x.png")[0] == 404


def _declare_upload(studio, length: int) -> tuple[int, str]:
    """Send only the headers of an upload of ``length`` bytes: a bound is checked before any byte is read, and
    the studio answers without waiting for (or keeping) a body."""
    connection = http.client.HTTPConnection("127.0.0.1", studio.port, timeout=30)
    try:
        connection.putrequest("POST", "/gradio_api/upload")
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_uploads_are_bounded_in_size_and_count(small_server):
    status, message = _declare_upload(small_server, 64 * 1024 * 1024)
    assert status == 413 and "at most" in message
    accepted = 0
    for _ in range(5):
        status, message = _upload(small_server, b"RIFF-small")
        if status != 200:
            assert status == 429 and "the limits are 3 uploads" in message
            break
        accepted += 1
    assert accepted == 3


def test_old_uploads_are_deleted_on_a_timer_while_the_studio_runs(small_server):
    deadline = time.monotonic() + 60
    saved = None
    while saved is None and time.monotonic() < deadline:      # the count limit frees its slots after the age
        status, result = _upload(small_server, b"RIFF-to-expire")
        saved = Path(result[0]) if status == 200 else None
        if saved is None:
            time.sleep(1)
    assert saved is not None and saved.is_file()
    while saved.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not saved.exists(), "an upload older than LANTERN_UPLOAD_MAX_AGE_S was still on disk"
    assert small_server.process.poll() is None
