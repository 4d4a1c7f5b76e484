"""Prose to shots refined by a local model: the checks and repairs applied to a model's answer, fed with
hand-written answers (good, missing lines, unknown speakers, wrong types, not JSON), and finding GGUF files in
the models folder. The oracle for "nothing lost" is the rule reader's own text: every non-scene element of the
rule split, concatenated, must come back in the same order after any repair."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from lantern_studio.engines.errors import ModelNotFoundError, UserInputError
from lantern_studio.engines.story.prose import MAX_BEAT_UNITS, parse_prose
from lantern_studio.engines.story.prose_llm import (CHUNK_LINES, answer_schema, build_prompt, find_local_llms,
                                                    number_lines, repair_answer, resolve_llm)
from lantern_studio.engines.story.shots import plan_shots, spoken_units
from lantern_testkit import sample_path

CHAPTER = ("第一章 回家\n\n小雨推开门，屋里很暗。奶奶坐在灶台边。\n\n小雨笑着说：“奶奶，我回来了！”\n\n"
           "奶奶抬起头，问道：“是小雨吗？”\n")


def flat_text(elements) -> str:
    """The words of the non-scene elements, in order, without whitespace."""
    return re.sub(r"\s+", "", "".join(e.text for e in elements if e.kind != "scene"))


def _chunk(text: str = CHAPTER):
    script = parse_prose(text)
    chunks = number_lines(script)
    assert len(chunks) == 1
    return script, chunks[0]


def _answer(*shots, heading: str = "第一章 回家") -> str:
    return json.dumps({"scenes": [{"heading": heading, "shots": [
        {"kind": kind, "speaker": speaker, "lines": lines} for kind, speaker, lines in shots]}]},
        ensure_ascii=False)


def _repair(answer: str, text: str = CHAPTER, **options):
    script, chunk = _chunk(text)
    return script, repair_answer(answer, chunk, source_text=text, language=script.language, model_name="m.gguf",
                                 **options)


def test_lines_are_the_rule_split_cut_into_sentences():
    script, chunk = _chunk()
    assert [line.id for line in chunk.lines] == ["L1", "L2", "L3", "L4"]
    assert "".join(line.text for line in chunk.lines) == flat_text(script.elements)
    assert [line.kind for line in chunk.lines] == ["narration", "narration", "dialogue", "dialogue"]
    assert [line.speaker for line in chunk.lines] == ["旁白", "旁白", "小雨", "奶奶"]
    # the chapter line stands before the first line, and the prompt shows it there
    assert [s.text for s in chunk.scenes_before["L1"]] == ["第一章 回家"]
    _, user = build_prompt(chunk, "zh")
    assert user.index("-- scene: 第一章 回家") < user.index("L1 | narration")


@pytest.mark.parametrize("name,copies", [("kongyiji.txt", 3), ("mad-tea-party.txt", 1), ("rabbit-hole.txt", 1)])
def test_a_long_chapter_is_sent_in_chunks_that_keep_every_line(name, copies):
    text = "\n\n".join([sample_path(name).read_text(encoding="utf-8")] * copies)
    script = parse_prose(text)
    chunks = number_lines(script)
    assert all(len(chunk.lines) <= CHUNK_LINES for chunk in chunks)
    assert len(chunks) >= copies
    assert re.sub(r"\s+", "", "".join(l.text for c in chunks for l in c.lines)) == flat_text(script.elements)
    ids = [l.id for c in chunks for l in c.lines]
    assert ids == [f"L{n}" for n in range(1, len(ids) + 1)]


def test_the_schema_is_valid_and_bounds_every_array_and_string():
    _, chunk = _chunk()
    schema = answer_schema(chunk)
    jsonschema.Draft202012Validator.check_schema(schema)

    def walk(node):
        if node.get("type") == "array":
            assert "maxItems" in node
            walk(node["items"])
        elif node.get("type") == "string":
            assert "maxLength" in node or "enum" in node
        elif node.get("type") == "object":
            assert node["additionalProperties"] is False
            for child in node["properties"].values():
                walk(child)
    walk(schema)
    assert schema["properties"]["scenes"]["items"]["properties"]["shots"]["items"]["properties"]["lines"][
        "items"]["enum"] == ["L1", "L2", "L3", "L4"]


def test_a_good_answer_becomes_the_shots_it_describes():
    script, (elements, warnings) = _repair(_answer(("narration", "旁白", ["L1", "L2"]), ("dialogue", "小雨", ["L3"]),
                                                   ("dialogue", "奶奶", ["L4"])))
    assert warnings == []
    assert [(e.kind, e.speaker, e.text) for e in elements] == [
        ("scene", "", "第一章 回家"), ("dialogue", "旁白", "小雨推开门，屋里很暗。奶奶坐在灶台边。"),
        ("dialogue", "小雨", "奶奶，我回来了！"), ("dialogue", "奶奶", "是小雨吗？")]
    assert elements[2].notes == ["小雨笑着说："]          # the attribution stays with the line
    assert flat_text(elements) == flat_text(script.elements)


def test_the_model_can_change_kinds_and_speakers_and_split_a_beat():
    _, (elements, warnings) = _repair(_answer(("action", "旁白", ["L1"]), ("narration", "旁白", ["L2"]),
                                              ("dialogue", "小雨", ["L3"]), ("dialogue", "奶奶", ["L4"])))
    assert warnings == []
    assert [(e.kind, e.text) for e in elements[1:3]] == [("action", "小雨推开门，屋里很暗。"),
                                                          ("dialogue", "奶奶坐在灶台边。")]


def test_missing_lines_come_back_as_the_rules_read_them():
    script, (elements, warnings) = _repair(_answer(("dialogue", "小雨", ["L3"])))
    assert flat_text(elements) == flat_text(script.elements)
    # L1-L2 are the rules' one narration beat again, L4 the rules' line of 奶奶
    assert [(e.speaker, e.text) for e in elements if e.kind != "scene"] == [
        ("旁白", "小雨推开门，屋里很暗。奶奶坐在灶台边。"), ("小雨", "奶奶，我回来了！"), ("奶奶", "是小雨吗？")]
    assert any("left out L1-L2" in w for w in warnings) and any("left out L4;" in w for w in warnings)


def test_a_speaker_who_is_not_a_name_in_the_text_falls_back_to_the_rules():
    _, (elements, warnings) = _repair(_answer(("narration", "旁白", ["L1"]), ("dialogue", "奶奶", ["L2"]),
                                              ("dialogue", "王五", ["L3"]), ("dialogue", "她", ["L4"])))
    spoken = [(e.speaker, e.text) for e in elements if e.kind == "dialogue"]
    # 奶奶 is a name in the text, so the model may give her the narration; 王五 is not in the text and 她
    # names nobody: those lines keep the rules' speakers
    assert spoken == [("旁白", "小雨推开门，屋里很暗。"), ("奶奶", "奶奶坐在灶台边。"), ("小雨", "奶奶，我回来了！"),
                      ("奶奶", "是小雨吗？")]
    assert sum("which is not a name in the text" in w for w in warnings) == 2


def test_english_speakers_must_be_capitalised_names_of_the_text():
    text = ('The Hatter opened his eyes. "Why is a raven like a writing-desk?" he asked.\n\n'
            '"I give it up," Alice replied.\n')
    script, chunk = _chunk(text)
    ids = [line.id for line in chunk.lines]
    said = {line.text: line.id for line in chunk.lines}
    raven = said["Why is a raven like a writing-desk?"]
    give_up = said["I give it up,"] if "I give it up," in said else said["I give it up"]
    answer = json.dumps({"scenes": [{"heading": "", "shots": [
        {"kind": "narration", "speaker": "NARRATOR", "lines": ids[:ids.index(raven)]},
        {"kind": "dialogue", "speaker": "the Hatter", "lines": [raven]},
        {"kind": "dialogue", "speaker": "writing", "lines": [give_up]}]}]})
    elements, warnings = repair_answer(answer, chunk, source_text=text, language="en")
    spoken = {e.text: e.speaker for e in elements if e.kind == "dialogue"}
    assert spoken[chunk.lines[ids.index(raven)].text] == "Hatter"
    assert spoken[chunk.lines[ids.index(give_up)].text] == "Alice"       # "writing" is a word, not a name
    assert any("'writing'" in w for w in warnings)


def test_a_control_byte_inside_a_string_does_not_sink_the_answer():
    answer = _answer(("narration", "旁白", ["L1", "L2"]), ("dialogue", "小\x1d雨", ["L3"]),
                     ("dialogue", "奶奶", ["L4"])).replace("\\u001d", "\x1d")
    assert "\x1d" in answer           # a raw control byte, which strict JSON refuses
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer)
    script, (elements, warnings) = _repair(answer)
    assert [e.speaker for e in elements if e.kind == "dialogue"] == ["旁白", "小雨", "奶奶"]
    assert any(repr("小\x1d雨") in w for w in warnings)


def test_shots_of_the_wrong_types_are_dropped_and_their_lines_kept():
    answer = json.dumps({"scenes": [{"heading": "", "shots": [
        {"kind": "narration", "speaker": "旁白", "lines": "L1"},              # lines is not a list
        {"kind": "dialogue", "speaker": 5, "lines": ["L3"]},                  # speaker is not a string
        {"kind": "song", "speaker": "小雨", "lines": ["L3"]},                 # not one of the kinds
        {"kind": "dialogue", "speaker": "奶奶", "lines": ["L4", "L9"]},       # no line L9
        {"kind": "dialogue", "speaker": "奶奶", "lines": ["L4"]}]}]}, ensure_ascii=False)
    script, (elements, warnings) = _repair(answer)
    assert flat_text(elements) == flat_text(script.elements)
    assert sum("was dropped" in w for w in warnings) == 4
    assert elements[-1].speaker == "奶奶" and elements[-1].text == "是小雨吗？"


def test_lines_out_of_order_or_repeated_keep_the_text_in_order():
    script, (elements, warnings) = _repair(_answer(("dialogue", "小雨", ["L3"]), ("narration", "旁白", ["L1", "L2"]),
                                                   ("dialogue", "奶奶", ["L4", "L3"]), ("dialogue", "奶奶", ["L4"])))
    assert flat_text(elements) == flat_text(script.elements)
    assert any("goes back in the text" in w for w in warnings)
    assert elements[-1].text == "是小雨吗？"


def test_answers_that_are_not_json_or_not_shots_are_refused():
    with pytest.raises(UserInputError, match=r"m\.gguf did not answer in JSON \(it was cut off at the token budget\)"):
        _repair('{"scenes": [{"heading": "x", "shots": [{"kind": "dia', truncated=True)
    with pytest.raises(UserInputError, match="did not answer in JSON.*leave Refine off"):
        _repair("Sure! Here are the shots: L1, L2")
    with pytest.raises(UserInputError, match='without a "scenes" list'):
        _repair(json.dumps([{"kind": "dialogue"}]))
    with pytest.raises(UserInputError, match=r"no usable shot for lines L1-L4 \(m\.gguf: shot 1 of scene 1 was "):
        _repair(json.dumps({"scenes": [{"heading": "", "shots": [{"kind": "x", "speaker": "", "lines": []}]}]}))


def test_a_shot_never_runs_over_a_chapter_line():
    text = "第一章 雨\n\n小雨推开门。\n\n第二章 雪\n\n奶奶坐在灶台边。\n"
    script, (elements, warnings) = _repair(_answer(("narration", "旁白", ["L1", "L2"]), heading="第一章 雨"), text)
    assert [(e.kind, e.text) for e in elements] == [("scene", "第一章 雨"), ("dialogue", "小雨推开门。"),
                                                    ("scene", "第二章 雪"), ("dialogue", "奶奶坐在灶台边。")]
    assert warnings == []


def test_new_scenes_the_model_starts_are_labelled_from_the_text_only():
    text = "小雨推开门。奶奶坐在灶台边。\n\n天黑了，街上的灯笼亮了起来。\n\n一只猫跳上了墙头。\n"
    script, chunk = _chunk(text)
    answer = json.dumps({"scenes": [
        {"heading": "屋里", "shots": [{"kind": "narration", "speaker": "旁白", "lines": ["L1", "L2"]}]},
        {"heading": "街上", "shots": [{"kind": "narration", "speaker": "旁白", "lines": ["L3"]}]},
        {"heading": "月球基地", "shots": [{"kind": "narration", "speaker": "旁白", "lines": ["L4"]}]}]},
        ensure_ascii=False)
    elements, _ = repair_answer(answer, chunk, source_text=text, language="zh")
    scenes = [e.text for e in elements if e.kind == "scene"]
    # the first scene continues the text's opening; "街上" is in the text; "月球基地" is not, so it is numbered
    assert scenes == ["街上", f"§{chunk.lines[3].line}"]
    assert flat_text(elements) == flat_text(script.elements)


def test_merged_lines_are_cut_back_to_the_longest_beat():
    text = ("Alice sat by the river bank with her sister, and she was tired of having nothing to do. " * 4 +
            "\n\nShe looked at the book her sister was reading, and it had no pictures in it at all.\n")
    script, chunk = _chunk(text)
    ids = [line.id for line in chunk.lines]
    elements, _ = repair_answer(_answer(("narration", "NARRATOR", ids), heading=""), chunk, source_text=text,
                                language="en")
    assert len(elements) > 1
    assert all(spoken_units(e.text, language="en") <= MAX_BEAT_UNITS["en"] for e in elements)
    assert flat_text(elements) == flat_text(script.elements)


def test_repaired_elements_plan_an_ordinary_shot_list():
    from lantern_studio.engines.story.script import Script

    script, (elements, _) = _repair(_answer(("narration", "旁白", ["L1", "L2"]), ("dialogue", "小雨", ["L3"])))
    board = plan_shots(Script(title_page={}, elements=elements, format="prose", language="zh"))
    assert [shot.speaker for shot in board.shots if shot.speaker not in ("", "旁白")] == ["小雨", "奶奶"]


# ---------------------------------------------------------------------------------------------- models folder
def _gguf(path, body: bytes = b"\x03\x00\x00\x00") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + body)


def test_find_local_llms_lists_gguf_files_as_a_user_lays_them_out(tmp_path):
    models = tmp_path / "models"
    _gguf(models / "qwen2.5-1.5b-instruct-q4_k_m.gguf")
    _gguf(models / "Llama-3.2-3B" / "Llama-3.2-3B-Instruct-Q4_K_M.gguf")
    _gguf(models / "big" / "parts" / "model-00001-of-00002.gguf")
    _gguf(models / "big" / "parts" / "model-00002-of-00002.gguf")          # a later part: not a model of its own
    _gguf(models / "Llama-3.2-3B" / "mmproj-f16.gguf")                    # a vision projector
    (models / "notes.gguf").write_text("not a model")                    # wrong magic bytes
    _gguf(models / "a" / "b" / "c" / "too-deep.gguf")
    found = [p.relative_to(models).as_posix() for p in find_local_llms(models)]
    assert found == ["qwen2.5-1.5b-instruct-q4_k_m.gguf", "Llama-3.2-3B/Llama-3.2-3B-Instruct-Q4_K_M.gguf",
                     "big/parts/model-00001-of-00002.gguf"]
    assert find_local_llms(tmp_path / "nowhere") == [] and find_local_llms(None) == []


def test_resolve_llm_takes_a_path_or_a_name_in_the_models_folder(tmp_path):
    models = tmp_path / "models"
    _gguf(models / "qwen" / "qwen2.5-1.5b-instruct-q4_k_m.gguf")
    wanted = models / "qwen" / "qwen2.5-1.5b-instruct-q4_k_m.gguf"
    assert resolve_llm("qwen2.5-1.5b-instruct-q4_k_m", models) == wanted
    assert resolve_llm("QWEN2.5-1.5B-INSTRUCT-Q4_K_M.gguf", models) == wanted
    assert resolve_llm(str(wanted), None) == wanted
    with pytest.raises(ModelNotFoundError, match="has qwen2.5-1.5b-instruct-q4_k_m.gguf"):
        resolve_llm("llama", models)
    text = tmp_path / "chapter.gguf"
    text.write_text("第一章")
    with pytest.raises(UserInputError, match="is not a GGUF model"):
        resolve_llm(str(text), models)
