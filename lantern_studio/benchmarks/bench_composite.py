"""Frame compositing benchmark: an animatic shot sequence rendered by this project and by its peers.

Scenario, for a 1080x1920 (9:16) and a 1920x1080 frame: a full-frame background 20% larger
than the frame with a moving scale and translation (Ken Burns), two 450x900 character sprites with
small sub-pixel motions, one 800x300 speech bubble and a subtitle strip; 120 frames in two shots with a
24-frame cross-dissolve in the middle (during the dissolve both shots are composited, then blended).

Pipelines, each rendering the same frames from the same premultiplied/straight sources:

* ``lantern``: :func:`kernels.composite.composite` + :func:`kernels.transition.transition`; the
  backgrounds are declared ``opaque`` (as the animatic's panels are).
* ``opencv+numpy``: ``cv2.warpAffine`` (INTER_LINEAR) of each layer into its bounding box, premultiplied
  "over" with ``cv2.multiply``/``cv2.add`` on uint8, ``cv2.addWeighted`` for the dissolve.
* ``pil``: ``Image.transform`` (AFFINE, BILINEAR) per layer, ``Image.alpha_composite`` into the frame,
  ``Image.blend`` for the dissolve.
* ``moviepy``: a ``CompositeVideoClip`` of ``ImageClip`` s with time-varying ``resized``/``with_position``,
  ``CrossFadeIn`` for the dissolve, ``clip.get_frame(t)`` per frame (whole-pixel positions, LANCZOS).

Run standalone: ``python -m benchmarks.bench_composite [--quick] [--device auto|cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lantern_studio.benchmarks.timing import cpu_body_peer, figure, make_row, measure
from lantern_studio.engines.jobs import no_progress
from lantern_studio.kernels.backend import resolve_backend
from lantern_studio.kernels.composite import Layer, affine, composite, premultiply
from lantern_studio.kernels.fill import gradient
from lantern_studio.kernels.transition import transition

FAMILY = "composite"
FPS = 24                      # the animatic's frame rate: "realtime" means at least this many frames/s
FRAMES = 120
DISSOLVE = (48, 72)           # frames [48, 72) blend shot A into shot B
SIZES = ((1920, 1080), (1080, 1920))   # (height, width): 9:16 then 16:9


# ----------------------------------------------------------------------------------------------------
# Sources (procedural, deterministic)


def _soft_ellipse(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    d = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    return np.clip((1.0 - d) * min(rx, ry), 0.0, 1.0)      # ~1 px anti-aliased edge


def _sprite(color, seed: int) -> np.ndarray:
    """450x900 straight-alpha RGBA character silhouette: head, body, shading."""
    h, w = 900, 450
    rng = np.random.default_rng(seed)
    alpha = np.maximum(_soft_ellipse(h, w, 225, 170, 110, 130), _soft_ellipse(h, w, 225, 600, 200, 300))
    ys = np.linspace(0.7, 1.0, h)[:, None, None]
    rgb = np.clip(np.array(color, np.float64)[None, None, :] * ys + rng.normal(0, 6, (h, w, 3)), 0, 255)
    return np.dstack([rgb, alpha * 255]).round().astype(np.uint8)


def _bubble() -> np.ndarray:
    h, w = 300, 800
    outer = _soft_ellipse(h, w, 400, 150, 396, 146)
    inner = _soft_ellipse(h, w, 400, 150, 388, 138)
    rgb = np.empty((h, w, 3))
    rgb[:] = 255 * inner[..., None] + 20 * (1 - inner[..., None])   # white fill, dark outline
    return np.dstack([rgb, outer * 255]).round().astype(np.uint8)


def _subtitle(width: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    h, w = 120, int(width * 0.9)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 150))
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=56)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    draw.text((w // 2, h // 2), "The lanterns are lit - come home!", fill=(255, 255, 255, 255), font=font, anchor="mm")
    return np.asarray(img).copy()


def _background(height: int, width: int, warm: bool) -> np.ndarray:
    """Opaque background 20% larger than the frame: a gradient sky with lantern-like discs."""
    bh, bw = int(round(height * 1.2)), int(round(width * 1.2))
    top, bottom = ((40, 10, 60), (230, 120, 40)) if warm else ((10, 30, 70), (120, 200, 230))
    sky = gradient((bh, bw), top, bottom, angle_deg=80.0, backend="cpu").astype(np.float64)
    rng = np.random.default_rng(1 if warm else 2)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, bw), rng.uniform(0, bh * 0.7), rng.uniform(30, 90)
        x0, x1, y0, y1 = int(max(cx - r - 2, 0)), int(min(cx + r + 2, bw)), int(max(cy - r - 2, 0)), int(min(cy + r + 2, bh))
        disc = _soft_ellipse(y1 - y0, x1 - x0, cx - x0, cy - y0, r, r)[..., None]
        sky[y0:y1, x0:x1] = sky[y0:y1, x0:x1] * (1 - disc) + np.array([255, 60, 40]) * disc
    sky += rng.normal(0, 4, sky.shape)
    return np.dstack([np.clip(sky, 0, 255), np.full((bh, bw), 255.0)]).round().astype(np.uint8)


@dataclass(frozen=True)
class Sources:
    height: int
    width: int
    straight: dict      # name -> straight-alpha RGBA uint8 (PIL, MoviePy)
    premult: dict       # name -> premultiplied RGBA uint8 (this project, OpenCV)


def make_sources(height: int, width: int) -> Sources:
    straight = {"bg_a": _background(height, width, True), "bg_b": _background(height, width, False),
                "hero": _sprite((220, 60, 50), 3), "friend": _sprite((60, 90, 200), 4),
                "bubble": _bubble(), "subtitle": _subtitle(width)}
    return Sources(height, width, straight, {k: premultiply(v) for k, v in straight.items()})


# ----------------------------------------------------------------------------------------------------
# The scene: per frame, which source goes where (layer -> frame matrices, our pixel-centre convention)


def scene(sources: Sources, frame: int, shot: str) -> list[tuple[str, np.ndarray]]:
    """Layers of one shot at a frame: ``[(source name, (2, 3) matrix)]``, bottom to top."""
    height, width = sources.height, sources.width
    t = frame / FRAMES
    bg = "bg_a" if shot == "a" else "bg_b"
    bh, bw = sources.straight[bg].shape[:2]
    # Ken Burns: the background (1.2x the frame) zooms from 0.86x to 0.95x and pans, always covering
    zoom = (0.86 + 0.09 * t) if shot == "a" else (0.95 - 0.08 * t)
    span_x, span_y = bw * zoom - width, bh * zoom - height
    pan = 0.2 + 0.6 * t
    bg_matrix = affine(scale=zoom, translate=(-span_x * pan, -span_y * (1 - pan) * 0.5))
    # sprites at their own size, feet near the bottom, with a sub-pixel walk, bob and breathing scale
    feet_y = height - 0.04 * height
    bob = 6.0 * math.sin(2 * math.pi * frame / 40)
    hero = affine(scale=1.0 + 0.01 * math.sin(frame / 9), origin=(225, 900),
                  translate=(0.06 * width + 0.35 * frame, feet_y - 900 + bob))
    friend = affine(scale=1.0 - 0.01 * math.sin(frame / 11), origin=(225, 900),
                    translate=(0.94 * width - 450 - 0.2 * frame, feet_y - 900 - 0.5 * bob))
    bubble = affine(translate=((width - 800) / 2 + 0.1 * frame, 0.1 * height + 0.05 * frame))
    sub_w = sources.straight["subtitle"].shape[1]
    subtitle = affine(translate=((width - sub_w) / 2, height - 120 - 0.03 * height))
    return [(bg, bg_matrix), ("hero", hero), ("friend", friend), ("bubble", bubble), ("subtitle", subtitle)]


def shots_at(frame: int) -> list[tuple[str, float]]:
    """The shots a frame shows: [("a", 1.0)], [("b", 1.0)], or both with the dissolve's progress."""
    if frame < DISSOLVE[0]:
        return [("a", 1.0)]
    if frame >= DISSOLVE[1]:
        return [("b", 1.0)]
    return [("a", 1.0), ("b", (frame - DISSOLVE[0] + 0.5) / (DISSOLVE[1] - DISSOLVE[0]))]


