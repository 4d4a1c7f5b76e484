"""Keep the studio safe under bad input: user file names, uploads and resource limits.

- ``sanitize_filename`` turns any name a user gives (an upload's name, a project or export name) into one
  safe path component; ``check_relative_path`` refuses (never fixes) relative paths from archives;
  ``safe_join`` joins a name under a root and refuses anything that would end up outside it.
- ``sniff_upload`` looks at the first bytes of an upload to learn what it really is (the extension is not
  trusted) and checks its size; ``check_upload`` does that for the kind a widget expects.
- ``Limits`` holds the studio's resource limits; its ``check_*`` methods raise ValueError with a message that
  says what is too large and what to do.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Mapping

# --------------------------------------------------------------------------------------------------
# names and paths
# --------------------------------------------------------------------------------------------------

MAX_NAME_BYTES = 120            # well under every filesystem's 255-byte component limit
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_DRIVE = re.compile(r"^[A-Za-z]:")


def sanitize_filename(name: str, *, max_bytes: int = MAX_NAME_BYTES, default: str = "untitled",
                      separator: str | None = None) -> str:
    """Make a user-supplied file name into one safe path component.

    Directory parts (``/`` or ``\\``), drive letters, control characters (NUL included), characters Windows
    forbids, leading dots (no hidden files, no ``..``) and trailing dots/spaces are removed; Windows device
    names (``CON``, ``NUL``, ``COM1`` ...) get a ``_`` prefix; the name is NFC-normalised and cut to
    ``max_bytes`` UTF-8 bytes keeping its extension.

    With a ``separator`` the result is a *slug*, for names the program builds files from (a take's name in
    ``Lion-dance-灯_seed321_mix.wav``): every run of characters other than letters and digits of any script,
    ``_`` and ``-`` (spaces, dots and slashes included) becomes ``separator``, ``separator`` and ``_`` are
    stripped from both ends, and the whole text is the stem (there is no extension to keep).

    Parameters
    ----------
    name : str
        What the user gave, e.g. ``"C:\\\\Users\\\\me\\\\灯笼 take.wav"`` or ``"../../etc/passwd"``.
    max_bytes : int
        Longest result in UTF-8 bytes (at least 16).
    default : str
        Returned when nothing usable is left (may be ``""`` to let the caller decide).
    separator : str, optional
        Make a slug joined by this (e.g. ``"-"``); one or more characters that are themselves safe.

    Returns
    -------
    str
        e.g. ``"灯笼 take.wav"``, ``"passwd"``; with ``separator="-"``, ``"灯笼-take-wav"``.
    """
    if not isinstance(name, str):
        raise ValueError(f"file name must be text, not {type(name).__name__}")
    if max_bytes < 16:
        raise ValueError("max_bytes must be at least 16")
    if separator is not None and (not separator or _UNSAFE_CHARS.search(separator) or separator.strip(" .") == ""):
        raise ValueError(f"separator must be safe in a file name and not only dots or spaces, got {separator!r}")
    text = unicodedata.normalize("NFC", name)
    text = text.replace("\x00", "")
    if separator is not None:
        text = re.sub(r"[^\w\-]+", separator, text, flags=re.UNICODE).strip(separator + "_")
    text = re.split(r"[\\/]", text)[-1]                 # last path component only
    text = _DRIVE.sub("", text)
    text = _UNSAFE_CHARS.sub("_", text)
    text = text.strip().lstrip(".").rstrip(". ")
    text = re.sub(r"\s+", " ", text)
    if not text or set(text) <= {"_", " ", "."}:
        return default
    stem, dot, suffix = text.rpartition(".")
    if not dot or not stem or separator is not None:
        stem, suffix = text, ""
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    suffix = suffix[:16]
    result = f"{stem}.{suffix}" if suffix else stem
    if len(result.encode("utf-8")) > max_bytes:
        room = max_bytes - (len(suffix.encode("utf-8")) + 1 if suffix else 0)
        cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(". ")
        if separator is not None:
            cut = cut.rstrip(separator + "_")
        result = f"{cut}.{suffix}" if suffix else cut
    return result or default


def check_relative_path(name: str, *, max_bytes: int = 1024) -> PurePosixPath:
    """Accept a relative POSIX path (e.g. a zip member) only if it cannot leave the folder it is unpacked in.

    Refused with ValueError: empty names, NUL or control characters, absolute paths, backslashes, Windows drive
    letters, ``..`` components, components over 255 bytes and paths over ``max_bytes``.
    A trailing ``/`` (a folder entry) is allowed; ``.`` components are dropped.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("an empty path is refused")
    if len(name.encode("utf-8", errors="surrogatepass")) > max_bytes:
        raise ValueError(f"the path {name[:60]!r}... is longer than {max_bytes} bytes; refused")
    if re.search(r"[\x00-\x1f\x7f]", name):
        raise ValueError(f"the path {name!r} contains NUL or control characters; refused")
    if "\\" in name:
        raise ValueError(f"the path {name!r} contains a backslash; refused (it could name a parent folder on Windows)")
    if name.startswith("/") or _DRIVE.match(name):
        raise ValueError(f"the path {name!r} is absolute; refused (only paths relative to the project are accepted)")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts:
        raise ValueError(f"the path {name!r} names no file; refused")
    for part in parts:
        if part == "..":
            raise ValueError(f"the path {name!r} climbs out of its folder with '..'; refused")
        if len(part.encode("utf-8", errors="surrogatepass")) > 255:
            raise ValueError(f"a part of the path {name[:60]!r}... is longer than 255 bytes; refused")
        if ":" in part:
            raise ValueError(f"the path {name!r} contains ':' (a drive or stream name on Windows); refused")
    return PurePosixPath(*parts)


