"""Animatic export, end to end: the Chinese sample script as a 60 s 1080x1920 24 fps MP4 with music.

Scenario: ``/work/shared/samples/nianyefan.txt`` (or ``LANTERN_SAMPLES``) parsed and planned into shots
(their camera moves come from the script's hints), stretched to 60 s including the title and end cards,
with clean previz panels, burned-in subtitles, a 12 s music loop ducked under placeholder dialogue and
loudness-normalised. The panels are drawn before timing (they are the storyboard stage's output and both
pipelines get the same images); the timed work is everything else: compositing every frame, encoding
H.264 + AAC and writing the MP4.

Peer: MoviePy 2 making the same video the usual way: per shot an ``ImageClip`` of the panel with a
``resized(zoom(t))`` and ``with_position(offset(t))`` camera move, ``ImageClip`` subtitles (the same
images), a ``CompositeVideoClip`` per shot, ``concatenate_videoclips``, and ``write_videofile`` with the
same libx264 preset and AAC audio (the same soundtrack WAV). Quick mode: 4 s at 360x640.

Metric: ``realtime_factor`` (video seconds per second of work); > 1 is faster than real time.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from lantern_studio.benchmarks.timing import Timing, figure, make_row
from lantern_studio.engines.jobs import no_progress

#: CPU seconds (all threads and child processes) of one render, by scenario text and then "lantern" or
#: "moviepy", from the last run: on a shared machine the wall time depends on the load, CPU time much less.
LAST_CPU_S: dict[str, dict[str, float]] = {}


def _cpu_s() -> float:
    """CPU seconds of this process (all threads) plus its waited-for children (MoviePy's ffmpeg)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime

SAMPLES = Path(os.environ.get("LANTERN_SAMPLES", "/work/shared/samples"))
SCRIPT = "nianyefan.txt"


def sample_board(total_s: float):
    """The Chinese sample planned into shots, durations scaled so the video (with cards) lasts ``total_s``."""
    from lantern_studio.engines.story.script import parse_script, read_script_file
    from lantern_studio.engines.story.shots import plan_shots

    path = SAMPLES / SCRIPT
    if not path.is_file():
        raise FileNotFoundError(f"the sample script {path} is missing; set LANTERN_SAMPLES to its folder")
    board = plan_shots(parse_script(read_script_file(path)))
    cards_s = 4.0 if total_s >= 20 else 0.0
    scale = (total_s - cards_s) / board.duration_s
    for shot in board.shots:
        shot.duration_s = round(shot.duration_s * scale, 3)
    return board, cards_s / 2


def quick_board():
    """The sample's first shots, trimmed to 4 s with two moves and a dissolve, for the quick size."""
    board, _ = sample_board(60.0)
    board.shots = board.shots[:4]
    for shot, move in zip(board.shots, ("push_in", "pan_left", "static", "tilt_up")):
        shot.duration_s = 1.0
        shot.move = move
    board.shots[1].transition = "dissolve"
    return board


def festival_loop(seconds: float = 12.0, sample_rate: int = 48_000) -> tuple[np.ndarray, int]:
    """A pentatonic plucked loop (shorter than the video, so it is looped) as float32 (n, 2)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    notes = [392.0, 440.0, 523.25, 587.33, 659.25, 587.33, 523.25, 440.0]
    out = np.zeros_like(t)
    beat = 0.375
    for i in range(int(seconds / beat)):
        start = int(i * beat * sample_rate)
        n = min(int(0.9 * sample_rate), t.size - start)
        tt = np.arange(n) / sample_rate
        out[start:start + n] += 0.3 * np.sin(2 * np.pi * notes[i % len(notes)] * tt) * np.exp(-tt * 4)
    return np.stack([out, out], axis=1).astype(np.float32), sample_rate


def draw_panels(board, size):
    from lantern_studio.engines.story.panels import render_panel

    return {shot.number: render_panel(shot, board, size=size, lettering=False, header=False) for shot in board.shots}


def ours(board, panels, music, *, out: Path, preview: bool, card_s: float, device: str):
    from lantern_studio.engines.story.animatic import render_animatic

    return render_animatic(board, out_path=out, panels=panels, music=music, preview=preview, title_card_s=card_s,
                           end_card_s=card_s, backend=device)


def moviepy_same_video(result, board, panels, soundtrack_wav: Path, *, out: Path, preset: str, crf: int):
    """The same shots, moves, subtitles and audio through MoviePy's ImageClip/CompositeVideoClip."""
    from moviepy import AudioFileClip, ColorClip, CompositeVideoClip, ImageClip, concatenate_videoclips

    from lantern_studio.engines.children import adopt_moviepy
    from lantern_studio.engines.story.subtitles import SubtitleStyle, build_cues, render_subtitle

    adopt_moviepy()                  # its ffmpeg processes die with the benchmark, even on SIGKILL
    from lantern_studio.engines.story.timeline import camera_view, cover_scale

    timeline = result.timeline
    width, height, fps = timeline.width, timeline.height, timeline.fps
    style = SubtitleStyle.for_frame(width, height)
    cues = build_cues(timeline, style=style, language=board.language)
    clips = []
    for segment in timeline.segments:
        duration = segment.duration_s
        background = ColorClip((width, height), color=(0, 0, 0)).with_duration(duration)
        layers = [background]
        if segment.shot is None:
            layers.append(ImageClip(np.full((height, width, 3), (70, 14, 18), np.uint8)).with_duration(duration))
        else:
            image = np.asarray(panels[segment.shot.number].convert("RGB"))
            ph, pw = image.shape[:2]
            base = cover_scale((pw, ph), (width, height))
            move = segment.shot.move

            def scale_at(t, move=move, duration=duration, base=base):
                return base * camera_view(move, t, duration)[0]

            def position_at(t, move=move, duration=duration, base=base, pw=pw, ph=ph):
                zoom, vx, vy, _ = camera_view(move, t, duration)
                k = base * zoom
                slack_x, slack_y = max(pw * k - width, 0), max(ph * k - height, 0)
                return (width / 2 - pw * k / 2 - vx * slack_x, height / 2 - ph * k / 2 - vy * slack_y)

            clip = ImageClip(image).with_duration(duration)
            clip = clip.resized(scale_at) if move != "static" else clip.resized(base)
            layers.append(clip.with_position(position_at))
        for cue in cues:
            if segment.start_frame <= cue.start_frame < segment.end_frame:
                rgba, (x, y) = render_subtitle(cue.lines, frame_width=width, frame_height=height, style=style,
                                               language=board.language)
                sub = ImageClip(rgba[..., :3], transparent=False).with_mask(
                    ImageClip(rgba[..., 3].astype(np.float64) / 255, is_mask=True))
                layers.append(sub.with_start(cue.start_s - segment.start_s).with_duration(cue.end_s - cue.start_s)
                              .with_position((x, y)))
        clips.append(CompositeVideoClip(layers, size=(width, height)).with_duration(duration))
    video = concatenate_videoclips(clips, method="chain").with_audio(AudioFileClip(str(soundtrack_wav)))
    video.write_videofile(str(out), fps=fps, codec="libx264", preset=preset, audio_codec="aac",
                          ffmpeg_params=["-crf", str(crf), "-pix_fmt", "yuv420p"], logger=None)
    video.close()


def moving_board(board):
    """The same shots with a camera move on every one (static ones get push/pull/pan/tilt/shake in turn)
    and a dissolve into every other shot: the hardest case, nothing is a held frame."""
    moves = ("push_in", "pan_left", "tilt_up", "pull_out", "pan_right", "shake", "tilt_down")
    for i, shot in enumerate(board.shots):
        if shot.move == "static":
            shot.move = moves[i % len(moves)]
        if i % 2:
            shot.transition = "dissolve"
    return board


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Benchmark rows (see benchmarks/timing.py) for the animatic export.

    Quick: the sample's first 4 shots, 4 s at 360x640, against MoviePy. Full: the whole sample as 60 s at
    1080x1920 24 fps against MoviePy (about ten minutes of MoviePy on 2 cores), then the same with a move on
    every shot (ours only).
    """
    import soundfile

    from lantern_studio.engines.story.encode import CRF_FINAL, CRF_PREVIEW, PRESET_FINAL, PRESET_PREVIEW
    from lantern_studio.engines.story.soundtrack import build_soundtrack
    from lantern_studio.kernels.backend import resolve_backend

    step = progress or no_progress
    backend = resolve_backend(device)
    if quick:
        scenarios = [("first shots, moves + a dissolve", quick_board(), 0.0, True, True)]
        size = (360, 640)
        repeats = 3
    else:
        planned, card_s = sample_board(60.0)
        moving, _ = sample_board(60.0)
        scenarios = [("shots as planned", planned, card_s, False, True),
                     ("a move on every shot, dissolves", moving_board(moving), card_s, False, False)]
        size = (1274, 2266)
        repeats = 3
    music = festival_loop()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-animatic-") as folder:
        folder = Path(folder)
        step(0.05, "warming up (kernel compilation)")
        warm = quick_board()
        ours(warm, draw_panels(warm, (360, 640)), music, out=folder / "warm.mp4", preview=True, card_s=0.0,
             device=backend)
        for index, (label, board, card_s, preview, with_peer) in enumerate(scenarios):
            base = index / len(scenarios)
            step(base + 0.1 / len(scenarios), f"{label}: drawing the panels (not timed)")
            panels = draw_panels(board, size)
            step(base + 0.2 / len(scenarios), f"{label}: rendering with Lantern")
            seconds, cpu = [], []
            for _ in range(repeats):     # the median of a few runs: the machine may be shared
                start, cpu_start = time.perf_counter(), _cpu_s()
                result = ours(board, panels, music, out=folder / f"ours{index}.mp4", preview=preview,
                              card_s=card_s, device=backend)
                seconds.append(time.perf_counter() - start)
                cpu.append(_cpu_s() - cpu_start)
            duration_s = result.duration_s
            value, spread = figure(Timing(tuple(seconds)), "realtime_factor", amount=duration_s)
            cpu_s = {"lantern": float(np.median(cpu))}
            peers, skipped = {}, {}
            if not with_peer:
                skipped["moviepy"] = "measured on the first scenario only (it takes about ten minutes)"
            else:
                try:
                    import moviepy  # noqa: F401
                except ImportError:
                    skipped["moviepy"] = "not installed (pip install moviepy)"
                else:
                    step(base + 0.5 / len(scenarios), f"{label}: rendering the same video with MoviePy")
                    track = build_soundtrack(result.timeline, music=music, language=board.language)
                    wav = folder / "soundtrack.wav"
                    soundfile.write(wav, track.audio, track.sample_rate)
                    start, cpu_start = time.perf_counter(), _cpu_s()
                    moviepy_same_video(result, board, panels, wav, out=folder / f"moviepy{index}.mp4",
                                       preset=PRESET_PREVIEW if preview else PRESET_FINAL,
                                       crf=CRF_PREVIEW if preview else CRF_FINAL)
                    peers["moviepy"] = duration_s / (time.perf_counter() - start)
                    cpu_s["moviepy"] = _cpu_s() - cpu_start
            scenario = (f"{SCRIPT} -> {duration_s:.0f} s {result.width}x{result.height} {result.fps} fps MP4 + music, "
                        f"{len(board.shots)} shots ({label}), end to end")
            LAST_CPU_S[scenario] = cpu_s
            rows.append(make_row(family="animatic", scenario=scenario, metric="realtime_factor", value=value,
                                 spread=spread, peers=peers, device=backend, skipped=skipped, realtime=value >= 1.0))
            del panels
    step(1.0, "done")
    return rows


def main(argv=None) -> int:
    from lantern_studio.benchmarks.runner import run_standalone

    rows = run_standalone(run, __doc__, quick_help="4 s at 360x640 instead of 60 s at 1080x1920", argv=argv)
    for row in rows:
        ratios = ", ".join(f"{k}: {v:,.2f}x" for k, v in row["ratios"].items()) or "none"
        seconds = float(row["scenario"].split(" -> ")[1].split(" s ")[0]) / row["value"]
        cpu = LAST_CPU_S.get(row["scenario"], {})
        cpu_text = ", ".join(f"{name} {value:.1f}" for name, value in cpu.items())
        cpu_ratio = (f"; CPU-time ratio moviepy/lantern {cpu['moviepy'] / cpu['lantern']:.1f}x"
                     if "moviepy" in cpu else "")
        print(f"{row['scenario']}: {row['value']:.2f}x real time (median {seconds:.1f} s wall; CPU-s {cpu_text} "
              f"on {os.cpu_count()} cores); ratios {ratios}{cpu_ratio}"
              + (f"; skipped {row['skipped']}" if row.get("skipped") else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