# ----------------------------------------------------------------------------------------------------
# Pipelines: each returns a function rendering one frame index to an (H, W, 3) uint8 array


def lantern_pipeline(sources: Sources, backend: str) -> Callable[[int], np.ndarray]:
    black = np.zeros((sources.height, sources.width, 3), np.uint8)
    buf_a, buf_b, out = np.empty_like(black), np.empty_like(black), np.empty_like(black)

    def layers(frame: int, shot: str) -> list[Layer]:
        # the backgrounds are opaque, and say so (the OpenCV pipeline likewise warps them as plain RGB)
        return [Layer(sources.premult[name], m, opaque=name.startswith("bg_"))
                for name, m in scene(sources, frame, shot)]

    def render(frame: int) -> np.ndarray:
        shots = shots_at(frame)
        if len(shots) == 1:
            return composite(black, layers(frame, shots[0][0]), out=out, backend=backend)
        composite(black, layers(frame, "a"), out=buf_a, backend=backend)
        composite(black, layers(frame, "b"), out=buf_b, backend=backend)
        return transition(buf_a, buf_b, shots[1][1], kind="dissolve", out=out, backend=backend)

    return render


def _opencv_matrix(matrix: np.ndarray) -> np.ndarray:
    linear, offset = matrix[:, :2], matrix[:, 2]
    return np.hstack([linear, (offset + linear @ [0.5, 0.5] - 0.5)[:, None]])