def safe_join(root: str | os.PathLike, name: str | os.PathLike) -> Path:
    """Join ``name`` under ``root`` and return the absolute path, refusing anything that would leave ``root``.

    ``name`` must be relative (checked with ``check_relative_path``); symbolic links inside ``root`` that point
    outside it are refused too, because the check is made on the resolved path.

    Raises
    ------
    ValueError
        ``name`` is absolute, has ``..``, a drive letter, NUL, or resolves outside ``root``.
    """
    relative = check_relative_path(os.fspath(name).replace(os.sep, "/") if os.sep != "/" else os.fspath(name))
    base = Path(root).expanduser().resolve()
    candidate = base.joinpath(*relative.parts).resolve()
    if candidate != base and base not in candidate.parents:
        raise ValueError(f"{name!s} resolves outside {base}; refused")
    return candidate


# --------------------------------------------------------------------------------------------------
# uploads: what the bytes are, not what the name says
# --------------------------------------------------------------------------------------------------

UPLOAD_KINDS = ("audio", "image", "script")
AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg")
IMAGE_FORMATS = ("png", "jpeg", "webp")
SNIFF_BYTES = 4096

_MPEG_BITRATE_OK = lambda index: 0 < index < 15          # noqa: E731 - 0 is "free", 15 is invalid
_MPEG_RATE_OK = lambda index: index < 3                  # noqa: E731


def _is_mpeg_frame(head: bytes, offset: int = 0) -> bool:
    if len(head) < offset + 4:
        return False
    b0, b1, b2 = head[offset], head[offset + 1], head[offset + 2]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return False
    version = (b1 >> 3) & 0x3
    layer = (b1 >> 1) & 0x3
    return version != 1 and layer != 0 and _MPEG_BITRATE_OK(b2 >> 4) and _MPEG_RATE_OK((b2 >> 2) & 0x3)


def sniff_format(head: bytes) -> str | None:
    """Name the format of a file from its first bytes, or None.

    Returns one of ``"wav"`` (RIFF/WAVE), ``"flac"``, ``"mp3"`` (ID3 tag or an MPEG audio frame header),
    ``"ogg"``, ``"png"``, ``"jpeg"``, ``"webp"``. Text is not sniffed here (see ``check_script_bytes``).
    """
    if not isinstance(head, (bytes, bytearray, memoryview)):
        raise ValueError(f"sniff_format needs bytes, not {type(head).__name__}")
    head = bytes(head[:SNIFF_BYTES])
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:3] == b"ID3" and len(head) >= 10 and head[3] < 0xFF and head[4] < 0xFF:
        return "mp3"
    if _is_mpeg_frame(head):
        return "mp3"
    return None


