"""Text prompt (Chinese or English) -> preset and parameters, with a readable account of what was understood.

The mapping is a keyword reading, on purpose: every decision can be shown back to the user ("舞狮 -> Lion
Dance preset", "120 BPM -> tempo 120"). Presets carry their own weighted keywords; instruments, moods,
modes, keys, tempo and duration are read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lantern_studio.engines.music.presets import DEFAULT_PRESET, all_presets

TEMPO_RANGE = (40.0, 220.0)

INSTRUMENT_WORDS: dict[str, tuple[str, ...]] = {
    "suona": ("唢呐", "喇叭", "suona", "shawm"),
    "guzheng": ("古筝", "筝", "guzheng", "zheng", "zither"),
    "dizi": ("笛子", "竹笛", "笛", "dizi", "bamboo flute", "flute"),
    "erhu": ("二胡", "胡琴", "erhu", "fiddle"),
    "pipa": ("琵琶", "pipa", "lute"),
    "big_drum": ("大鼓", "锣鼓", "鼓", "drums", "drum"),
    "gongs": ("锣鼓", "锣", "gongs", "gong"),
    "cymbals": ("铙钹", "锣鼓", "钹", "镲", "cymbals", "cymbal"),
    "firecrackers": ("鞭炮", "爆竹", "炮竹", "firecrackers", "firecracker", "fireworks", "烟花"),
}
MELODIC = ("suona", "dizi", "erhu", "guzheng", "pipa")
PERCUSSION_ROLE = {"big_drum": "drum", "gongs": "gong", "cymbals": "cymbal", "firecrackers": "firecrackers"}

MOODS: dict[str, tuple[tuple[str, ...], float]] = {   # mood -> (words, tempo factor)
    "festive": (("欢快", "喜庆", "热闹", "欢乐", "喜气", "festive", "joyful", "happy", "cheerful", "lively"), 1.08),
    "energetic": (("震撼", "激昂", "热烈", "energetic", "powerful", "driving", "intense", "exciting"), 1.1),
    "bright": (("明亮", "bright", "sunny"), 1.0),
    "gentle": (("温柔", "柔和", "轻柔", "安静", "抒情", "温暖", "gentle", "soft", "calm", "tender", "warm",
                "peaceful", "quiet", "slow", "dreamy", "lyrical"), 0.8),
}
ACCELERATE_WORDS = ("越来越快", "渐快", "加速", "accelerat", "faster and faster", "getting faster", "building",
                    "speeds up", "speeding up")
SOLO_WORDS = ("独奏", "solo")
MODE_WORDS = {"gong": ("宫调", "gong mode"), "shang": ("商调", "shang mode"), "jue": ("角调", "jue mode"),
              "zhi": ("徵调", "zhi mode"), "yu": ("羽调", "yu mode", "minor")}
TEMPO_RE = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|b\.p\.m\.|拍每分|拍/分|拍)", re.IGNORECASE)
TEMPO_RE_ZH = re.compile(r"每分钟\s*(\d{2,3})\s*拍")
DURATION_RE = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(seconds|second|secs|sec|s\b|秒|minutes|minute|min\b|分钟)",
                         re.IGNORECASE)
KEY_RE = re.compile(r"(?:\bin\s+|\bkey\s+of\s+)([A-G](?:#|b)?)(?![\w#])|(?<![A-Za-z])([A-G](?:#|b)?)\s*调")


@dataclass
class PromptReading:
    """What the prompt mapper understood: the preset, parameter overrides and one line per decision."""

    prompt: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)
    understood: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "; ".join(self.understood)


def _find(text: str, words) -> str | None:
    for word in words:
        if word.isascii():
            if re.search(r"(?<![a-z])" + re.escape(word), text):
                return word
        elif word in text:
            return word
    return None


def read_prompt(prompt: str, *, presets: dict[str, dict] | None = None, preset: str | None = None) -> PromptReading:
    """Map a text prompt to a preset and parameter overrides.

    With ``preset`` (an id the user chose explicitly) the prompt refines that preset (tempo, mood,
    instruments, mode, key, duration) and a festival it names only shows up in the account of what was
    understood, with a hint to pick that preset.

    Raises
    ------
    ValueError
        For an empty prompt, or a tempo outside 40-220 BPM.
    """
    if prompt is None or not str(prompt).strip():
        raise ValueError("the prompt is empty; describe the tune (e.g. '舞狮，越来越快' or 'gentle Mid-Autumn "
                         "night, erhu solo') or pick a preset instead")
    text = " ".join(str(prompt).lower().split())
    presets = presets or all_presets()
    scores, hits = _score_presets(text, presets)
    reading = PromptReading(prompt=str(prompt), preset=DEFAULT_PRESET)
    _choose_preset(reading, presets, scores, hits, chosen_id=preset)
    chosen = presets[reading.preset]
    _read_tempo_and_mood(reading, str(prompt), text, chosen)
    _read_mode_key_and_duration(reading, str(prompt), text, chosen)
    parts = _arrange_parts(reading, text, chosen)
    if parts != chosen["parts"]:
        reading.overrides["parts"] = parts
    return reading


def _score_presets(text: str, presets: dict[str, dict]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Weighted keyword hits per preset id, and the keywords that hit.

    Longest keyword first, and a hit is blanked out of the text, so "lion dance" is not also counted as "lion".
    """
    scores: dict[str, float] = {}
    hits: dict[str, list[str]] = {}
    for pid, preset in presets.items():
        remaining = text
        for word, weight in sorted(preset.get("keywords", {}).items(), key=lambda kv: -len(kv[0])):
            found = _find(remaining, (word.lower(),))
            if found:
                scores[pid] = scores.get(pid, 0.0) + float(weight)
                hits.setdefault(pid, []).append(word)
                remaining = remaining.replace(found, " ")
    return scores, hits