def _box(matrix: np.ndarray, h: int, w: int, height: int, width: int):
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ matrix[:, :2].T + matrix[:, 2]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def opencv_pipeline(sources: Sources) -> Callable[[int], np.ndarray]:
    import cv2

    height, width = sources.height, sources.width
    rgb = {k: np.ascontiguousarray(v[..., :3]) for k, v in sources.premult.items()}

    def shot_frame(frame: int, shot: str) -> np.ndarray:
        layers = scene(sources, frame, shot)
        bg, bg_matrix = layers[0]
        out = cv2.warpAffine(rgb[bg], _opencv_matrix(bg_matrix), (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT)
        for name, matrix in layers[1:]:
            src = sources.premult[name]
            box = _box(matrix, *src.shape[:2], height, width)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            m = _opencv_matrix(matrix)
            m[:, 2] -= (x0, y0)
            warped = cv2.warpAffine(src, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
            inv = cv2.merge([255 - warped[..., 3]] * 3)
            roi = out[y0:y1, x0:x1]
            out[y0:y1, x0:x1] = cv2.add(cv2.multiply(roi, inv, scale=1 / 255), warped[..., :3])
        return out

    def render(frame: int) -> np.ndarray:
        shots = shots_at(frame)
        if len(shots) == 1:
            return shot_frame(frame, shots[0][0])
        t = shots[1][1]
        return cv2.addWeighted(shot_frame(frame, "a"), 1 - t, shot_frame(frame, "b"), t, 0.0)

    return render


def pil_pipeline(sources: Sources) -> Callable[[int], np.ndarray]:
    from PIL import Image

    height, width = sources.height, sources.width
    images = {k: Image.fromarray(v) for k, v in sources.straight.items()}
    bg_rgb = {k: images[k].convert("RGB") for k in ("bg_a", "bg_b")}

    def coefficients(matrix: np.ndarray, x0: int, y0: int) -> tuple:
        inv = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))
        a, b, c = inv[0]
        d, e, f = inv[1]
        return (a, b, c + a * x0 + b * y0, d, e, f + d * x0 + e * y0)   # output (x, y) -> input

    def shot_frame(frame: int, shot: str):
        layers = scene(sources, frame, shot)
        bg, bg_matrix = layers[0]
        out = bg_rgb[bg].transform((width, height), Image.Transform.AFFINE, coefficients(bg_matrix, 0, 0),
                                   resample=Image.Resampling.BILINEAR).convert("RGBA")
        for name, matrix in layers[1:]:
            src = images[name]
            box = _box(matrix, src.height, src.width, height, width)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            piece = src.transform((x1 - x0, y1 - y0), Image.Transform.AFFINE, coefficients(matrix, x0, y0),
                                  resample=Image.Resampling.BILINEAR)
            out.alpha_composite(piece, dest=(x0, y0))
        return out.convert("RGB")

    def render(frame: int) -> np.ndarray:
        shots = shots_at(frame)
        if len(shots) == 1:
            return np.asarray(shot_frame(frame, shots[0][0]))
        return np.asarray(Image.blend(shot_frame(frame, "a"), shot_frame(frame, "b"), shots[1][1]))

    return render