@dataclass(frozen=True)
class UploadInfo:
    """What an upload turned out to be. ``kind``: audio/image/script; ``format``: e.g. ``"wav"``, ``"utf-8"``."""

    kind: str
    format: str
    size_bytes: int
    path: Path | None = None


def check_script_bytes(data: bytes, *, max_bytes: int) -> str:
    """Decode a script upload: UTF-8 (a BOM is allowed), no NUL bytes, at most ``max_bytes``; returns the text."""
    if len(data) > max_bytes:
        raise ValueError(f"the script is {len(data):,} bytes; the limit is {max_bytes:,} bytes. Split it into "
                         "episodes and load them one at a time")
    if b"\x00" in data:
        raise ValueError("the script contains NUL bytes, so it is not a text file; save it as UTF-8 text "
                         "(.txt or .fountain) and upload that")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"the script is not UTF-8 text (byte {error.start} is invalid); save it as UTF-8 in your "
                         "editor and upload it again") from None
    return text


# --------------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The studio's resource limits. Every ``check_*`` raises ValueError with a message that teaches.

    Attributes
    ----------
    max_duration_s : float
        Longest music take or animatic, seconds.
    max_takes : int
        Most takes in one generation batch.
    max_image_pixels : int
        Most pixels (width x height) in an uploaded or rendered image.
    max_script_bytes : int
        Largest script, bytes of UTF-8.
    max_upload_bytes : int
        Largest upload of any kind, bytes.
    max_script_lines : int
        Most lines in one script (a feature film's screenplay is about 7,000 in Fountain).
    max_shots : int
        Most shots planned from one script.
    """

    max_duration_s: float = 600.0
    max_takes: int = 8
    max_image_pixels: int = 40_000_000
    max_script_bytes: int = 1_000_000
    max_upload_bytes: int = 512 * 1024 * 1024
    max_script_lines: int = 10_000
    max_shots: int = 1_000

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"limit {item.name} must be a positive number, not {value!r}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Limits":
        """Defaults, overridden by ``LANTERN_MAX_DURATION_S``, ``LANTERN_MAX_TAKES``, ``LANTERN_MAX_IMAGE_PIXELS``,
        ``LANTERN_MAX_SCRIPT_BYTES``, ``LANTERN_MAX_UPLOAD_BYTES``, ``LANTERN_MAX_SCRIPT_LINES`` and
        ``LANTERN_MAX_SHOTS``."""
        env = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            variable = "LANTERN_" + item.name.upper()
            if env.get(variable, "") != "":
                kind = float if item.name == "max_duration_s" else int
                try:
                    values[item.name] = kind(env[variable])
                except ValueError:
                    raise ValueError(f"{variable}={env[variable]!r} is not a number") from None
        return cls(**values)

    def check_duration(self, duration_s: float, *, what: str = "duration") -> float:
        if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) or duration_s != duration_s:
            raise ValueError(f"{what} must be a number of seconds, not {duration_s!r}")
        if not 0 < duration_s <= self.max_duration_s:
            raise ValueError(f"{what} {duration_s:g} s is outside 0-{self.max_duration_s:g} s; choose a shorter "
                             "duration (long pieces can be built by continuing a take)")
        return float(duration_s)

    def check_takes(self, takes: int) -> int:
        if isinstance(takes, bool) or not isinstance(takes, int):
            raise ValueError(f"number of takes must be a whole number, not {takes!r}")
        if not 1 <= takes <= self.max_takes:
            raise ValueError(f"{takes} takes asked for; one batch makes 1-{self.max_takes}. Run several batches "
                             "for more")
        return takes

    def check_image_size(self, width: int, height: int) -> tuple[int, int]:
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            raise ValueError(f"image size {width!r}x{height!r} must be two positive whole numbers of pixels")
        if width * height > self.max_image_pixels:
            raise ValueError(f"the image is {width}x{height} = {width * height / 1e6:.1f} megapixels; the limit is "
                             f"{self.max_image_pixels / 1e6:.1f} megapixels. Scale it down and try again")
        return width, height

    def check_script(self, script: str | bytes) -> str:
        data = script.encode("utf-8") if isinstance(script, str) else script
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"a script must be text, not {type(script).__name__}")
        return check_script_bytes(bytes(data), max_bytes=self.max_script_bytes)

    def check_script_lines(self, text: str) -> str:
        """``text`` when it has at most ``max_script_lines`` lines; else a ValueError naming the cap and how to
        raise it (checked before parsing, so a huge script costs nothing)."""
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        if lines > self.max_script_lines:
            raise ValueError(f"the script has {lines:,} lines; the cap is {self.max_script_lines:,} lines "
                             "(max_script_lines). Split it into episodes and storyboard one at a time, or raise the "
                             "cap with --max-script-lines N (or LANTERN_MAX_SCRIPT_LINES=N)")
        return text

    def check_shots(self, shots: int) -> int:
        """``shots`` when at most ``max_shots``; else a ValueError naming the cap and how to raise it."""
        if shots > self.max_shots:
            raise ValueError(f"the script makes {shots:,} shots; the cap is {self.max_shots:,} shots (max_shots). "
                             "Split it into episodes and storyboard one at a time, or raise the cap with "
                             "--max-shots N (or LANTERN_MAX_SHOTS=N)")
        return shots

    def check_upload_size(self, size_bytes: int) -> int:
        if size_bytes > self.max_upload_bytes:
            raise ValueError(f"the file is {size_bytes / 1e6:.1f} MB; uploads are limited to "
                             f"{self.max_upload_bytes / 1e6:.0f} MB. Trim or compress it first")
        return size_bytes


DEFAULT_LIMITS = Limits()


def check_upload(source: str | os.PathLike | bytes, *, kind: str, limits: Limits = DEFAULT_LIMITS,
                 name: str | None = None) -> UploadInfo:
    """Check an upload is what the widget expects, judging by its content, and within the limits.

    Parameters
    ----------
    source : path or bytes
        The uploaded file (Gradio hands over a temporary path) or its bytes.
    kind : {"audio", "image", "script"}
        What the widget accepts: audio = WAV/FLAC/MP3/Ogg, image = PNG/JPEG/WebP (also size-checked in pixels),
        script = UTF-8 text without NUL.
    limits : Limits
    name : str, optional
        The name the user's browser gave, used only in messages.

    Returns
    -------
    UploadInfo

    Raises
    ------
    ValueError
        Too large, or the content is not of that kind (whatever the extension says).
    """
    if kind not in UPLOAD_KINDS:
        raise ValueError(f"upload kind {kind!r} is not one of {', '.join(UPLOAD_KINDS)}")
    path = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        size = len(data)
        head = data[:SNIFF_BYTES]
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"the upload {name or path.name!r} is not a file")
        size = path.stat().st_size
        data = None
        with open(path, "rb") as stream:
            head = stream.read(SNIFF_BYTES)
    label = repr(sanitize_filename(name)) if name else "the upload"
    limits.check_upload_size(size)
    if size == 0:
        raise ValueError(f"{label} is empty; choose the file again")
    if kind == "script":
        if data is None:
            if size > limits.max_script_bytes:
                limits.check_script(b"\x20" * (limits.max_script_bytes + 1))   # raises the standard message
            data = path.read_bytes()
        limits.check_script(data)
        return UploadInfo("script", "utf-8", size, path)
    found = sniff_format(head)
    allowed = AUDIO_FORMATS if kind == "audio" else IMAGE_FORMATS
    if found not in allowed:
        what = f"a {found.upper()} file" if found else "not a recognised file"
        raise ValueError(f"{label} is {what}, whatever its extension says; upload {kind} as "
                         f"{'/'.join(f.upper() for f in allowed)}")
    if kind == "image":
        _check_image_pixels(path if data is None else data, limits, label)
    return UploadInfo(kind, found, size, path)


def _check_image_pixels(source: Path | bytes, limits: Limits, label: str) -> None:
    import io
    import warnings

    from PIL import Image

    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:      # reads the header only
                width, height = image.size
    except Image.DecompressionBombError:
        raise ValueError(f"{label} claims an enormous size in pixels; it is refused") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"{label} is not a readable image ({error}); export it again as PNG or JPEG") from None
    limits.check_image_size(width, height)