def _choose_preset(reading: PromptReading, presets: dict[str, dict], scores: dict[str, float],
                   hits: dict[str, list[str]], *, chosen_id: str | None) -> None:
    """Set ``reading.preset``: the user's explicit choice, else the best-scoring festival, else a neutral one.

    Ties between festivals go to the one listed first, so the same prompt always gives the same preset.
    """
    if chosen_id is not None:
        if chosen_id not in presets:
            raise ValueError(f"unknown preset {chosen_id!r}; choose one of: {', '.join(presets)}")
        reading.preset = chosen_id
        chosen = presets[chosen_id]
        reading.understood.append(f"preset {chosen['name']} ({chosen['name_zh']}) as chosen")
        named = max(scores, key=lambda pid: scores[pid]) if scores else None
        if named is not None and named != chosen_id:
            other = presets[named]
            reading.understood.append(f"{' / '.join(hits[named])} names {other['name']} ({other['name_zh']}): "
                                      f"pick that preset to use it")
    elif scores:
        best = max(scores, key=lambda pid: (scores[pid], -list(presets).index(pid)))
        reading.preset = best
        p = presets[best]
        reading.understood.append(f"{' / '.join(hits[best])} -> preset {p['name']} ({p['name_zh']})")
    else:
        reading.preset = "pentatonic-pop" if "pentatonic-pop" in presets else DEFAULT_PRESET
        p = presets[reading.preset]
        reading.understood.append(f"no festival named -> neutral preset {p['name']} ({p['name_zh']})")


def _read_tempo_and_mood(reading: PromptReading, prompt: str, text: str, preset: dict) -> None:
    """An explicit tempo wins; otherwise a mood scales the preset's tempo by the mood's factor.

    The tempo is read from the prompt with its case kept (``text`` is lower-cased); a tempo outside
    ``TEMPO_RANGE`` raises ValueError.
    """
    over = reading.overrides
    original = " ".join(prompt.split())
    match = TEMPO_RE.search(original) or TEMPO_RE_ZH.search(original)
    tempo_factor = 1.0
    if match:
        bpm = float(match.group(1))
        if not TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
            raise ValueError(f"tempo {bpm:g} BPM in the prompt is outside {TEMPO_RANGE[0]:g}-{TEMPO_RANGE[1]:g} "
                             "BPM; write a tempo in that range")
        over["tempo_bpm"] = bpm
        reading.understood.append(f"{match.group(0).strip()} -> tempo {bpm:g} BPM")
    for mood, (words, factor) in MOODS.items():
        word = _find(text, words)
        if word:
            over["mood"] = mood
            # the preset's own mood is already in its tempo
            tempo_factor = 1.0 if mood == preset.get("mood") else factor
            reading.understood.append(f"{word} -> mood {mood}")
            break
    if "tempo_bpm" not in over and tempo_factor != 1.0:
        over["tempo_bpm"] = round(float(preset["tempo_bpm"]) * tempo_factor)
        reading.understood.append(f"mood {over['mood']} -> tempo {over['tempo_bpm']:g} BPM")


def _read_mode_key_and_duration(reading: PromptReading, prompt: str, text: str, preset: dict) -> None:
    """Acceleration, Chinese mode, pentatonic note, key and duration, each from its own words.

    The key is read from the prompt with its case kept, since "in B" and "in b" differ; a duration in
    minutes is converted to seconds.
    """
    over = reading.overrides
    word = _find(text, ACCELERATE_WORDS)
    if word:
        over["accelerate"] = max(1.3, float(preset.get("accelerate", 1.0)))
        reading.understood.append(f"{word} -> accelerating to x{over['accelerate']:g} tempo")
    for mode, words in MODE_WORDS.items():
        word = _find(text, words)
        if word:
            over["mode"] = mode
            reading.understood.append(f"{word} -> {mode} mode")
            break
    if "pentatonic" in text or "五声" in text:
        reading.understood.append("pentatonic -> the melody stays in the five tones")
    key = KEY_RE.search(prompt)
    if key:
        name = key.group(1) or key.group(2)
        over["key"] = name
        reading.understood.append(f"{key.group(0).strip()} -> key {name}")
    duration = DURATION_RE.search(text)
    if duration:
        value = float(duration.group(1)) * (60.0 if duration.group(2).lower().startswith(("min", "分")) else 1.0)
        over["duration_s"] = value
        reading.understood.append(f"{duration.group(0).strip()} -> duration {value:g} s")