def moviepy_pipeline(sources: Sources) -> Callable[[int], np.ndarray]:
    from moviepy import CompositeVideoClip, ImageClip, vfx

    height, width = sources.height, sources.width
    duration = FRAMES / FPS

    def frame_of(t: float) -> int:
        return int(round(t * FPS))

    def shot_clip(shot: str, start: int, end: int):
        clips = []
        names = [name for name, _ in scene(sources, 0, shot)]
        for index, name in enumerate(names):
            src = sources.straight[name]
            h, w = src.shape[:2]

            def size(t, index=index, h=h, w=w):
                m = scene(sources, frame_of(t) + start, shot)[index][1]
                return (max(1, int(round(w * math.hypot(*m[:, 0])))), max(1, int(round(h * math.hypot(*m[:, 1])))))

            def position(t, index=index):
                m = scene(sources, frame_of(t) + start, shot)[index][1]
                return (float(m[0, 2]), float(m[1, 2]))

            clip = ImageClip(src, duration=(end - start) / FPS)
            if name.startswith("bg") or name in ("hero", "friend"):
                clip = clip.resized(size)
            clips.append(clip.with_position(position))
        return CompositeVideoClip(clips, size=(width, height)).with_duration((end - start) / FPS)

    shot_a = shot_clip("a", 0, DISSOLVE[1])
    shot_b = shot_clip("b", DISSOLVE[0], FRAMES).with_start(DISSOLVE[0] / FPS).with_effects(
        [vfx.CrossFadeIn((DISSOLVE[1] - DISSOLVE[0]) / FPS)])
    final = CompositeVideoClip([shot_a, shot_b], size=(width, height)).with_duration(duration)

    def render(frame: int) -> np.ndarray:
        return final.get_frame(frame / FPS)

    return render


# ----------------------------------------------------------------------------------------------------
# Runner


