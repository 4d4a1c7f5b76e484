"""The local-model path of prose to shots on a real (tiny, random) GGUF the test writes into a models folder laid
out as a user's: transformers' GGUF loader reads it, lm-format-enforcer holds the answer to the JSON schema, and
the checks and repairs turn the answer into a shot list that keeps every line of the chapter. The llama-cpp
backend runs the same checks when llama-cpp-python is installed (it has no wheel, so CI skips it).

A random model says nothing sensible; the oracles are the schema itself (jsonschema), the GGUF file read back
with the ``gguf`` package, and the rule reader's text (nothing may be lost or reordered)."""

from __future__ import annotations

import json
import re
import threading

import jsonschema
import numpy as np
import pytest

from lantern_studio.engines.errors import UserInputError
from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.story.prose import parse_prose
from lantern_studio.engines.story.prose_llm import (answer_schema, build_prompt, find_local_llms, load_backend,
                                                    number_lines, refine_prose)
from lantern_studio.engines.story.shots import plan_shots
from gguf_testkit import vocabulary, write_tiny_llama_gguf
from lantern_testkit import load_launcher
from test_prose_llm import CHAPTER, flat_text

# far above what the schema lets an answer grow to for this chapter in practice; an answer that ends before it
# ended because the schema was complete
BUDGET = 4000
WORDS = ("小雨", "奶奶")        # whole tokens in the tiny vocabulary, so the model could write the names


def _assert_scenes(script) -> None:
    """The chapter line is kept, first; a scene the model started is labelled with words of the text or
    numbered by its source line."""
    scenes = [e.text for e in script.elements if e.kind == "scene"]
    assert scenes[0] == "第一章 回家" and script.elements[0].kind == "scene"
    assert all(re.fullmatch(r"§\d+", label) or label in CHAPTER for label in scenes[1:])


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    models = tmp_path_factory.mktemp("home") / "models"
    write_tiny_llama_gguf(models / "tiny-llama" / "tiny-llama-f32.gguf", words=WORDS)
    return models


@pytest.fixture(scope="module")
def model_path(models_dir):
    found = find_local_llms(models_dir)
    assert [p.name for p in found] == ["tiny-llama-f32.gguf"]
    return found[0]


@pytest.fixture(scope="module")
def backend(model_path):
    return load_backend(model_path, backend="transformers")


def test_transformers_reads_the_gguf_weights_and_tokenizer(backend, model_path):
    import gguf

    reader = gguf.GGUFReader(str(model_path))
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    config = backend.model.config
    assert (config.model_type, config.hidden_size, config.num_hidden_layers, config.num_key_value_heads) == \
        ("llama", 64, 2, 2)
    embed = backend.model.get_input_embeddings().weight.detach().cpu().numpy()
    np.testing.assert_array_equal(embed, tensors["token_embd.weight"])
    tok = backend.tokenizer
    text = '奶奶，我回来了！ {"lines": ["L1"]}'
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert len(tok.encode("小雨", add_special_tokens=False)) == 1        # the file's merges are used


def test_the_memory_estimate_counts_every_weight_of_the_file(model_path):
    from lantern_studio.engines.story.prose_llm import estimate_memory

    # the shapes the testkit writes: vocabulary x 64 twice, two blocks of attention, feed-forward and norms
    vocab = len(vocabulary(WORDS)[0]) + 2
    per_block = 64 + 64 * 64 + 2 * (32 * 64) + 64 * 64 + 64 + 3 * (128 * 64)
    parameters = 2 * vocab * 64 + 2 * per_block + 64
    estimate = estimate_memory(model_path, "cpu")
    assert estimate.parts == {"weights": 4 * parameters, "loading copy": 4 * parameters}
    assert estimate_memory(model_path, "cuda").total_bytes == 4 * parameters


def test_the_enforcer_holds_a_random_model_to_the_schema(backend):
    import torch

    chunk = number_lines(parse_prose(CHAPTER))[0]
    schema = answer_schema(chunk)
    system, user = build_prompt(chunk, "zh")
    answer, truncated = backend.generate_json(system, user, schema, max_new_tokens=BUDGET)
    assert not truncated
    jsonschema.validate(json.loads(answer), schema)
    # the same model, prompt and greedy decoding without the enforcer: not an answer of the schema
    prompt = backend.prompt_ids(system, user)
    with torch.no_grad():
        free = backend.model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                      max_new_tokens=len(backend.tokenizer.encode(answer)),
                                      pad_token_id=backend.tokenizer.eos_token_id)
    free_text = backend.tokenizer.decode(free[0, prompt.shape[1]:], skip_special_tokens=True)
    with pytest.raises((json.JSONDecodeError, jsonschema.ValidationError)):
        jsonschema.validate(json.loads(free_text), schema)


