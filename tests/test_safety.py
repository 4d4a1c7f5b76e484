"""Safety: file-name sanitising, path attacks, upload sniffing against files made by real tools, limits, and
the server's host/share/auth rules."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from lantern_studio.engines.safety import (Limits, check_relative_path, check_upload, safe_join, sanitize_filename,
                            sniff_format)
from lantern_studio.engines.settings import Settings, SettingsError

# ---- names ---------------------------------------------------------------------------------------------

ATTACK_NAMES = [
    "../../etc/passwd", "..\\..\\Windows\\system32\\config", "/etc/shadow", "C:\\Users\\me\\evil.wav",
    "C:evil.wav", "\\\\server\\share\\x.wav", "a\x00b.wav", "evil.wav\x00.png", "..", ".", "...", "....//",
    "CON", "nul.txt", "com1.wav", "LPT9", " spaced . ", ".hidden", ".partial-fake.wav", "a" * 1000 + ".wav",
    "灯" * 200 + ".wav", "tab\tnew\nline.wav", "x:y*z?.wav", "",
]


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_sanitized_names_are_one_safe_component(name, tmp_path):
    safe = sanitize_filename(name)
    assert safe and "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".") and safe not in (".", "..")
    assert len(safe.encode("utf-8")) <= 120
    assert not any(c in safe for c in '<>:"|?*') and all(ord(c) >= 32 for c in safe)
    assert safe.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT9"}
    # it can be created as a file directly in the folder, and nowhere else
    target = tmp_path / safe
    target.write_bytes(b"x")
    assert target.resolve().parent == tmp_path.resolve()


def test_sanitize_keeps_good_names_and_extensions():
    assert sanitize_filename("春节 Lion Dance take 3.wav") == "春节 Lion Dance take 3.wav"
    assert sanitize_filename("C:\\Users\\me\\song.flac") == "song.flac"
    assert sanitize_filename("../../etc/passwd") == "passwd"
    long = sanitize_filename("x" * 500 + ".wav")
    assert long.endswith(".wav") and len(long.encode()) == 120
    assert sanitize_filename("灯" * 100 + ".png").endswith(".png")        # cut on a character boundary
    assert sanitize_filename("..", default="") == ""
    assert sanitize_filename("CON.txt") == "_CON.txt"
    with pytest.raises(ValueError):
        sanitize_filename(b"bytes")            # type: ignore[arg-type]


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_slugs_are_one_safe_component_of_letters_digits_and_separators(name, tmp_path):
    slug = sanitize_filename(name, separator="-")
    assert slug and len(slug.encode("utf-8")) <= 120
    assert all(c.isalnum() or c in "-_" for c in slug), slug           # no dots, spaces, slashes or controls
    reserved = {"CON", "PRN", "AUX", "NUL", "COM1", "LPT9"}
    assert not slug.startswith("-") and not slug.endswith(("-", "_"))
    assert not slug.startswith("_") or slug[1:].upper() in reserved           # only a device name's prefix
    assert slug.upper() not in reserved
    target = tmp_path / f"{slug}_mix.wav"
    target.write_bytes(b"x")
    assert target.resolve().parent == tmp_path.resolve()


def test_slugs_keep_the_export_names_users_know():
    assert sanitize_filename("Lion dance 灯", separator="-") + "_seed321" == "Lion-dance-灯_seed321"
    assert sanitize_filename("  take 3: the end?  ", separator="-") == "take-3-the-end"
    assert sanitize_filename("v1.2 final", separator="-") == "v1-2-final"         # no extension in a slug
    assert sanitize_filename("AC/DC", separator="-") == "AC-DC"                    # a slash joins, not cuts
    assert sanitize_filename("nul", separator="-") == "_nul"
    assert sanitize_filename("!!!", separator="-", default="mix") == "mix"
    cut = sanitize_filename("ab " * 100, separator="-", max_bytes=20)
    assert cut == "ab-ab-ab-ab-ab-ab-ab" and len(cut) <= 20                       # no separator left at the end
    assert sanitize_filename("灯笼" * 50, separator="-", max_bytes=20) == "灯笼灯笼灯笼"  # whole characters
    with pytest.raises(ValueError, match="separator"):
        sanitize_filename("x", separator="/")


@pytest.mark.parametrize("name", [
    "../outside.txt", "a/../../outside.txt", "/etc/passwd", "C:/Windows/win.ini", "c:outside.txt",
    "a\\..\\..\\outside.txt", "a/\x00/b.txt", "a\x00.txt", "a/" + "b" * 300, "x" * 2000, "", "a/:stream",
])
def test_safe_join_refuses_escapes(tmp_path, name):
    with pytest.raises(ValueError, match="refused"):
        safe_join(tmp_path, name)


def test_safe_join_accepts_inside_paths_and_refuses_symlink_escapes(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    assert safe_join(root, "takes/a/audio.wav") == root.resolve() / "takes" / "a" / "audio.wav"
    assert safe_join(root, "./story//script.txt") == root.resolve() / "story" / "script.txt"
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        safe_join(root, "link/secret.txt")
    for bad in ("..", "a/..", "../x"):
        with pytest.raises(ValueError):
            check_relative_path(bad)


# ---- uploads: files written by real tools --------------------------------------------------------------


def _tone(seconds: float = 0.2, rate: int = 44_100) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _audio_bytes(fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, _tone(), 44_100, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _mp3_bytes(*, id3: bool) -> bytes:
    import imageio_ffmpeg
    from pydub import AudioSegment

    AudioSegment.converter = imageio_ffmpeg.get_ffmpeg_exe()
    pcm = (_tone() * 32767).astype(np.int16).tobytes()
    segment = AudioSegment(pcm, sample_width=2, frame_rate=44_100, channels=1)
    buffer = io.BytesIO()
    segment.export(buffer, format="mp3", parameters=[] if id3 else ["-id3v2_version", "0", "-write_xing", "0"])
    return buffer.getvalue()


def _image_bytes(fmt: str, size=(32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"")
    return (b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", len(idat)) + b"IDAT" + idat
            + struct.pack(">I", zlib.crc32(b"IDAT" + idat)))


@pytest.fixture(scope="module")
def real_files() -> dict[str, bytes]:
    return {"wav": _audio_bytes("WAV", "PCM_16"), "wav-float": _audio_bytes("WAV", "FLOAT"),
            "flac": _audio_bytes("FLAC"), "ogg": _audio_bytes("OGG", "VORBIS"), "mp3": _mp3_bytes(id3=True),
            "mp3-bare": _mp3_bytes(id3=False), "png": _image_bytes("PNG"), "jpeg": _image_bytes("JPEG"),
            "webp": _image_bytes("WEBP")}


def test_sniffing_names_what_real_tools_wrote(real_files):
    for label, data in real_files.items():
        assert sniff_format(data) == label.split("-")[0], label
    assert real_files["mp3-bare"][:3] != b"ID3"          # the frame-sync path was exercised
    assert sniff_format(b"") is None and sniff_format(b"hello world") is None
    assert sniff_format(b"RIFF\0\0\0\0AVI LIST") is None


def test_uploads_are_judged_by_content_not_extension(tmp_path, real_files):
    for label in ("wav", "flac", "ogg", "mp3", "mp3-bare"):
        path = tmp_path / f"upload-{label}.bin"
        path.write_bytes(real_files[label])
        assert check_upload(path, kind="audio").kind == "audio"
    for label in ("png", "jpeg", "webp"):
        info = check_upload(real_files[label], kind="image")
        assert info.format == label
    disguised = tmp_path / "song.wav"
    disguised.write_bytes(real_files["png"])
    with pytest.raises(ValueError, match="PNG file, whatever its extension"):
        check_upload(disguised, kind="audio", name="song.wav")
    with pytest.raises(ValueError, match="not a recognised file"):
        check_upload(b"#!/bin/sh\nrm -rf /\n", kind="audio", name="run.mp3")
    with pytest.raises(ValueError, match="WAV file"):
        check_upload(real_files["wav"], kind="image", name="photo.png")
    with pytest.raises(ValueError, match="empty"):
        check_upload(b"", kind="audio")
    with pytest.raises(ValueError, match="kind"):
        check_upload(b"x", kind="video")


def test_upload_size_and_pixel_limits():
    small = Limits(max_upload_bytes=1000, max_image_pixels=10_000)
    with pytest.raises(ValueError, match="limited to"):
        check_upload(b"RIFF" + b"\0" * 2000, kind="audio", limits=small)
    with pytest.raises(ValueError, match="megapixels"):
        check_upload(_image_bytes("PNG", size=(200, 100)), kind="image", limits=small)
    assert check_upload(_image_bytes("PNG", size=(100, 100)), kind="image", limits=small).format == "png"
    # a tiny file whose header claims a giant image (a decompression bomb) is refused from its header
    bomb = _png_header_claiming(100_000, 100_000)
    assert len(bomb) < 200
    with pytest.raises(ValueError, match="enormous|megapixels"):
        check_upload(bomb, kind="image")
    with pytest.raises(ValueError, match="megapixels"):
        check_upload(_png_header_claiming(8_000, 8_000), kind="image")


def test_script_uploads(tmp_path):
    limits = Limits(max_script_bytes=100)
    text = "第一场 内景 夜\n小明：新年快乐！\n"
    assert check_upload(text.encode("utf-8"), kind="script", limits=Limits()).format == "utf-8"
    assert limits.check_script("\ufeffhello".encode("utf-8")) == "hello"     # BOM dropped
    with pytest.raises(ValueError, match="NUL"):
        check_upload(b"INT. HOUSE\x00", kind="script")
    with pytest.raises(ValueError, match="not UTF-8"):
        check_upload(text.encode("gb18030"), kind="script")
    with pytest.raises(ValueError, match="limit is 100 bytes"):
        check_upload(b"a" * 101, kind="script", limits=limits)
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 101)
    with pytest.raises(ValueError, match="limit is 100 bytes"):
        check_upload(big, kind="script", limits=limits)


# ---- limits ----------------------------------------------------------------------------------------------


def test_limits_messages_say_what_and_what_to_do():
    limits = Limits(max_duration_s=60, max_takes=4, max_image_pixels=1000, max_script_bytes=10)
    assert limits.check_duration(60) == 60.0
    with pytest.raises(ValueError, match="outside 0-60 s; choose a shorter"):
        limits.check_duration(61)
    for bad in (0, -1, float("nan"), "10", True):
        with pytest.raises(ValueError):
            limits.check_duration(bad)
    assert limits.check_takes(4) == 4
    with pytest.raises(ValueError, match="1-4. Run several batches"):
        limits.check_takes(5)
    with pytest.raises(ValueError):
        limits.check_takes(2.0)
    with pytest.raises(ValueError, match="Scale it down"):
        limits.check_image_size(100, 11)
    with pytest.raises(ValueError, match="Split it into episodes"):
        limits.check_script("x" * 11)
    with pytest.raises(ValueError, match="positive"):
        Limits(max_takes=0)
    env = {"LANTERN_MAX_TAKES": "3", "LANTERN_MAX_DURATION_S": "12.5"}
    assert Limits.from_environ(env) == Limits(max_takes=3, max_duration_s=12.5)
    with pytest.raises(ValueError, match="not a number"):
        Limits.from_environ({"LANTERN_MAX_TAKES": "many"})


# ---- server exposure rules (engines/settings.py) -------------------------------------------------------


class Options:
    def __init__(self, **values):
        self.__dict__.update(values)


def resolve(tmp_path: Path, **options) -> Settings:
    return Settings.resolve(Options(home=str(tmp_path), **options), environ={})


def test_server_binds_loopback_by_default(tmp_path):
    settings = resolve(tmp_path)
    assert settings.host == "127.0.0.1" and not settings.share and settings.auth is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "studio.example.com", "10.0.0.1"])
def test_non_loopback_host_requires_auth(tmp_path, host):
    with pytest.raises(SettingsError, match="--auth"):
        resolve(tmp_path, host=host)
    assert resolve(tmp_path, host=host, auth="me:secret").auth == ("me", "secret")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.5.5.5"])
def test_loopback_hosts_need_no_auth(tmp_path, host):
    assert resolve(tmp_path, host=host).host == host


def test_share_requires_auth_and_auth_must_be_well_formed(tmp_path):
    with pytest.raises(SettingsError, match="--share"):
        resolve(tmp_path, share=True)
    assert resolve(tmp_path, share=True, auth="a:b").share
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(SettingsError, match="USER:PASSWORD"):
            resolve(tmp_path, auth=bad)
    with pytest.raises(SettingsError, match="--share"):
        Settings.resolve(Options(home=str(tmp_path)), environ={"LANTERN_SHARE": "1"})
    with pytest.raises(SettingsError, match="--auth"):
        Settings.resolve(Options(home=str(tmp_path)), environ={"LANTERN_HOST": "0.0.0.0"})


def test_launch_refuses_exposed_server_without_auth(tmp_path):
    """The real command line: exit status 2 and a message, before any server starts."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "LANTERN_HOME": str(tmp_path), "LANTERN_NO_BROWSER": "1"}
    for args in (["--host", "0.0.0.0"], ["--share"]):
        result = subprocess.run([sys.executable, str(root / "launch.py"), *args, "--port", "9"], cwd=root, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert "--auth" in result.stderr
