"""Attacks on the running studio (started with launch.py, as a user starts it): it listens on loopback only, its
file route serves nothing outside the project, and uploads named to climb out of the upload folder land inside
it. Each refused attack is counted in the printed figures."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from lantern_testkit import StudioServer

SECRET = "lantern-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("attack-home")
    (home / "secret.txt").write_text(SECRET)            # inside the studio's home, outside the project
    studio = StudioServer(home)
    yield studio
    studio.stop()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))           # no packet is sent; this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_listens_on_loopback_only(server):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        assert sock.connect_ex((address, server.port)) != 0, f"the studio answered on {address}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=3):
        pass


def test_file_route_serves_nothing_outside_the_project(server):
    targets = [
        "/etc/passwd", str(server.home / "secret.txt"), str(server.project / ".." / ".." / "secret.txt"),
        str(server.project) + "/../../secret.txt", "../../../../etc/passwd", str(server.home / "recent.json"),
        str(server.project / ".." / "secret.txt"), "~/.ssh/id_rsa", "C:\\Windows\\win.ini",
    ]
    refused = 0
    for target in targets:
        for encoded in (target, urllib.parse.quote(target, safe="")):
            for route in ("gradio_api/file=", "file="):
                status, body = _get(server.url + route + encoded)
                assert SECRET.encode() not in body and b"root:x:0:0" not in body, (route, target, status)
                assert status != 200 or b"<html" in body[:200].lower(), (route, target, status)
                refused += 1
    print(f"\nfile-route attacks refused: {refused}", flush=True)


def _upload(server, filename: str, data: bytes) -> tuple[int, object]:
    boundary = "----lantern" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8", "surrogatepass") + data + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(server.url + "gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("name", ["../../../{tag}.txt", "/tmp/{tag}.txt", "..\\..\\{tag}.txt", "C:\\{tag}.txt",
                                  "{tag}\x00.png", "%2e%2e%2f%2e%2e%2f{tag}.txt", "x" * 300 + "{tag}.txt"])
def test_uploads_named_to_escape_land_inside_the_upload_folder(server, name):
    tag = "evil-" + uuid.uuid4().hex[:10]
    status, result = _upload(server, name.format(tag=tag), b"payload")
    upload_root = (server.home / "tmp").resolve()
    if status == 200:
        for saved in result:
            saved_path = Path(saved).resolve()
            assert upload_root in saved_path.parents, f"{saved} is outside {upload_root}"
    else:
        assert 400 <= status < 500, status
    for folder in (server.home, server.home.parent, Path("/tmp"), server.project, server.project / "takes"):
        assert not list(folder.glob(f"{tag}*")), f"an upload escaped into {folder}"
