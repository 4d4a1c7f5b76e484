"""The character bible: one entry per character (name, description, colour, seed), editable, and the single
source every renderer draws a character from, so the same character looks the same in every panel.

- :func:`build_bible` makes entries for the names a script uses, keeping what the user already edited.
- :func:`appearance` turns an entry into the stylised look the previz renderer draws (hair, height, build,
  skin), from the seed and a few keywords of the description (``grey hair``, ``白发``, ``child``, ``奶奶``).
- :func:`character_prompt` is the entry as text for a text-to-image prompt.
- :func:`bible_rows` / :func:`apply_bible_rows` are the editable table the Storyboard tab shows.
- :func:`assign_voices` gives each character a distinct default voice; :func:`voice_of` reads it back.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any, Iterable

from lantern_studio.engines.speech.base import VoiceSpec
from lantern_studio.engines.speech.casting import default_voices
from lantern_studio.engines.story.model import Character

# distinct, readable on white and on dark backgrounds, and different for colour-blind viewers in order
PALETTE = ("#d1495b", "#2e86ab", "#edae49", "#3b8d5a", "#8e5ea2", "#e07a1f", "#1b998b", "#c05299",
           "#5c6bc0", "#8d6e63", "#7cb342", "#455a64")
BIBLE_HEADERS = ["name", "description", "color", "seed"]
_HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def stable_seed(name: str) -> int:
    """A seed that depends only on the name (CRC-32 of its UTF-8 bytes), the same on every machine."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def guess_description(name: str, texts: Iterable[str]) -> str:
    """The appositive a screenplay introduces a character with: ``BRICK BRADDOCK, retired police detective,``."""
    pattern = re.compile(rf"\b{re.escape(name)}(?:\s+[A-Z][A-Z.'-]+)*,\s+([^,.;:!?]{{4,80}})[,.]")
    for text in texts:
        match = pattern.search(text)
        if match:
            return match.group(1).strip()
    return ""


def build_bible(names: Iterable[str], *, existing: dict[str, Character] | None = None,
                texts: Iterable[str] = ()) -> dict[str, Character]:
    """Bible entries for ``names`` (in order), keeping every entry of ``existing`` the user already edited.

    New names get the next unused palette colour, a seed from :func:`stable_seed` and a description guessed
    from the script's ``texts`` (empty when none is found). Names only in ``existing`` are kept too, so an
    edit is never lost when a line is deleted and put back.
    """
    texts = list(texts)
    bible: dict[str, Character] = {}
    existing = dict(existing or {})
    used_colors = {c.color.lower() for c in existing.values()}
    free = [c for c in PALETTE if c.lower() not in used_colors]
    for name in names:
        name = name.strip()
        if not name or name in bible:
            continue
        if name in existing:
            bible[name] = existing.pop(name)
            continue
        color = free.pop(0) if free else PALETTE[stable_seed(name) % len(PALETTE)]
        bible[name] = Character(name=name, description=guess_description(name, texts), color=color,
                                seed=stable_seed(name))
    bible.update(existing)
    return assign_voices(bible)


def voice_of(character: Character) -> VoiceSpec:
    """The character's voice as the speech engines take it."""
    return VoiceSpec(engine=character.voice_engine, voice=character.voice_name, pitch=int(character.voice_pitch),
                     speed=float(character.voice_speed))


def assign_voices(bible: dict[str, Character]) -> dict[str, Character]:
    """Give every character without a voice a default one, distinct from the voices already chosen."""
    voiced = [voice_of(c) for c in bible.values() if c.voice_name]
    unvoiced = [(c.name, c.description) for c in bible.values() if not c.voice_name]
    for name, spec in default_voices(unvoiced, taken=voiced).items():
        character = bible[name]
        character.voice_engine, character.voice_name = spec.engine, spec.voice
        character.voice_pitch, character.voice_speed = spec.pitch, spec.speed
    return bible


def bible_rows(bible: dict[str, Character]) -> list[list[Any]]:
    """The bible as table rows: ``[name, description, color, seed]``."""
    return [[c.name, c.description, c.color, int(c.seed)] for c in bible.values()]


