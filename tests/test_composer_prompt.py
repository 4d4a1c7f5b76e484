"""Prompt reading: every sample prompt maps to a sensible preset and says what it understood.

The expectations are written by hand from reading each sample line (the oracle is a person reading it).
"""

from __future__ import annotations

import pytest

from lantern_studio.engines.music.prompt import read_prompt
from lantern_testkit import sample_path


# line -> (preset, melody instrument, tempo or None, accelerating, words that must be echoed back)
EXPECTED = {
    "新春喜庆，唢呐和锣鼓，欢快的庙会气氛，120 BPM": ("spring-festival", "suona", 120.0, False, ("新春", "唢呐", "120 BPM", "锣鼓")),
    "元宵节，古筝独奏，温柔的五声音阶旋律，灯笼和月光": ("lantern-festival", "guzheng", None, False, ("元宵", "古筝", "独奏", "温柔")),
    "舞狮，震撼的大鼓和铙钹，越来越快": ("lion-dance", "suona", None, True, ("舞狮", "越来越快", "大鼓", "铙钹")),
    "festive Chinese New Year melody, guzheng and dizi over a bright pentatonic groove, 128 BPM":
        ("spring-festival", "dizi", 128.0, False, ("chinese new year", "128 BPM", "dizi", "guzheng")),
    "lion dance drums and gongs, energetic, building intensity": ("lion-dance", "suona", None, True, ("lion dance", "building")),
    "gentle Mid-Autumn night, erhu solo over soft strings, slow and warm": ("mid-autumn", "erhu", None, False, ("mid-autumn", "erhu", "solo")),
}


def sample_lines() -> list[str]:
    text = sample_path("festival-prompts.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_the_sample_file_is_the_one_these_expectations_were_written_for():
    assert sample_lines() == list(EXPECTED)


@pytest.mark.parametrize("line", list(EXPECTED))
def test_sample_prompt_maps_to_a_sensible_preset_and_says_what_it_understood(line):
    preset, melody, tempo, accelerating, echoed = EXPECTED[line]
    reading = read_prompt(line)
    assert reading.preset == preset
    parts = reading.overrides.get("parts")
    if parts is not None:
        assert next(p["instrument"] for p in parts if p["role"] == "melody") == melody
    else:
        from lantern_studio.engines.music.presets import load_preset
        assert next(p["instrument"] for p in load_preset(preset)["parts"] if p["role"] == "melody") == melody
    assert reading.overrides.get("tempo_bpm") == tempo if tempo else True
    assert (reading.overrides.get("accelerate", 1.0) > 1.0) == accelerating or preset == "lion-dance"
    summary = reading.summary()
    for word in echoed:
        assert word.lower() in summary.lower(), (word, summary)


def test_instruments_moods_modes_keys_and_durations_are_read():
    reading = read_prompt("a gentle yu mode tune in F# for the moon, 45 seconds, pipa")
    assert reading.preset == "mid-autumn"
    assert reading.overrides["mode"] == "yu" and reading.overrides["key"] == "F#"
    assert reading.overrides["duration_s"] == 45.0
    # the only instrument named leads; with a wind named too, the wind leads and the pipa accompanies
    assert [p["role"] for p in reading.overrides["parts"] if p["instrument"] == "pipa"] == ["melody"]
    both = read_prompt("moon, pipa and erhu").overrides["parts"]
    assert {p["role"]: p["instrument"] for p in both}["melody"] == "erhu"
    assert "pipa" in [p["instrument"] for p in both if p["role"] in ("ostinato", "harmony")]
    assert read_prompt("每分钟90拍的端午龙舟").overrides["tempo_bpm"] == 90.0
    assert read_prompt("端午龙舟").preset == "dragon-boat"
    assert read_prompt("龙舟 with firecrackers").overrides["parts"][-1]["instrument"] == "firecrackers"


def test_solo_plucked_prompt_drops_percussion_and_keeps_a_left_hand_pattern():
    parts = read_prompt("元宵节，古筝独奏").overrides["parts"]
    assert [p["instrument"] for p in parts] == ["guzheng", "guzheng"]
    assert [p["role"] for p in parts] == ["melody", "ostinato"]


def test_unknown_words_fall_back_to_the_neutral_preset_and_say_so():
    reading = read_prompt("something nice for my video")
    assert reading.preset == "pentatonic-pop"
    assert "neutral" in reading.summary()


@pytest.mark.parametrize("prompt", ["", "   ", None])
def test_empty_prompt_is_refused_with_a_message(prompt):
    with pytest.raises(ValueError, match="prompt is empty"):
        read_prompt(prompt)


def test_out_of_range_tempo_is_refused_not_clamped():
    with pytest.raises(ValueError, match="tempo 400 BPM in the prompt is outside 40-220"):
        read_prompt("lion dance 400 BPM")


def test_with_a_chosen_preset_the_prompt_refines_it_and_a_named_festival_is_only_pointed_out():
    reading = read_prompt("舞狮，古筝，100 BPM", preset="mid-autumn")
    assert reading.preset == "mid-autumn"
    assert reading.overrides["tempo_bpm"] == 100.0
    assert {p["role"]: p["instrument"] for p in reading.overrides["parts"]}["melody"] == "guzheng"
    assert "舞狮 names Lion Dance" in reading.summary() and "pick that preset" in reading.summary()
    with pytest.raises(ValueError, match="unknown preset 'polka'"):
        read_prompt("lion", preset="polka")
