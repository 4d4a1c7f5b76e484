"""The Mixer tab's handlers called directly (no browser): a real composer take in a real project folder in
tmp_path is loaded, mixed with a stem muted, rendered and exported; loudness checked with pyloudnorm, files
read back with soundfile."""

from __future__ import annotations

import re

import gradio as gr
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from lantern_studio.engines.music.base import GenerationRequest
from lantern_studio.engines.music.composer import ComposerEngine
from lantern_studio.engines.music.generate_take import generate_takes
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.studio import tab_mixer

MASTER = dict(key=tab_mixer.NO_KEY, depth=-9, target_v=-14.0, ceiling_v=-1.0, crossfeed_v=False)


@pytest.fixture
def loaded(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    take = generate_takes(ComposerEngine(), GenerationRequest(preset="lion-dance", duration_s=11.0, seed=5100,
                                                              takes=1), TakeStore(ctx.project))[0]
    root = str(ctx.project.root)
    session, version, summary, duck, *_rest, picker = tab_mixer.do_load(ctx, root, take.id, 0)
    return ctx, root, take, session, version, summary, picker


def test_load_gives_the_takes_stems_and_lists_the_take(loaded):
    ctx, root, take, session, version, summary, picker = loaded
    assert version == 1 and f"seed {take.seed}" in summary
    assert sorted(session.names()) == sorted(take.stems)
    assert picker["value"] == take.id and [v for _, v in picker["choices"]] == [take.id]
    # the refreshed picker reads the same project
    assert [v for _, v in tab_mixer.refresh_takes(ctx, root)["choices"]] == [take.id]


def test_render_with_a_muted_stem_meets_the_target_and_export_writes_what_it_says(loaded):
    ctx, root, take, session, *_ = loaded
    tab_mixer.set_stem(session, "drum", "mute", True)
    meter, wave_path, audio_path = tab_mixer.do_render(ctx, root, session, *MASTER.values(), progress=None)
    audio, rate = sf.read(audio_path, always_2d=True, dtype="float64")
    assert rate == take.sample_rate and audio.shape[1] == 2
    measured = pyloudnorm.Meter(rate).integrated_loudness(audio)
    shown = float(re.search(r"Integrated \*\*(-?\d+\.\d) LUFS", meter).group(1))
    assert abs(measured + 14.0) <= 0.3 and abs(shown - measured) <= 0.2, meter
    # the render is the other stems scaled by one master gain: the drum's signal is not in it
    def stereo(x):
        x = np.asarray(x, dtype="float64")
        return np.repeat(x[:, None], 2, axis=1) if x.ndim == 1 else x
    others = sum(stereo(a) for name, a in take.stems.items() if name != "drum")[: audio.shape[0]]
    drum = stereo(take.stems["drum"])[: audio.shape[0]]

    def residual(reference):
        gain = float(np.sum(audio * reference) / np.sum(reference * reference))
        return float(np.sum((audio - gain * reference) ** 2) / np.sum(audio ** 2))
    assert residual(others) < 0.05 < residual(others + drum)
    meter2, files = tab_mixer.do_export(ctx, root, session, *MASTER.values(), ["wav"], True, progress=None)
    names = {p.rsplit("/", 1)[-1] for p in files}
    assert any(n.endswith("_mix.wav") for n in names) and any(n.endswith(".zip") for n in names)
    assert not any("stem-drum" in n for n in names)
    mix = next(p for p in files if p.endswith("_mix.wav"))
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(sf.read(mix, always_2d=True)[0]) + 14.0) <= 0.3


def test_refusals_are_messages_that_leave_the_outputs_alone(loaded, monkeypatch):
    ctx, root, *_ = loaded
    seen = []
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: seen.append(message))
    from lantern_studio.studio import messages
    monkeypatch.setattr(messages.gr, "Warning", lambda message, *a, **k: seen.append(message))
    assert tab_mixer.do_load(ctx, root, None, 3) == (gr.update(),) * tab_mixer.LOAD_SIZE
    meter, *rest = tab_mixer.do_render(ctx, root, None, *MASTER.values(), progress=None)
    assert "Load a take first" in meter and rest == [gr.update(), gr.update()]
    assert seen == ["Pick a take first (or select one in the Music tab)", "Load a take first"]
