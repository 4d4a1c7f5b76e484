"""The diffusers panel renderer on a tiny random Stable Diffusion pipeline built from configs, saved with
save_pretrained and loaded back through the renderer's real local-files-only path."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

pytest.importorskip("diffusers")

from lantern_studio.engines.story.diffusers_panels import (BASE_NEGATIVE, STYLE_PRESETS, DiffusersOptions, DiffusersRenderer,
                                            ModelNotFoundError, build_tiny_pipeline, find_local_models,
                                            guess_anchors)
from lantern_studio.engines.story.model import Character, Shot, Storyboard
from lantern_studio.engines.story.pages import PageSpec, compose_pages
from lantern_studio.engines.jobs import Cancelled

SIZE = (64, 112)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="module")
def board() -> Storyboard:
    characters = {"小雨": Character("小雨", "young woman, red coat", "#d1495b", 1234),
                  "奶奶": Character("奶奶", "grandma, white hair", "#2e86ab", 5678)}
    shots = [Shot(1, scene="第一场 外景 老街 夜", size="EWS", action="灯笼亮起来"),
             Shot(2, scene="第二场 内景 厨房 夜", size="MCU", characters=["奶奶"], speaker="奶奶", dialogue="谁呀？",
                  kind="dialogue"),
             Shot(3, scene="第二场 内景 厨房 夜", size="MS", characters=["小雨", "奶奶"], action="两人抱在一起"),
             Shot(4, scene="第二场 内景 厨房 夜", size="MCU", characters=["奶奶"], speaker="奶奶", dialogue="谁呀？",
                  kind="dialogue")]
    return Storyboard(title="年夜饭", language="zh", shots=shots, characters=characters)


def _renderer(model, **changes) -> DiffusersRenderer:
    options = DiffusersOptions(steps=2, size=SIZE, guidance_scale=5.0, device="cpu", **changes)
    return DiffusersRenderer(model, options=options)


@pytest.fixture(scope="module")
def renderer(tiny_model) -> DiffusersRenderer:
    """One loaded pipeline shared by the tests that use the default options."""
    made = DiffusersRenderer(tiny_model, options=DiffusersOptions(steps=1, size=SIZE, guidance_scale=0.0,
                                                                  device="cpu"))
    made.load()
    return made


def test_loads_from_the_saved_folder_and_renders_in_batches(tiny_model, board):
    assert (tiny_model / "model_index.json").is_file()
    assert find_local_models(tiny_model.parent) == [tiny_model]
    renderer = _renderer(tiny_model, batch_size=2)
    ok, message = renderer.available()
    assert ok, message
    seen = []
    panels = renderer.render_many(board, shots=board.shots[:3], progress=lambda f, m: seen.append(f))
    assert [p.shot_number for p in panels] == [1, 2, 3]
    assert all(p.image.size == SIZE and p.image.mode == "RGBA" for p in panels)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert np.asarray(panels[0].image).std() > 0                 # a real (noisy) image, not a blank


def test_seeds_are_fixed_per_character(renderer, board):
    # shots 2 and 4 are the same beat by the same character: same prompt, same seed, same pixels
    assert renderer.seed_for(board.shots[1], board) == board.characters["奶奶"].seed
    assert renderer.seed_for(board.shots[2], board) == board.characters["小雨"].seed
    first = renderer.render(board.shots[1], board)
    again = renderer.render(board.shots[3], board)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    # regenerating one panel with another variation gives a different take
    other = renderer.render(board.shots[1], board, variation=1)
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))


def test_prompt_from_style_bible_and_shot(tiny_model, board):
    renderer = _renderer(tiny_model, style="chinese_ink", negative_prompt="no cats")
    prompt, negative = renderer.build_prompt(board.shots[2], board)
    assert prompt.startswith(STYLE_PRESETS["chinese_ink"][0])
    assert "小雨 (young woman, red coat)" in prompt and "奶奶 (grandma, white hair)" in prompt
    assert "medium shot" in prompt and "两人抱在一起" in prompt and "interior" in prompt and "night" in prompt
    assert negative.startswith(BASE_NEGATIVE) and negative.endswith("no cats")


def test_cancel_keeps_finished_panels(renderer, board):
    flag = threading.Event()

    def progress(fraction, message):
        if fraction >= 0.5:               # panel 2 of 4 is at its last step: it is interrupted
            flag.set()

    with pytest.raises(Cancelled) as caught:
        renderer.render_many(board, progress=progress, cancel=flag)
    assert [p.shot_number for p in caught.value.partial] == [1]


def test_lettered_panels_and_pages_from_generated_art(renderer, board):
    lettered = renderer.render(board.shots[1], board, size=(192, 336), lettering=True)
    assert lettered.image.size == (192, 336)
    assert set(lettered.anchors) == {"奶奶"}
    art = {p.shot_number: p for p in renderer.render_many(board)}
    pages = compose_pages(board, spec=PageSpec(layout="2x2", page_size=(600, 850), margin_px=30), art=art)
    assert len(pages) == 1 and pages[0].size == (600, 850)
    anchors = guess_anchors(board.shots[2], (100, 200))
    assert list(anchors) == ["小雨", "奶奶"] and anchors["小雨"][0] < anchors["奶奶"][0]


def test_missing_or_broken_model_folder(tmp_path, board):
    missing = DiffusersRenderer(tmp_path / "nowhere", options=DiffusersOptions(device="cpu"))
    ok, message = missing.available()
    assert not ok and "model_index.json" in message and "previz" in message
    with pytest.raises(ModelNotFoundError, match="model_index.json"):
        missing.render(board.shots[0], board)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                         "unet": ["diffusers", "UNet2DConditionModel"]}))
    with pytest.raises(ModelNotFoundError, match="could not be loaded"):
        DiffusersRenderer(broken, options=DiffusersOptions(device="cpu")).load()


def test_option_validation(tiny_model):
    with pytest.raises(ValueError, match="style"):
        DiffusersOptions(style="oil").validate()
    with pytest.raises(ValueError, match="multiples of 8"):
        DiffusersOptions(size=(100, 100)).validate()
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        _renderer(tiny_model, dtype="fp16").load()
    with pytest.raises(ValueError, match="CUDA"):
        _renderer(tiny_model, cpu_offload=True).load()
