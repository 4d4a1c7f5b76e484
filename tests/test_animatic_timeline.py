"""Timeline, camera and subtitle layout: frame counts per shot, eased sub-pixel camera matrices,
subtitle wrapping measured with PIL."""

from __future__ import annotations


import numpy as np
import pytest

from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.subtitles import SubtitleStyle, chunk_dialogue, load_font, render_subtitle, wrap_text
from lantern_studio.engines.story.timeline import (FORMATS, build_timeline, camera_matrix, ease_in_out, frame_size,
                                    shot_frames)


def test_each_shot_keeps_its_own_frame_count():
    shots = [Shot(number=1, duration_s=1.02), Shot(number=2, duration_s=1.02, transition="dissolve"),
             Shot(number=3, duration_s=0.01)]
    timeline = build_timeline(Storyboard(title="T", shots=shots), width=360, height=640, fps=24, end_card_s=1.0)
    kinds = [s.kind for s in timeline.segments]
    assert kinds == ["title", "shot", "shot", "shot", "end"]
    assert [s.frames for s in timeline.segments] == [48, 24, 24, 1, 24]
    assert all(a.end_frame == b.start_frame for a, b in zip(timeline.segments, timeline.segments[1:]))
    assert timeline.segments[2].transition_frames == 12              # 0.5 s dissolve at 24 fps
    assert timeline.segments[3].transition == "cut"
    shots[0].duration_s = 3.0                                          # one shot changes, the others do not
    again = build_timeline(Storyboard(title="T", shots=shots), width=360, height=640, fps=24, end_card_s=1.0)
    assert [s.frames for s in again.segments[2:]] == [24, 1, 24]
    assert shot_frames(0.01, 30) == 1


def test_ease_starts_and_ends_at_rest():
    h = 1e-4
    assert ease_in_out(0) == 0 and ease_in_out(1) == 1 and ease_in_out(0.5) == pytest.approx(0.5)
    assert (ease_in_out(h) - ease_in_out(0)) / h < 1e-3
    assert (ease_in_out(1) - ease_in_out(1 - h)) / h < 1e-3


def test_push_in_moves_by_sub_pixel_steps_and_keeps_the_frame_covered():
    panel, frame = (1274, 2266), (1080, 1920)
    times = np.arange(48) / 24
    mats = [camera_matrix("push_in", t, 2.0, panel_size=panel, frame_size=frame) for t in times]
    scales = np.array([m[0, 0] for m in mats])
    assert np.all(np.diff(scales) >= 0) and scales[-1] / scales[0] == pytest.approx(1.18, rel=1e-3)
    steps = np.abs(np.diff([m[0, 2] for m in mats]))
    assert steps.max() < 4.0                                        # slow: a few pixels a frame at most
    assert np.any(np.abs(steps - np.round(steps)) > 0.05)          # and not whole pixels
    for m in mats:                                                   # the panel always covers the frame
        corners = np.array([[0, 0], [panel[0], panel[1]]]) @ m[:, :2].T + m[:, 2]
        assert corners[0, 0] <= 0 and corners[0, 1] <= 0 and corners[1, 0] >= frame[0] and corners[1, 1] >= frame[1]


@pytest.mark.parametrize("move,axis,sign", [("pan_left", 0, 1), ("pan_right", 0, -1), ("tilt_up", 1, 1),
                                            ("tilt_down", 1, -1)])
def test_pans_and_tilts_travel_the_right_way(move, axis, sign):
    start = camera_matrix(move, 0.0, 2.0, panel_size=(1274, 2266), frame_size=(1080, 1920))
    end = camera_matrix(move, 2.0, 2.0, panel_size=(1274, 2266), frame_size=(1080, 1920))
    # pan left = the view travels left = the picture slides right on screen
    assert sign * (end[axis, 2] - start[axis, 2]) > 50


def test_shake_is_smooth_and_small():
    mats = [camera_matrix("shake", t, 2.0, panel_size=(1274, 2266), frame_size=(1080, 1920), seed=7)
            for t in np.arange(48) / 24]
    centres = np.array([m[:, :2] @ [637, 1133] + m[:, 2] for m in mats])   # where the panel's centre lands
    assert np.ptp(centres[:, 0]) > 2.0 and np.ptp(centres[:, 1]) > 2.0
    assert np.abs(centres - [540, 960]).max() < 0.01 * 1080            # within 1% of the frame
    assert np.abs(np.diff(centres, axis=0)).max() < 8.0                 # no jumps between frames


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_subtitles_wrap_inside_the_safe_width(fmt):
    width, height = frame_size(fmt)
    style = SubtitleStyle.for_frame(width, height)
    font = load_font(style.font_px)
    limit = width - 2 * style.margin_x_px
    text = "我现在是一人公司，老板是我，员工也是我。那你给自己发年终奖没有？（笑）来，祝咱们家小雨明年生意兴隆！"
    lines = wrap_text(text, font, limit)
    assert "".join(lines) == text
    assert all(font.getlength(line) <= limit for line in lines)
    assert not any(line[0] in "，。！？）" for line in lines)
    cues = chunk_dialogue(text, font, limit, max_lines=2)
    assert all(1 <= len(cue) <= 2 for cue in cues) and "".join("".join(c) for c in cues) == text
    image, (x, y) = render_subtitle(cues[0], frame_width=width, frame_height=height, style=style)
    assert image.dtype == np.uint8 and image.shape[2] == 4
    assert np.all(image[..., :3] <= image[..., 3:4])                 # premultiplied
    assert x >= 0 and x + image.shape[1] <= width
    assert y + image.shape[0] <= height - style.margin_bottom_px


def test_english_wraps_between_words():
    font = load_font(40, "en")
    lines = wrap_text("Grandma, it is me! I brought the dumplings you like.", font, 400)
    assert len(lines) >= 2 and " ".join(lines) == "Grandma, it is me! I brought the dumplings you like."


def test_prune_cache_keeps_recent_parts_and_drops_the_oldest(tmp_path):
    import os

    from lantern_studio.engines.story.animatic import prune_cache

    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.mp4"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + i, 1000 + i))
        paths.append(path)
    assert prune_cache(tmp_path, keep=[paths[0]], max_bytes=2500) == 3
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["0.mp4", "4.mp4"]
