"""Writing the animatic: H.264 segments on a background thread, the final MP4 with AAC, and a GIF.

Everything goes through PyAV (its wheels carry FFmpeg with libx264 and the native AAC encoder), so no
``ffmpeg`` binary is needed.

* :class:`SegmentEncoder` encodes frames into one short MP4 *segment* at a time on its own thread, fed
  through a small bounded queue: the caller renders frame ``k + 1`` while frame ``k`` is converted to
  YUV and encoded (PyAV releases the GIL inside FFmpeg and x264 runs its own threads). Every segment
  starts on a key frame and has no B-frames, so segments can later be joined without re-encoding.
* :class:`AudioTrackJob` encodes the soundtrack to AAC on another thread while the frames render.
* :func:`mux_final` joins segments and the AAC track by copying their packets (timestamps shifted,
  interleaved, no re-encode) and writes the MP4 under a temporary name that is renamed onto the final
  path only when everything succeeded (:func:`engines.atomic.atomic_output_path`).
* :func:`write_gif` decodes the finished MP4 at a low frame rate and size and writes a looping GIF.

Colours: frames are converted from RGB to limited-range YUV 4:2:0 with the BT.601 matrix (OpenCV's SIMD
conversion and 2x2 chroma averaging, which is faster here than swscale's) and the stream's
colour description says so (matrix SMPTE 170M, BT.709/sRGB primaries and transfer), so players convert
back exactly.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from lantern_studio.engines.jobs import Cancelled, check_cancel
from lantern_studio.engines.atomic import atomic_output_path

#: libx264 presets used for the final video and for previews.
PRESET_FINAL = "superfast"
PRESET_PREVIEW = "ultrafast"
CRF_FINAL = 20
CRF_PREVIEW = 26
AUDIO_BITRATE = 192_000
_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFullError(OSError):
    """Writing failed because the disk (or the user's quota, or the file-size limit) is full."""


def explain_write_error(error: BaseException, path: str | os.PathLike) -> BaseException:
    """Turn an OS or FFmpeg write failure into an error whose message says what to do."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code in _DISK_ERRNOS or "No space left" in text or "File too large" in text:
        return DiskFullError(code or errno.ENOSPC,
                             f"could not write {Path(path).name}: the disk is full (or the file is larger than "
                             f"this system allows) in {Path(path).parent}; free some space or choose another "
                             f"output folder, then export again ({text})")
    return error


@dataclass(frozen=True)
class VideoSettings:
    """How segments are encoded; every segment joined into one MP4 must share these."""

    width: int
    height: int
    fps: int
    preset: str = PRESET_FINAL
    crf: int = CRF_FINAL

    def key(self) -> dict:
        return {"codec": "h264", "width": self.width, "height": self.height, "fps": self.fps,
                "preset": self.preset, "crf": self.crf, "colour": "bt601-limited", "pyav": av.__version__}


def _open_video(path: Path, settings: VideoSettings):
    container = av.open(str(path), mode="w", format="mp4")
    stream = container.add_stream("libx264", rate=settings.fps)
    stream.width = settings.width
    stream.height = settings.height
    stream.pix_fmt = "yuv420p"
    context = stream.codec_context
    context.colorspace = 6          # AVCOL_SPC_SMPTE170M: the BT.601 matrix the frames were converted with
    context.color_primaries = 1     # AVCOL_PRI_BT709 (sRGB primaries)
    context.color_trc = 1           # AVCOL_TRC_BT709
    context.color_range = 1         # AVCOL_RANGE_MPEG (limited)
    stream.options = {"preset": settings.preset, "crf": str(settings.crf),
                      "x264-params": "bframes=0:keyint=250:min-keyint=1:scenecut=40"}
    return container, stream


try:  # OpenCV's SIMD colour conversion and area resize are several times faster than swscale's
    import cv2 as _cv2
except ImportError:  # pragma: no cover - OpenCV is optional; swscale gives the same BT.601 result
    _cv2 = None

# full-range (JPEG) BT.601 YCbCr -> limited ("video") range: Y 16..235, Cb/Cr 16..240
_Y_LIMITED = np.round(16 + np.arange(256) * 219 / 255).astype(np.uint8)
_C_LIMITED = np.round(128 + (np.arange(256) - 128) * 224 / 255).astype(np.uint8)


def to_video_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An ``(H, W, 3)`` uint8 RGB frame as a BT.601 limited-range yuv420p PyAV frame.

    With OpenCV: ``COLOR_RGB2YCrCb`` (BT.601), chroma averaged over 2x2 blocks (``INTER_AREA``), both
    mapped to limited range by lookup tables. Without it: swscale (same matrix and range, slower).
    """
    if _cv2 is None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        return frame.reformat(format="yuv420p", dst_colorspace="itu601", dst_color_range="MPEG")
    height, width = rgb.shape[:2]
    y, cr, cb = _cv2.split(_cv2.cvtColor(rgb, _cv2.COLOR_RGB2YCrCb))
    planes = np.empty((height * 3 // 2, width), np.uint8)
    planes[:height] = _cv2.LUT(y, _Y_LIMITED)
    chroma = planes[height:].reshape(-1)
    half = (width // 2, height // 2)
    quarter = half[0] * half[1]
    chroma[:quarter] = _cv2.LUT(_cv2.resize(cb, half, interpolation=_cv2.INTER_AREA), _C_LIMITED).reshape(-1)
    chroma[quarter:] = _cv2.LUT(_cv2.resize(cr, half, interpolation=_cv2.INTER_AREA), _C_LIMITED).reshape(-1)
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


_BEGIN, _FRAME, _END, _STOP, _ABORT = range(5)


class SegmentEncoder:
    """Encode frames into segment files on a background thread.

    Call :meth:`begin` with a segment's final path, :meth:`put` each ``(H, W, 3)`` uint8 RGB frame (the
    array must not be modified afterwards), :meth:`end` to finish the segment, and :meth:`close` when
    done. A segment is written to a temporary name and renamed into place when it is complete, so a
    cache never holds a partial segment. Errors from the thread are raised from the next call.
    """

    def __init__(self, settings: VideoSettings, *, queue_frames: int = 6):
        self.settings = settings
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_frames))
        self._error: BaseException | None = None
        self._path: Path | None = None
        self.frames_encoded = 0
        self._thread = threading.Thread(target=self._run, name="animatic-encoder", daemon=True)
        self._thread.start()

    # -- caller side -------------------------------------------------------------------------------
    def _send(self, item) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def begin(self, path: str | os.PathLike) -> None:
        self._send((_BEGIN, Path(path)))

    def put(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.settings.height, self.settings.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frames must be ({self.settings.height}, {self.settings.width}, 3) uint8, "
                             f"got {rgb.shape} {rgb.dtype}")
        self._send((_FRAME, rgb))

    def end(self) -> None:
        self._send((_END, None))

    def close(self) -> None:
        """Wait for every queued frame to be written; raise the thread's error if it failed."""
        if self._thread.is_alive():
            self._send((_STOP, None))
            self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop now, dropping the segment in progress (its temporary file is removed)."""
        if self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._queue.put((_ABORT, None))
            self._thread.join()

    # -- thread side -------------------------------------------------------------------------------
    def _run(self) -> None:
        container = stream = None
        temp: Path | None = None
        final: Path | None = None
        try:
            while True:
                kind, value = self._queue.get()
                if kind == _BEGIN:
                    final = value
                    final.parent.mkdir(parents=True, exist_ok=True)
                    temp = final.with_name(f".partial-{os.getpid()}-{threading.get_ident()}-{final.name}")
                    container, stream = _open_video(temp, self.settings)
                    index = 0
                    last_rgb = frame = None
                elif kind == _FRAME:
                    if value is not last_rgb:     # a held frame is converted to YUV once
                        last_rgb, frame = value, to_video_frame(value)
                    frame.pts = index
                    index += 1
                    for packet in stream.encode(frame):
                        container.mux(packet)
                    self.frames_encoded += 1
                elif kind == _END:
                    for packet in stream.encode(None):
                        container.mux(packet)
                    container.close()
                    container = None
                    os.replace(temp, final)
                    temp = None
                elif kind in (_STOP, _ABORT):
                    return
        except BaseException as error:  # handed to the caller's next call
            self._error = explain_write_error(error, final or "segment")
            # keep draining so a blocked producer wakes up and sees the error
            while True:
                try:
                    kind, _ = self._queue.get(timeout=0.5)
                except queue.Empty:
                    if not threading.main_thread().is_alive():
                        return
                    continue
                if kind in (_STOP, _ABORT):
                    return
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    pass
            if temp is not None and temp.exists():
                temp.unlink()


class AudioTrackJob:
    """Encode a soundtrack to an AAC ``.m4a`` file on a background thread (it overlaps frame rendering).

    ``audio``: float32 ``(n, 2)`` at ``sample_rate`` Hz. :meth:`result` waits and returns the path, or
    raises the thread's error.
    """

    def __init__(self, audio: np.ndarray, sample_rate: int, path: str | os.PathLike, *,
                 bitrate: int = AUDIO_BITRATE):
        self.path = Path(path)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(audio, sample_rate, bitrate), daemon=True,
                                        name="animatic-audio")
        self._thread.start()

    def _run(self, audio, sample_rate, bitrate) -> None:
        try:
            with av.open(str(self.path), mode="w", format="mp4") as output:
                stream = output.add_stream("aac", rate=sample_rate, layout="stereo")
                stream.bit_rate = bitrate
                _encode_audio(output, stream, audio, sample_rate)
        except BaseException as error:  # handed to result()
            self._error = explain_write_error(error, self.path)

    def wait(self) -> None:
        """Wait for the thread without raising (used while another error is on its way out)."""
        self._thread.join()

    def result(self) -> Path:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.path


def mux_final(segments: Sequence[str | os.PathLike], out_path: str | os.PathLike, *, settings: VideoSettings,
              audio_file: str | os.PathLike | None, cancel=None) -> Path:
    """Join video segments and an AAC track in one MP4 by copying packets (no re-encode), atomically.

    Video and audio packets are interleaved by time and the index is moved to the front of the file
    (``faststart``), so players and browsers can start playing before the whole file has arrived.

    Parameters
    ----------
    segments : sequence of path
        Segment files from :class:`SegmentEncoder`, in order, all encoded with ``settings``.
    out_path : path
        The final MP4; written under a temporary name first, renamed onto ``out_path`` when complete.
    audio_file : path or None
        An AAC track from :class:`AudioTrackJob`, or None for a video without sound.

    Raises
    ------
    DiskFullError
        The disk filled up; nothing was left under ``out_path``.
    engines.jobs.Cancelled
        ``cancel`` said stop; nothing was written under ``out_path``.
    """
    out_path = Path(out_path)
    try:
        with atomic_output_path(out_path) as temp:
            _mux(segments, temp, settings, audio_file, cancel)
    except Cancelled:
        raise
    except (OSError, av.FFmpegError) as error:
        raise explain_write_error(error, out_path) from error
    return out_path


def _mux(segments, temp: Path, settings: VideoSettings, audio_file, cancel):
    inputs = [av.open(str(path)) for path in segments]
    audio_in = av.open(str(audio_file)) if audio_file is not None else None
    try:
        template = inputs[0].streams.video[0]
        extradata = bytes(template.codec_context.extradata or b"")
        for path, container in zip(segments, inputs):
            if bytes(container.streams.video[0].codec_context.extradata or b"") != extradata:
                raise ValueError(f"video segment {Path(path).name} was encoded with other settings; clear the "
                                 "render cache and render again")
        output = av.open(str(temp), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            video = output.add_stream_from_template(template)
            video.time_base = template.time_base
            pending = []
            if audio_in is not None:
                source = audio_in.streams.audio[0]
                audio_out = output.add_stream_from_template(source)
                audio_tb = source.time_base
                pending = [packet for packet in audio_in.demux(source) if packet.dts is not None]
                for packet in pending:
                    packet.stream = audio_out
            next_audio = 0
            ticks_per_frame = int(round(1 / (settings.fps * template.time_base)))
            offset = 0
            for container in inputs:
                check_cancel(cancel, "the render was cancelled; nothing was written")
                stream = container.streams.video[0]
                if stream.time_base != template.time_base:
                    raise ValueError("video segments have different time bases; clear the render cache")
                count = 0
                for packet in container.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    now = packet.dts * template.time_base
                    while next_audio < len(pending) and pending[next_audio].dts * audio_tb <= now:
                        output.mux(pending[next_audio])
                        next_audio += 1
                    packet.stream = video
                    output.mux(packet)
                    count += 1
                offset += count * ticks_per_frame
            for packet in pending[next_audio:]:
                output.mux(packet)
        finally:
            output.close()
    finally:
        for container in inputs:
            container.close()
        if audio_in is not None:
            audio_in.close()


def _encode_audio(output, stream, audio: np.ndarray, sample_rate: int, *, block: int = 1024 * 64) -> None:
    audio = np.ascontiguousarray(np.clip(audio, -1.0, 1.0).T, dtype=np.float32)   # planar (2, n)
    pts = 0
    for start in range(0, audio.shape[1], block):
        chunk = np.ascontiguousarray(audio[:, start:start + block])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = sample_rate
        frame.pts = pts
        pts += chunk.shape[1]
        for packet in stream.encode(frame):
            output.mux(packet)
    for packet in stream.encode(None):
        output.mux(packet)


def write_gif(video_path: str | os.PathLike, gif_path: str | os.PathLike, *, width: int = 270, fps: float = 10.0,
              max_s: float | None = None) -> Path:
    """A looping GIF of an MP4: every frame nearest to a ``1 / fps`` step, scaled to ``width`` pixels.

    Parameters
    ----------
    width : int
        GIF width in pixels; the height keeps the video's aspect (rounded to even).
    fps : float
        GIF frame rate (GIF timing has 10 ms steps; 10 fps keeps files small).
    max_s : float, optional
        Only the first ``max_s`` seconds.
    """
    from PIL import Image

    if not (width >= 16 and 1.0 <= fps <= 50.0):
        raise ValueError(f"GIF width must be at least 16 px and fps within 1..50, got {width} px at {fps} fps")
    gif_path = Path(gif_path)
    images = []
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        height = max(2, int(round(stream.codec_context.height * width / stream.codec_context.width / 2)) * 2)
        next_t = 0.0
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if max_s is not None and t >= max_s:
                break
            if t + 1e-6 < next_t:
                continue
            next_t += 1.0 / fps
            rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
            images.append(Image.fromarray(rgb).quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    if not images:
        raise ValueError(f"{Path(video_path).name} has no video frames to make a GIF from")
    duration_ms = int(round(1000 / fps))
    try:
        with atomic_output_path(gif_path) as temp:
            images[0].save(temp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                           loop=0, disposal=1)
    except OSError as error:
        raise explain_write_error(error, gif_path) from error
    return gif_path
