"""Who speaks with which voice: distinct default voices for the character bible, the narrator's voice, and
the editable voice table the Storyboard tab shows.

Defaults read hints in a character's name and description: 奶奶/爷爷/老人/grandma... sound older (eSpeak NG's
``grandma``/``grandpa`` variants, lower and slower), 小孩/孙女/child... younger (higher and quicker), and
女/她/妈/woman... or 男/他/爸/man... pick a female or male variant. Within each kind the voices are taken
in turn, so no two characters of one bible share a variant and pitch.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from lantern_studio.engines.speech.base import PITCH_RANGE, SPEED_RANGE, VoiceSpec

#: The narrator (旁白, 画外音, V.O. lines) has a voice no character gets by default.
NARRATOR_VOICE = VoiceSpec(engine="espeak", voice="m7", pitch=42, speed=0.92)
ENGINES = ("espeak", "kokoro")
VOICE_HEADERS = ["name", "engine", "voice", "pitch", "speed"]

_HINTS = {
    "older": ("奶奶", "爷爷", "外婆", "外公", "姥姥", "姥爷", "老人", "老奶奶", "老爷爷", "老太", "老头", "白发",
              "grandma", "grandpa", "grandmother", "grandfather", "elderly", "old"),
    "younger": ("小孩", "孩子", "孙女", "孙子", "小朋友", "儿童", "女孩", "男孩", "child", "kid", "girl", "boy"),
    "female": ("女", "她", "奶奶", "外婆", "姥姥", "妈", "姐", "妹", "婶", "姨", "孙女", "woman", "girl", "grandma",
               "grandmother", "mother", "mom", "sister", "aunt", "she", "her"),
    "male": ("男", "他", "爷爷", "外公", "姥爷", "爸", "哥", "弟", "叔", "伯", "孙子", "man", "boy", "grandpa",
             "grandfather", "father", "dad", "brother", "uncle", "he", "his"),
}

# (variant, pitch, speed) in the order each kind hands them out
_POOLS: dict[str, tuple[tuple[str, int, float], ...]] = {
    "older_female": (("grandma", 46, 0.86), ("f4", 38, 0.84)),
    "older_male": (("grandpa", 34, 0.86), ("m6", 30, 0.84)),
    "younger_female": (("f5", 82, 1.1), ("f3", 76, 1.08)),
    "younger_male": (("m4", 78, 1.1), ("m5", 72, 1.08)),
    "female": (("f2", 60, 1.0), ("f1", 56, 1.0), ("f3", 64, 0.98), ("f4", 58, 1.02)),
    "male": (("m3", 44, 1.0), ("m1", 48, 1.0), ("m5", 40, 0.98), ("m4", 50, 1.02)),
    # no hint: alternate so neighbours in the script differ most
    "unknown": (("f2", 60, 1.0), ("m3", 44, 1.0), ("f1", 56, 1.0), ("m1", 48, 1.0), ("f3", 64, 0.98),
                ("m5", 40, 0.98), ("f4", 58, 1.02), ("m4", 50, 1.02)),
}


def _mentions(text: str, word: str) -> bool:
    """Chinese hints match anywhere; English ones only as whole words (``man`` is not in ``woman``)."""
    if word.isascii():
        return re.search(rf"\b{re.escape(word)}\b", text) is not None
    return word in text


def voice_kind(name: str, description: str) -> str:
    """The pool a character's default voice comes from, e.g. ``"older_female"`` or ``"unknown"``."""
    text = f"{name.lower()} {description.lower()}"
    has = {key: any(_mentions(text, word) for word in words) for key, words in _HINTS.items()}
    gender = "female" if has["female"] and not has["male"] else "male" if has["male"] and not has["female"] else ""
    age = "older" if has["older"] else "younger" if has["younger"] else ""
    if age and not gender:
        # 老人 or 小孩 alone: a clear age, and the variant of that age with the more neutral colour
        gender = "female" if age == "younger" else "male"
    if not gender:
        return "unknown"
    return f"{age}_{gender}" if age else gender


