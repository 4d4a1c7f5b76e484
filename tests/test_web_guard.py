"""The web guard's rules on their own (no server): Host parsing and policy, same-origin, which files are served,
the upload policy's settings, and the ASGI middleware answering a foreign WebSocket and a foreign POST itself."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from lantern_studio.studio.web_guard import (FilePolicy, HostPolicy, UploadPolicy, WebGuard, same_origin,
                                             split_host)


@pytest.mark.parametrize("header, expected", [
    ("127.0.0.1:7860", ("127.0.0.1", 7860)), ("LocalHost", ("localhost", None)), ("[::1]:80", ("::1", 80)),
    ("studio.local.", ("studio.local", None)), ("a.example:x", ("", None)), ("[::1", ("", None)), ("", ("", None)),
])
def test_split_host(header, expected):
    assert split_host(header) == expected


def test_host_policy_allows_loopback_the_bound_address_and_named_hosts_only():
    policy = HostPolicy("127.0.0.1", ["studio.lan"])
    for name in ("127.0.0.1", "localhost", "::1", "studio.lan"):
        assert policy.allows(name)
    for name in ("attacker.example", "127.0.0.1.attacker.example", "localhost.attacker.example", "10.0.0.5", "",
                 "x.gradio.live"):
        assert not policy.allows(name)
    everywhere = HostPolicy("0.0.0.0", share=True)
    assert everywhere.allows("10.0.0.5") and everywhere.allows("abc.gradio.live")
    assert not everywhere.allows("attacker.example")


@pytest.mark.parametrize("origin, host, expected", [
    ("http://127.0.0.1:7860", "127.0.0.1:7860", True),
    ("https://abc.gradio.live", "abc.gradio.live", True),
    ("http://127.0.0.1:7861", "127.0.0.1:7860", False),
    ("http://evil.example", "127.0.0.1:7860", False),
    ("http://localhost:7860", "127.0.0.1:7860", False),
    ("null", "127.0.0.1:7860", False),
    ("file://", "127.0.0.1:7860", False),
    ("http://[::1]:7860", "[::1]:7860", True),
])
def test_same_origin(origin, host, expected):
    assert same_origin(origin, host) is expected


def test_file_policy_serves_open_projects_and_the_run_folder_but_not_the_trash(tmp_path):
    project = tmp_path / "projects" / "open"
    (project / "takes").mkdir(parents=True)
    (project / ".trash").mkdir()
    other = tmp_path / "projects" / "other"
    other.mkdir()
    run = tmp_path / "tmp" / "run-1"
    run.mkdir(parents=True)
    (project / "takes" / "to-trash").symlink_to(project / ".trash")
    opened = [project]
    policy = FilePolicy(lambda: opened, [run])
    assert policy.allows(str(project / "takes" / "a.wav")) and policy.allows(str(run / "upload" / "b.wav"))
    for target in (str(project / ".trash" / "a.wav"), str(project / "takes" / "to-trash" / "a.wav"),
                   str(project / "takes" / ".." / ".trash" / "a.wav"), str(other / "a.wav"), "/etc/passwd",
                   "https://example.com/a.png", "", str(project) + "-sibling/a.wav", str(tmp_path / "tmp" / "x")):
        assert not policy.allows(target), target
    opened.append(other)                             # a window opens another project: its media is served
    assert policy.allows(str(other / "a.wav"))


def test_upload_policy_from_the_environment():
    policy = UploadPolicy.from_environ(1000, {"LANTERN_MAX_UPLOADS": "3", "LANTERN_UPLOAD_MAX_AGE_S": "8"})
    assert (policy.max_request_bytes, policy.max_uploads, policy.max_age_s) == (1000, 3, 8.0)
    assert policy.delete_cache() == (2, 8)
    assert UploadPolicy.from_environ(5, {}).delete_cache() == (600, 6 * 3600)
    for bad in ({"LANTERN_MAX_UPLOADS": "many"}, {"LANTERN_UPLOAD_MAX_AGE_S": "0"}):
        with pytest.raises(ValueError, match="LANTERN_"):
            UploadPolicy.from_environ(5, bad)


def _guard(tmp_path) -> tuple[WebGuard, list]:
    reached = []

    async def inner(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guard = WebGuard(inner, hosts=HostPolicy("127.0.0.1"), files=FilePolicy(lambda: [tmp_path], [tmp_path]),
                     uploads=UploadPolicy(), studio_url="http://127.0.0.1:7860/")
    return guard, reached


def _call(guard, scope) -> list[dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    # in a thread of its own: a session's Playwright (sync API) keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, guard(scope, receive, send)).result()
    return sent


def test_the_middleware_answers_refusals_itself(tmp_path):
    guard, reached = _guard(tmp_path)
    socket = _call(guard, {"type": "websocket", "path": "/gradio_api/ws",
                           "headers": [(b"host", b"127.0.0.1:7860"), (b"origin", b"http://evil.example")]})
    assert socket[0]["type"] == "websocket.close" and socket[0]["code"] == 1008
    post = _call(guard, {"type": "http", "method": "POST", "path": "/gradio_api/queue/join",
                         "headers": [(b"host", b"127.0.0.1:7860"), (b"origin", b"http://evil.example")]})
    assert post[0]["status"] == 403 and b"evil.example" in post[1]["body"]
    no_host = _call(guard, {"type": "http", "method": "GET", "path": "/", "headers": []})
    assert no_host[0]["status"] == 403
    assert reached == []
    ok = _call(guard, {"type": "http", "method": "POST", "path": "/gradio_api/queue/join",
                       "headers": [(b"host", b"127.0.0.1:7860"), (b"origin", b"http://127.0.0.1:7860")]})
    assert ok[0]["status"] == 200 and reached == ["/gradio_api/queue/join"]


def test_uploads_must_state_their_size_and_fit_the_bounds(tmp_path):
    guard, reached = _guard(tmp_path)
    guard.uploads = UploadPolicy(max_request_bytes=1000, max_total_bytes=10_000_000, max_uploads=2)

    def upload(length: str | None) -> int:
        headers = [(b"host", b"127.0.0.1:7860")] + ([(b"content-length", length.encode())] if length else [])
        return _call(guard, {"type": "http", "method": "POST", "path": "/gradio_api/upload", "headers": headers}
                     )[0]["status"]

    assert upload(None) == 411                       # chunked: its size is unknown until it has been stored
    assert upload(str(5 * 1024 * 1024)) == 413
    assert [upload("500"), upload("500"), upload("500")] == [200, 200, 429]
    assert reached == ["/gradio_api/upload"] * 2