def _frames(quick: bool) -> list[int]:
    return list(range(0, FRAMES, 10)) if quick else list(range(FRAMES))


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Measure the scenario at 1080x1920 and 1920x1080; one ``fps`` row per size.

    Parameters
    ----------
    quick : bool
        Every 10th frame of the 120 (12 frames, dissolve included; every 20th for MoviePy, at
        1080x1920 only). Full: all 120 frames, every pipeline at both sizes.
    device : {"auto", "cpu", "cuda"}
        Body for this project's pipeline (peers run on the CPU).
    progress : callable, optional
        ``progress(fraction, message)``.
    """
    backend = resolve_backend(device)
    frames = _frames(quick)
    report = progress or no_progress
    rows = []
    for size_index, (height, width) in enumerate(SIZES):
        base = size_index / len(SIZES)
        report(base, f"{width}x{height}: building sources")
        sources = make_sources(height, width)
        pipelines: dict[str, Callable[[int], np.ndarray]] = {}
        skipped: dict[str, str] = {}
        for name, build in (("opencv+numpy", opencv_pipeline), ("pil", pil_pipeline), ("moviepy", moviepy_pipeline)):
            if name == "moviepy" and quick and size_index > 0:
                skipped[name] = "quick mode measures MoviePy at 1080x1920 only"
                continue
            try:
                pipelines[name] = build(sources)
            except ImportError as exc:
                skipped[name] = f"not installed ({exc.name or exc})"
        ours = lantern_pipeline(sources, backend)
        if backend == "cuda":  # is the GPU worth it here? this machine's CPU body on the same frames
            pipelines[cpu_body_peer()] = lantern_pipeline(sources, "cpu")

        def sequence(render: Callable[[int], np.ndarray], which: list[int]) -> Callable[[], None]:
            return lambda: [render(i) for i in which]

        report(base + 0.05 / len(SIZES), f"{width}x{height}: this project ({backend})")
        timing = measure(sequence(ours, frames), repeats=3 if quick else 5, warmup=1)
        value, spread = figure(timing, "fps", amount=len(frames))
        peers = {}
        for k, (name, render) in enumerate(pipelines.items()):
            report(base + (0.2 + 0.8 * k / len(pipelines)) / len(SIZES), f"{width}x{height}: {name}")
            slow = name in ("pil", "moviepy")
            which = frames[::2] if (quick and name == "moviepy") else frames   # MoviePy is slow: 6 frames
            peer_timing = measure(sequence(render, which), repeats=1 if (slow or quick) else 3, warmup=0 if slow else 1)
            peers[name] = figure(peer_timing, "fps", amount=len(which))[0]
        scenario = (f"{width}x{height}: bg 120% Ken Burns + 2 sprites 450x900 + bubble 800x300 + subtitle, "
                    f"{len(frames)} of 120 frames, 24-frame dissolve")
        rows.append(make_row(family=FAMILY, scenario=scenario, metric="fps", value=value, spread=spread,
                             peers=peers, device=backend, skipped=skipped or None, realtime=value >= FPS))
    report(1.0, "done")
    return rows


def agreement(height: int, width: int, frame: int = 60) -> dict[str, float]:
    """Mean absolute difference (0..255) between this project's frame and each peer's: same picture?"""
    sources = make_sources(height, width)
    ours = lantern_pipeline(sources, "cpu")(frame).astype(np.float64)
    result = {}
    for name, build in (("opencv+numpy", opencv_pipeline), ("pil", pil_pipeline), ("moviepy", moviepy_pipeline)):
        try:
            result[name] = float(np.abs(build(sources)(frame).astype(np.float64) - ours).mean())
        except ImportError:
            pass
    return result


def _print_table(rows: list[dict]) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPU cores, load average {load:.1f} at the end of the run (other work skews fps)")
    print(f"{'scenario':<40} {'device':<7} {'fps':>8}  {'spread':>17}  peers (fps, ratio)")
    for row in rows:
        peers = ", ".join(f"{name} {fps:.1f} (x{row['ratios'][name]:.2f})" for name, fps in row["peers"].items())
        print(f"{row['scenario'][:40]:<40} {row['device']:<7} {row['value']:8.1f}  "
              f"[{row['spread'][0]:6.1f}, {row['spread'][1]:6.1f}]  {peers}")
        for name, why in (row.get("skipped") or {}).items():
            print(f"{'':<40} skipped {name}: {why}")
    targets = {"fps >= 60 at 1080x1920": rows[0]["value"] >= 60,
               "x2.5 OpenCV": rows[0]["ratios"].get("opencv+numpy", 0) >= 2.5,
               "x8 MoviePy": rows[0]["ratios"].get("moviepy", 0) >= 8}
    print("targets (1080x1920): " + ", ".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in targets.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 of the 120 frames per size (MoviePy: 6, at 1080x1920 only)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--check", action="store_true", help="also print how far each peer's frame is from ours")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, device=args.device,
               progress=lambda fraction, message: print(f"[{fraction:4.0%}] {message}", file=sys.stderr))
    _print_table(rows)
    if args.check:
        for height, width in SIZES:
            diffs = agreement(height, width)
            print(f"{width}x{height} frame 60, mean |peer - ours| (0..255): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in diffs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