def _mentioned_instruments(text: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(instrument, the word that named it) for melodic and for percussion instruments, in the order mentioned."""
    mentioned = []
    for instrument, words in INSTRUMENT_WORDS.items():
        positions = [text.find(w.lower()) for w in words if _find(text, (w.lower(),))]
        if positions:
            mentioned.append((min(positions), instrument, next(w for w in words if _find(text, (w.lower(),)))))
    mentioned.sort()
    melodic = [(i, w) for _, i, w in mentioned if i in MELODIC]
    percussive = [(i, w) for _, i, w in mentioned if i in PERCUSSION_ROLE]
    return melodic, percussive


def _arrange_parts(reading: PromptReading, text: str, preset: dict) -> list[dict]:
    """The preset's parts (copies) with the instruments the prompt names, and thinned out for a solo."""
    melodic, percussive = _mentioned_instruments(text)
    solo = _find(text, SOLO_WORDS)
    parts = [dict(p) for p in preset["parts"]]
    if melodic:
        _assign_melodic(reading, parts, melodic)
    _add_percussion(reading, parts, percussive)
    if solo:
        parts = _solo_parts(reading, parts, solo)
    return parts


def _assign_melodic(reading: PromptReading, parts: list[dict], melodic: list[tuple[str, str]]) -> None:
    """The first wind or bowed instrument named leads the melody; the first plucked one takes the accompaniment.

    A wind or bowed instrument leads even when named after a plucked one; a preset with no ostinato or
    harmony part gets an ostinato, second in the list, for the plucked instrument.
    """
    winds = [m for m in melodic if m[0] in ("suona", "dizi", "erhu")]
    lead, lead_word = (winds or melodic)[0]
    plucked = [m for m in melodic if m[0] in ("guzheng", "pipa") and m[0] != lead]
    for part in parts:
        if part["role"] == "melody":
            part["instrument"] = lead
    reading.understood.append(f"{lead_word} -> melody on {lead}")
    if plucked:
        inst, word = plucked[0]
        target = next((p for p in parts if p["role"] in ("ostinato", "harmony")), None)
        if target is None:
            target = {"name": "ostinato", "role": "ostinato", "instrument": inst, "octave_shift": -1,
                      "pan": -0.4, "gain_db": -7.0, "reverb": 0.25}
            parts.insert(1, target)
        target["instrument"] = inst
        reading.understood.append(f"{word} -> {target['role']} on {inst}")


def _add_percussion(reading: PromptReading, parts: list[dict], percussive: list[tuple[str, str]]) -> None:
    """Add a part for each named percussion instrument whose role the preset lacks.

    One account line per word, since one word (锣鼓) can name several instruments.
    """
    by_word: dict[str, list[str]] = {}
    for inst, word in percussive:
        role = PERCUSSION_ROLE[inst]
        name = inst.replace("_", " ")
        if not any(p["role"] == role for p in parts):
            parts.append({"name": role, "role": role, "instrument": inst, "pan": 0.0 if role == "drum" else 0.3,
                          "gain_db": -8.0, "reverb": 0.15})
            name = f"adds {name}"
        by_word.setdefault(word, []).append(name)
    for word, names in by_word.items():
        reading.understood.append(f"{word} -> {', '.join(names)}")


def _solo_parts(reading: PromptReading, parts: list[dict], solo: str) -> list[dict]:
    """The melody part plus a softer accompaniment and no percussion.

    A plucked lead keeps only its ostinato, moved to the lead's instrument and 2 dB down; any other lead keeps
    every non-percussion part 3 dB down.
    """
    lead = next(p for p in parts if p["role"] == "melody")
    kept = [lead]
    for part in parts:
        if part is lead or part["role"] in PERCUSSION_ROLE.values():
            continue
        if lead["instrument"] in ("guzheng", "pipa"):
            if part["role"] == "ostinato":
                kept.append({**part, "instrument": lead["instrument"], "gain_db": part["gain_db"] - 2.0})
        else:
            kept.append({**part, "gain_db": part["gain_db"] - 3.0})
    reading.understood.append(f"{solo} -> solo {lead['instrument']}: no percussion, accompaniment kept soft")
    return kept