def apply_bible_rows(rows: Iterable[Iterable[Any]], *, existing: dict[str, Character] | None = None
                     ) -> dict[str, Character]:
    """Read edited table rows back into a bible; raise ValueError naming the row that is wrong.

    The table has no voice columns: each character keeps its voice from ``existing`` (by name), and a new
    or renamed one gets a default voice.
    """
    bible: dict[str, Character] = {}
    for index, row in enumerate(rows, 1):
        row = list(row) + [""] * (4 - len(list(row)))
        name, description, color, seed = (row[0], row[1], row[2], row[3])
        name = str(name or "").strip()
        if not name:
            if any(str(v or "").strip() for v in (description, color, seed)):
                raise ValueError(f"character row {index} has no name; give it one or clear the row")
            continue
        if name in bible:
            raise ValueError(f"character {name!r} appears twice in the bible; merge the two rows")
        color = str(color or "").strip()
        if not _HEX_RE.match(color):
            raise ValueError(f"character {name!r}: colour {color!r} is not a #rrggbb hex colour such as #d1495b")
        try:
            seed_value = int(float(str(seed).strip()))
        except ValueError:
            raise ValueError(f"character {name!r}: seed {seed!r} is not a whole number") from None
        if not 0 <= seed_value < 2**31:
            raise ValueError(f"character {name!r}: seed {seed_value} must be between 0 and 2147483647")
        kept = (existing or {}).get(name)
        voice = {f: getattr(kept, f) for f in _VOICE_FIELDS} if kept is not None else {}
        bible[name] = Character(name=name, description=str(description or "").strip(), color=color.lower(),
                                seed=seed_value, **voice)
    return assign_voices(bible)


_VOICE_FIELDS = ("voice_engine", "voice_name", "voice_pitch", "voice_speed")


# ------------------------------------------------------------------------------------------------
# how a character looks in the previz renderer
# ------------------------------------------------------------------------------------------------

HAIR_STYLES = ("short", "bob", "long", "bun", "spiky", "cap")
HAIR_COLORS = ("#2b1d14", "#4a3222", "#1c1c1c", "#6b4226", "#3d2b1f")
SKIN_TONES = ("#f1c9a5", "#e0ac83", "#c68c5e", "#f5d6b8", "#a8754b")

_KEYWORDS = {
    "grey": ("grey", "gray", "white hair", "白发", "银发", "花白", "奶奶", "爷爷", "外婆", "外公", "老人", "老奶奶",
             "老爷爷", "grandma", "grandpa", "grandmother", "grandfather", "old ", "elderly"),
    "child": ("child", "kid", "boy ", "girl ", "小孩", "孩子", "小朋友", "儿童"),
    "long": ("long hair", "长发", "马尾", "ponytail", "braid", "辫"),
    "bun": ("bun", "发髻", "盘发", "奶奶", "外婆"),
    "cap": ("cap", "hat", "帽"),
    "short": ("short hair", "短发", "寸头", "bald", "光头", "爸爸", "父亲", "dad", "father"),
    "big": ("big", "burly", "fat", "胖", "壮", "detective", "cop"),
    "slim": ("slim", "thin", "瘦", "苗条"),
}


@dataclass(frozen=True)
class Appearance:
    """The stylised figure of a character: what the previz renderer draws, derived only from the bible."""

    body_color: str
    hair_style: str
    hair_color: str
    skin: str
    height: float        # relative to an adult of 1.0
    build: float         # shoulder width relative to 1.0
    stooped: bool = False     # an older person leans forward


def _has(text: str, key: str) -> bool:
    return any(word in text for word in _KEYWORDS[key])


def appearance(character: Character) -> Appearance:
    """The look of ``character``: seed picks hair, skin and proportions; description keywords override them."""
    seed = int(character.seed)
    text = f" {character.description.lower()} {character.name.lower()} "
    hair_style = HAIR_STYLES[seed % len(HAIR_STYLES)]
    hair_color = HAIR_COLORS[(seed // 7) % len(HAIR_COLORS)]
    skin = SKIN_TONES[(seed // 31) % len(SKIN_TONES)]
    height = 0.94 + ((seed // 131) % 9) * 0.015
    build = 0.92 + ((seed // 1009) % 7) * 0.03
    for style in ("long", "bun", "cap", "short"):
        if _has(text, style):
            hair_style = style
            break
    stooped = False
    if _has(text, "grey"):
        hair_color = "#c9c9c9"
        height = min(height, 0.93)
        stooped = True
    if _has(text, "child"):
        height = 0.68
    if _has(text, "big"):
        build = 1.12
    if _has(text, "slim"):
        build = 0.86
    return Appearance(body_color=character.color, hair_style=hair_style, hair_color=hair_color, skin=skin,
                      height=height, build=build, stooped=stooped)


def character_prompt(character: Character) -> str:
    """The character as prompt text: ``"小雨 (young woman, red coat)"`` or just the name."""
    if character.description:
        return f"{character.name} ({character.description})"
    return character.name