def default_voices(characters: Iterable[tuple[str, str]], *, taken: Iterable[VoiceSpec] = ()) -> dict[str, VoiceSpec]:
    """Distinct default voices for ``(name, description)`` pairs, avoiding the voices in ``taken``."""
    used = {(v.voice, v.pitch) for v in taken} | {(NARRATOR_VOICE.voice, NARRATOR_VOICE.pitch)}
    turns: dict[str, int] = {}
    voices: dict[str, VoiceSpec] = {}
    for name, description in characters:
        kind = voice_kind(name, description)
        pool = _POOLS[kind]
        for _attempt in range(64):
            turn = turns.get(kind, 0)
            turns[kind] = turn + 1
            variant, pitch, speed = pool[turn % len(pool)]
            # a pool that has run out repeats its variants a few steps higher, so the voices still differ
            pitch = min(PITCH_RANGE[1], pitch + 6 * (turn // len(pool)))
            if (variant, pitch) not in used:
                break
        used.add((variant, pitch))
        voices[name] = VoiceSpec(engine="espeak", voice=variant, pitch=pitch, speed=speed)
    return voices


def neural_voices(characters: Iterable[tuple[str, str]], available: Iterable[str], *,
                  engine: str = "kokoro") -> dict[str, VoiceSpec]:
    """Distinct voices of a neural engine for ``(name, description)`` pairs, by the same hints as the
    defaults: female kinds take the ``*f_*`` voices in turn, male kinds the ``*m_*`` ones, the rest alternate.
    Pitch stays 50 (these engines have no pitch control); older voices speak slower, younger ones quicker.

    Raises
    ------
    ValueError
        The engine offers no voices.
    """
    names = sorted(set(available))
    if not names:
        raise ValueError(f"the {engine} engine offers no voices for this language")
    female = [n for n in names if n[1:3] == "f_"] or names
    male = [n for n in names if n[1:3] == "m_"] or names
    turns = {"female": 0, "male": 0}
    voices: dict[str, VoiceSpec] = {}
    for index, (name, description) in enumerate(characters):
        kind = voice_kind(name, description)
        side = "female" if "female" in kind else "male" if "male" in kind else ("female", "male")[index % 2]
        pool = female if side == "female" else male
        voice = pool[turns[side] % len(pool)]
        turns[side] += 1
        speed = 0.88 if kind.startswith("older") else 1.1 if kind.startswith("younger") else 1.0
        voices[name] = VoiceSpec(engine=engine, voice=voice, pitch=50, speed=speed)
    return voices


def voice_rows(voices: Mapping[str, VoiceSpec]) -> list[list[Any]]:
    """The voice table: ``[name, engine, voice, pitch, speed]`` per character."""
    return [[name, v.engine, v.voice, int(v.pitch), float(v.speed)] for name, v in voices.items()]


def parse_voice_rows(rows: Iterable[Iterable[Any]], *, known: Iterable[str],
                     engine_voices: Mapping[str, tuple[str, ...]]) -> dict[str, VoiceSpec]:
    """Read the edited voice table; ValueError naming the character and the field that is wrong.

    ``known`` are the bible's names (a row may not add a character); ``engine_voices`` lists each usable
    engine's voices (an engine missing from it cannot be chosen, and its message says why).
    """
    names = set(known)
    voices: dict[str, VoiceSpec] = {}
    for index, row in enumerate(rows, 1):
        row = list(row) + [""] * (5 - len(list(row)))
        name = str(row[0] or "").strip()
        if not name:
            continue
        if name not in names:
            raise ValueError(f"voice row {index}: {name!r} is not in the character bible; add the character there "
                             "first")
        engine = str(row[1] or "").strip().lower()
        if engine not in engine_voices:
            usable = ", ".join(engine_voices) or "none"
            raise ValueError(f"character {name!r}: engine {engine!r} cannot be used here (usable: {usable})")
        voice = str(row[2] or "").strip()
        if voice not in engine_voices[engine]:
            raise ValueError(f"character {name!r}: the {engine} engine has no voice {voice!r}; pick one of "
                             f"{', '.join(engine_voices[engine][:20])}")
        try:
            pitch = int(float(str(row[3]).strip()))
        except ValueError:
            raise ValueError(f"character {name!r}: pitch {row[3]!r} is not a number from 0 to 100") from None
        try:
            speed = float(str(row[4]).strip())
        except ValueError:
            raise ValueError(f"character {name!r}: speed {row[4]!r} is not a number from {SPEED_RANGE[0]} to "
                             f"{SPEED_RANGE[1]}") from None
        spec = VoiceSpec(engine=engine, voice=voice, pitch=pitch, speed=speed)
        try:
            spec.validate()
        except ValueError as error:
            raise ValueError(f"character {name!r}: {error}") from None
        voices[name] = spec
    return voices