def test_refine_prose_keeps_every_line_of_the_chapter(model_path):
    seen = []
    script = refine_prose(CHAPTER, model_path, backend="transformers", max_new_tokens=BUDGET,
                          progress=lambda f, m: seen.append((f, m)))
    rules = parse_prose(CHAPTER)
    assert flat_text(script.elements) == flat_text(rules.elements)
    _assert_scenes(script)
    for element in script.elements:
        if element.kind == "dialogue":
            assert element.speaker in CHAPTER or element.speaker in ("旁白", "众人")
    assert seen[-1][0] == 1.0 and "shots" in seen[-1][1]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)
    assert any(m.endswith(" tokens") for _, m in seen)          # heard while the model answers
    board = plan_shots(script)
    assert len(board.shots) == sum(1 for e in script.elements if e.kind != "scene")


def test_a_chapter_sent_in_several_requests_comes_back_whole(model_path, monkeypatch):
    from lantern_studio.engines.story import prose_llm

    monkeypatch.setattr(prose_llm, "CHUNK_LINES", 2)         # four lines: two requests
    seen = []
    script = refine_prose(CHAPTER, model_path, backend="transformers", max_new_tokens=BUDGET,
                          progress=lambda f, m: seen.append(m))
    assert flat_text(script.elements) == flat_text(parse_prose(CHAPTER).elements)
    _assert_scenes(script)
    assert any("lines L1-L2" in m for m in seen) and any("lines L3-L4" in m for m in seen)


def test_an_answer_cut_off_by_the_budget_is_refused(model_path):
    with pytest.raises(UserInputError, match="cut off at the token budget.*rule-based split is unchanged"):
        refine_prose(CHAPTER, model_path, backend="transformers", max_new_tokens=4)


def test_a_model_whose_context_cannot_hold_the_lines_is_refused(tmp_path):
    short = write_tiny_llama_gguf(tmp_path / "models" / "short-context.gguf", words=WORDS, context_length=64)
    with pytest.raises(UserInputError, match="short-context.gguf reads 64 tokens at most, and these lines take"):
        refine_prose(CHAPTER, short, backend="transformers")


def test_refining_stops_when_cancelled(model_path):
    stop = threading.Event()

    def progress(fraction, message):
        if "lines" in message:
            stop.set()          # asked to stop while the model is answering
    with pytest.raises(Cancelled):
        refine_prose(CHAPTER, model_path, backend="transformers", max_new_tokens=BUDGET, progress=progress,
                     cancel=stop)


def test_cli_storyboard_llm_uses_the_model_named_in_the_models_folder(models_dir, tmp_path, capsys):
    from lantern_studio.engines.cli.storyboard import run
    from lantern_studio.engines.settings import Settings

    launch = load_launcher()
    chapter = tmp_path / "chapter.txt"
    chapter.write_text(CHAPTER, encoding="utf-8")
    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path / "home"),
                                               "LANTERN_MODELS_DIR": str(models_dir)})
    args = launch.build_parser().parse_args(["storyboard", str(chapter), "--out", str(tmp_path / "out"),
                                             "--llm", "nosuch", "--no-video", "--voices", "none"])
    assert run(args, settings) == 2
    assert "no GGUF model 'nosuch'" in capsys.readouterr().err
    args = launch.build_parser().parse_args(["storyboard", str(chapter), "--out", str(tmp_path / "out"),
                                             "--llm", "tiny-llama-f32", "--no-video", "--voices", "none"])
    assert run(args, settings) == 0
    assert "refining the prose reader's shots with tiny-llama-f32.gguf" in capsys.readouterr().err
    data = json.loads((tmp_path / "out" / "shots.json").read_text(encoding="utf-8"))
    shots = data["shots"] if isinstance(data, dict) else data
    spoken = "".join((s.get("dialogue") or "") + (s.get("action") or "") for s in shots)
    assert re.sub(r"\s+", "", spoken) == flat_text(parse_prose(CHAPTER).elements)


def test_llama_cpp_backend_answers_in_the_schema(model_path, tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (it has no wheel; "
                                            "`pip install llama-cpp-python` builds it from source)")
    chunk = number_lines(parse_prose(CHAPTER))[0]
    schema = answer_schema(chunk)
    backend = load_backend(model_path, backend="llama-cpp")
    answer, truncated = backend.generate_json(*build_prompt(chunk, "zh"), schema, max_new_tokens=BUDGET)
    assert not truncated
    # llama.cpp's grammar can let a control byte into a string, which strict JSON refuses; the checks read
    # such answers with strict=False
    jsonschema.validate(json.loads(answer, strict=False), schema)
    script = refine_prose(CHAPTER, model_path, backend="llama-cpp", max_new_tokens=BUDGET)
    assert flat_text(script.elements) == flat_text(parse_prose(CHAPTER).elements)
    short = write_tiny_llama_gguf(tmp_path / "short-context.gguf", words=WORDS, context_length=64)
    with pytest.raises(UserInputError, match="short-context.gguf: .*context.*use a model with a longer context"):
        refine_prose(CHAPTER, short, backend="llama-cpp")


def test_a_backend_that_is_not_installed_says_what_to_install(model_path):
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("llama-cpp-python is installed here, so its absence cannot be shown")
    with pytest.raises(UserInputError, match="the llama-cpp backend is not installed .*pip install llama-cpp-python"):
        load_backend(model_path, backend="llama-cpp")
