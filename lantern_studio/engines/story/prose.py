"""Prose to shots (小说推文): a novel chapter, Chinese or English, read into the same typed elements a script gives.

- chapter and section lines (``第一章 …``, ``CHAPTER VII. …``, ``# …``, ``* * *``) become scenes;
- paragraphs become beats; the prose is narration (``旁白`` / ``NARRATOR``), split at sentence ends (then
  at commas) so that no beat is longer than a shot may be;
- quoted speech (``“…”``, ``「…」``, ``"…"``) becomes dialogue; a short quote inside a sentence
  (``什么“君子固穷”``, ``the word "home"``) is a mention, not speech, and stays in the narration;
- each speaker comes from the attribution nearby, in this order: before the quote (``X说：``, ``X笑着说``,
  ``X问道，``, ``said X,``), after it (``”X道。``, ``," said X``, ``," X said``), a pronoun (``他``,
  ``she``) resolved to the nearest name before it, a name just after the quote, and last the other voice of
  the conversation. Groups (``他们``, ``有的``, ``they``) are ``众人``/``Crowd``. A name that is only mentioned
  never becomes a speaker.

The words of an attribution (``孔乙己睁大眼睛说``) are kept as the dialogue's note, so nothing of the text is
lost; where the parser had to guess (an unclosed quote, a speaker nobody named) ``Script.warnings`` says so.
:func:`parse_prose` is the entry point (``parse_script(text, format="prose")`` calls it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lantern_studio.engines.story.script import Element, Script, detect_language

NARRATOR = {"zh": "旁白", "en": "NARRATOR"}
CROWD = {"zh": "众人", "en": "Crowd"}
# the longest beat, in reading units (CJK characters, or English letters and spaces): about 10 s read aloud
MAX_BEAT_UNITS = {"zh": 40, "en": 150}

_CHAPTER_RE = re.compile(
    r"^\s*(?:第\s*[零一二三四五六七八九十百千〇两0-9０-９]+\s*[章回节卷部篇]|[一二三四五六七八九十]+、|"
    r"序章|序言|楔子|引子|尾声|番外|(?:CHAPTER|Chapter|BOOK|Book|PART|Part)\s+(?:[IVXLCDM]+|\d+|[A-Z][a-z]+)\b|"
    r"#{1,3}\s+\S)")
_BREAK_RE = re.compile(r"^\s*(?:(?:\*\s*){3,}|(?:＊\s*){3,}|-{3,}|—{3,}|(?:·\s*){3,}|◇+|◆+|※+)\s*$")
_QUOTE_PAIRS = {"“": "”", "「": "」", "『": "』", "\"": "\"", "＂": "＂", "‘": "’"}
SENTENCE_END = "。！？!?…；;"
_ZH_VERBS = ("笑着说", "笑着道", "说道", "问道", "叫道", "喊道", "笑道", "答道", "嚷道", "骂道", "叹道", "哭道",
             "争辩道", "回答", "解释", "回道", "接着说", "说", "道", "问", "喊", "叫", "答", "嚷", "想")
_EN_VERBS = ("said", "says", "say", "ask", "asked", "asks", "cried", "replied", "remarked", "thought", "answered", "shouted",
             "whispered", "added", "continued", "exclaimed", "began", "returned", "muttered", "called", "yelled",
             "screamed", "interrupted", "repeated", "observed", "inquired", "enquired", "went on", "growled",
             "snapped", "sighed", "laughed", "murmured", "pleaded", "demanded", "insisted", "explained")
_EN_VERB_RE = "|".join(sorted((re.escape(v) for v in _EN_VERBS), key=len, reverse=True))
_EN_NAME = r"(?:[Tt]he\s+)?[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2}"
_EN_PRONOUNS = {"he", "she", "i"}
_EN_GROUP = {"they", "everyone", "everybody", "all", "someone", "somebody", "the others", "the crowd"}
_EN_NOT_NAMES = {"I", "The", "A", "An", "But", "And", "Then", "When", "If", "It", "This", "That", "There", "Here",
                 "What", "Why", "How", "Who", "Oh", "Yes", "No", "Well", "So", "Now", "Mr", "Mrs", "Miss"}
_ZH_PRONOUNS = ("他", "她", "自己")
_ZH_GROUP = ("他们", "她们", "大家", "众人", "人们", "有的", "有人", "有些人", "有喝酒的人", "旁人", "孩子们", "大伙")
_ZH_ROLES = ("母亲", "父亲", "妈妈", "爸爸", "奶奶", "爷爷", "外婆", "外公", "哥哥", "姐姐", "弟弟", "妹妹",
             "老师", "掌柜", "老板", "先生", "太太", "小姐", "少爷", "老爷", "医生", "师父", "师傅", "姑娘", "老人")
_ZH_NOT_NAME = set("的了着是在和就都也又便还把被将对向从一不这那个么呢吗啊你我它们说道问笑喊叫答嚷想看听走便已才")


@dataclass
class _Segment:
    kind: str          # "text" or "quote"
    text: str
    start: int         # offsets in the paragraph
    end: int
    closed: bool = True


def looks_like_prose(text: str) -> bool:
    """Whether ``text`` reads as a chapter of prose rather than a script: long paragraphs, little else."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return False
    long_lines = sum(1 for line in lines if len(line) >= (30 if detect_language(line) == "zh" else 60))
    quotes = sum(line.count("“") + line.count("「") + line.count("\"") // 2 for line in lines)
    # script dialogue (角色：台词); prose puts quote marks after its colons (小雨笑着说：“…”)
    colon_cues = sum(1 for line in lines if re.match(r"^[^\s：:，。,.“「\"]{1,12}[：:]\s*(?![“「『\"])", line))
    if any(_CHAPTER_RE.match(line) and not line.startswith("#") for line in lines[:3]) and \
            colon_cues <= len(lines) // 10:
        return True
    if sum(1 for line in lines if line.startswith("|") or "\t" in line) >= 2:
        return False              # a pasted shot table
    return long_lines >= max(2, len(lines) // 3) and colon_cues <= len(lines) // 10 and (quotes > 0 or long_lines >= 3)


def parse_prose(text: str, *, max_beat_units: int | None = None, language: str | None = None) -> Script:
    """Read prose into a :class:`Script` (format ``"prose"``): scenes, narration and dialogue.

    Parameters
    ----------
    text : str
        The chapter; checked like any script (size, binary bytes, emptiness) by ``parse_script``.
    max_beat_units : int, optional
        The longest narration or dialogue beat in reading units (CJK characters, or English letters and
        spaces); longer passages are split at sentence ends, then commas. Default: 40 for Chinese, 150 for
        English (about 10 s read aloud).
    language : {"zh", "en"}, optional
        The chapter's language (the narrator's and the crowd's names, how attributions are read); default:
        detected from the text.
    """
    from lantern_studio.engines.story.script import check_script_text

    text = check_script_text(text)
    if language is not None and language not in NARRATOR:
        raise ValueError(f"language must be one of {', '.join(NARRATOR)}, not {language!r}")
    language = language or detect_language(text)
    limit = int(max_beat_units or MAX_BEAT_UNITS[language])
    if limit < 4:
        raise ValueError(f"max_beat_units must be at least 4, not {limit}")
    reader = _Reader(text, language, limit)
    return reader.read()


class _Reader:
    def __init__(self, text: str, language: str, limit: int) -> None:
        self.text, self.language, self.limit = text, language, limit
        self.elements: list[Element] = []
        self.warnings: list[str] = []
        self.title: dict[str, list[str]] = {}
        self.speakers: list[str] = []          # in order of last speech, most recent last
        self._counts: dict[str, int] = {}
        self.known: set[str] = set()
        self.known = self._names_in(text)

    # -------------------------------------------------------------- names
    def _names_in(self, text: str) -> set[str]:
        """Names that some attribution in the text gives as a speaker (found before reading, so a pronoun can
        point back at a name whose first line comes later)."""
        names: set[str] = set()
        if self.language == "en":
            for match in re.finditer(rf"\b(?:{_EN_VERB_RE})\s+({_EN_NAME})", text):
                names.add(self._en_name(match.group(1)))
            for match in re.finditer(rf"({_EN_NAME})\s+(?:\w+ly\s+)?(?:{_EN_VERB_RE})\b", text):
                names.add(self._en_name(match.group(1)))
            return {n for n in names if n and n.split()[0] not in _EN_NOT_NAMES}
        verbs = "|".join(sorted(_ZH_VERBS, key=len, reverse=True))
        counts: dict[str, int] = {}
        for match in re.finditer(rf"([\u4e00-\u9fff]{{2,8}}?)(?:{verbs})[，,：:]?[“「\"]", text):
            name = self._zh_name_at(match.group(1))
            if name:
                counts[name] = counts.get(name, 0) + 1
        return set(counts)

    @staticmethod
    def _en_name(raw: str) -> str:
        name = re.sub(r"^[Tt]he\s+", "", raw.strip())
        words = [w for w in name.split() if w[:1].isupper()]
        return " ".join(words)

    def _count(self, piece: str) -> int:
        if piece not in self._counts:
            self._counts[piece] = self.text.count(piece)
        return self._counts[piece]

    def _zh_name_at(self, chunk: str) -> str:
        """The name a clause starts with: a role word, a name already known, or the longest 2-4 character
        start that recurs in the text (names recur; ``睁大眼睛`` does not)."""
        for role in _ZH_ROLES:
            if chunk.startswith(role):
                return role
        for name in sorted(self.known, key=len, reverse=True):
            if chunk.startswith(name):
                return name
        best = ""
        for size in (2, 3, 4):
            start = chunk[:size]
            if len(start) < size or any(ch in _ZH_NOT_NAME for ch in start):
                break
            if self._count(start) >= 2 and (not best or self._count(start) >= self._count(best) * 0.8):
                best = start
        return best

    def _subject(self, clause: str, before: str) -> str:
        """Who a clause that ends in a speech verb names: a group, a pronoun resolved, or a name."""
        clause = clause.strip(" ，,：:")
        if self.language == "en":
            low = clause.lower()
            if low in _EN_GROUP or low.startswith(tuple(g + " " for g in _EN_GROUP)):
                return CROWD["en"]
            if low in _EN_PRONOUNS:
                return self._nearest_name(before)
            name = self._en_name(clause)
            return name if name and name.split()[0] not in _EN_NOT_NAMES else ""
        if clause.startswith(_ZH_GROUP):
            return CROWD["zh"]
        if clause.startswith(_ZH_PRONOUNS):
            return self._nearest_name(before)
        return self._zh_name_at(clause)

    def _nearest_name(self, before: str) -> str:
        """The known name mentioned last in ``before``, else the last speaker."""
        best, where = "", -1
        for name in self.known | set(self.speakers):
            if name in (CROWD["zh"], CROWD["en"]):
                continue
            position = before.rfind(name)
            if position > where or (position == where and len(name) > len(best)):
                best, where = name, position
        if best:
            return best
        return self.speakers[-1] if self.speakers else ""

    # -------------------------------------------------------------- attribution
    def _attribution_before(self, before: str) -> tuple[str, str]:
        """(speaker, the attribution's words) from the text right before a quote, or ("", "")."""
        sentence = re.split(r"[。！？!?；;”」\"]", before)[-1] if self.language == "zh" else \
            re.split(r"(?<=[.!?;])\s+|[”\"]", before)[-1]
        if self.language == "en":
            match = re.search(rf"(?:^|\b)({_EN_NAME}|he|she|they|I|[Ee]veryone)\s+(?:\w+ly\s+)?"
                              rf"(?:{_EN_VERB_RE}|SAID)\b[^\"“]*?[,:]?\s*$", sentence)
            if match:
                return self._subject(match.group(1), before[: len(before) - len(sentence) + match.start(1)]), \
                    sentence[match.start():].strip()
            match = re.search(rf"\b(?:{_EN_VERB_RE})\s+({_EN_NAME})\s*[,:]?\s*$", sentence)
            if match:
                return self._subject(match.group(1), before), sentence[match.start():].strip()
            return "", ""
        verbs = "|".join(sorted(_ZH_VERBS, key=len, reverse=True))
        match = re.search(rf"(?:{verbs})[^，,。：:]{{0,3}}[，,：:]?\s*$", sentence)
        if not match:
            # 爸爸从客厅探出头来：“…”: a colon right before the quote introduces the one who speaks
            match = re.search(r"[：:]\s*$", sentence)
            if not match or not sentence.strip(" ：:"):
                return "", ""
        clauses = re.split(r"[，,]", sentence[: match.start()])
        # the nearest clause that starts with someone; "弯腰下去说道" looks back to "孔乙己着了慌"
        for index in range(len(clauses) - 1, -1, -1):
            subject = self._subject(clauses[index], before[: len(before) - len(sentence)])
            if subject:
                words = "，".join(clauses[index:]) + sentence[match.start():]
                return subject, words.strip(" ，,：:")
        return "", sentence[match.start():].strip(" ，,：:")

    def _attribution_after(self, after: str) -> tuple[str, str]:
        """(speaker, the attribution's words) from the text right after a quote, or ("", "")."""
        if self.language == "en":
            match = re.match(rf"\s*,?\s*(?:{_EN_VERB_RE})\s+({_EN_NAME})(?:\s+\w+ly)?(?:\s+in\s+[\w\s]+?)?"
                             rf"(?=[.,;!?]|\s*[‘“\"]|\s*$)", after)
            if match:
                return self._subject(match.group(1), ""), match.group(0).strip(" ,")
            match = re.match(rf"\s*,?\s*({_EN_NAME}|he|she|they|I)\s+(?:\w+ly\s+)?(?:{_EN_VERB_RE})\b"
                             rf"[^.;!?\"“]*", after)
            if match and (match.group(1).lower() in _EN_PRONOUNS | _EN_GROUP
                          or self._en_name(match.group(1)) in self.known):
                return match.group(1), match.group(0).strip(" ,")
            return "", ""
        verbs = "|".join(sorted(_ZH_VERBS, key=len, reverse=True))
        match = re.match(rf"\s*[，,]?\s*([^，,。！？“”「」]{{1,12}}?)(?:{verbs})[^，,。！？“”「」]{{0,4}}[。，,！!]?",
                         after)
        if match:
            who = match.group(1)
            if who.startswith(_ZH_GROUP) or who.startswith(_ZH_PRONOUNS) or self._zh_name_at(who):
                return who, match.group(0).strip(" ，,。")
        return "", ""

    # -------------------------------------------------------------- reading
    def read(self) -> Script:
        paragraphs = self._paragraphs()
        scene_count = 0
        heading = True           # the short lines above the first paragraph: title, then author
        for line_no, paragraph in paragraphs:
            stripped = paragraph.strip()
            short = len(stripped) <= 30 and not re.search(r"[。！？!?，,“”\"「」]|\.$", stripped)
            if heading and short and not _CHAPTER_RE.match(stripped) and len(self.title) < 2:
                key = "Title" if "Title" not in self.title else "Author"
                value = re.sub(r"^(?:标题|Title|作者|Author|by)\s*[：:]?\s*|[《》]", "", stripped, flags=re.I)
                self.title.setdefault(key, []).append(value.strip() or stripped)
                continue
            heading = False
            if _CHAPTER_RE.match(stripped) and len(stripped) <= 60:
                self.elements.append(Element("scene", text=stripped.lstrip("# ").strip(), line=line_no))
                scene_count += 1
                continue
            if _BREAK_RE.match(stripped):
                last = next((e.text for e in reversed(self.elements) if e.kind == "scene"), "")
                scene_count += 1
                label = f"{last.split(' · ')[0]} · {scene_count}" if last else f"§{scene_count}"
                self.elements.append(Element("scene", text=label, line=line_no, notes=[stripped]))
                continue
            self._paragraph(stripped, line_no)
        if not self.elements:          # only short lines: they are the text, not a title
            self.elements = [Element("dialogue", text=value, speaker=NARRATOR[self.language], line=line_no)
                             for (line_no, _), value in zip(paragraphs, [v for vs in self.title.values() for v in vs])]
            self.title = {}
        return Script(title_page=self.title, elements=self.elements, format="prose", language=self.language,
                      warnings=self.warnings)

    def _paragraphs(self) -> list[tuple[int, str]]:
        """Each non-empty line is a paragraph (novels put one per line); English text wrapped over several
        lines without blank lines between paragraphs is joined back when a line does not end a sentence."""
        out: list[tuple[int, str]] = []
        lines = self.text.split("\n")
        wrapped = self.language == "en" and sum(1 for line in lines if not line.strip()) >= len(lines) // 8
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if wrapped and out and lines[number - 2].strip() and not _CHAPTER_RE.match(line.strip()) \
                    and not _CHAPTER_RE.match(out[-1][1]) and not _BREAK_RE.match(line):
                out[-1] = (out[-1][0], out[-1][1].rstrip() + " " + line.strip())
                continue
            out.append((number, line))
        return out

    def _segments(self, paragraph: str, line_no: int) -> list[_Segment]:
        segments: list[_Segment] = []
        position, text_start = 0, 0
        while position < len(paragraph):
            ch = paragraph[position]
            close = _QUOTE_PAIRS.get(ch)
            if close is None or (ch == "\"" and position > 0 and paragraph[position - 1].isalnum()
                                 and self.language == "en"):
                position += 1
                continue
            end = paragraph.find(close, position + 1)
            while close == "’" and 0 <= end < len(paragraph) - 1 and paragraph[end + 1].isalpha():
                end = paragraph.find(close, end + 1)          # it’s, don’t: an apostrophe, not the close
            if end < 0:
                self.warnings.append(f"line {line_no}: a quote opened with {ch} is not closed; the rest of the "
                                     "paragraph is kept as narration")
                break
            if position > text_start:
                segments.append(_Segment("text", paragraph[text_start:position], text_start, position))
            segments.append(_Segment("quote", paragraph[position + 1:end], position, end + 1))
            position = text_start = end + 1
        if text_start < len(paragraph):
            segments.append(_Segment("text", paragraph[text_start:], text_start, len(paragraph)))
        return segments

    def _is_speech(self, paragraph: str, segment: _Segment) -> bool:
        """A quote is speech unless it sits inside a sentence as a mention: ``什么“君子固穷”``, ``the word "no"``."""
        before = paragraph[: segment.start].rstrip()
        if not before:
            return True
        last = before[-1]
        if last in "：:，,。.！？!?…—-”」\"；;":
            return True
        if self.language == "en":
            word = re.search(r"(\w+)$", before)
            if word and re.fullmatch(_EN_VERB_RE + "|SAID|was", word.group(1)):
                return True
            # thought Alice ‘…’: the attribution of the quote before runs straight into this one
            return bool(re.search(rf"\b(?:{_EN_VERB_RE})\s+{_EN_NAME}$", before))
        return any(before.endswith(v) for v in _ZH_VERBS)

    def _paragraph(self, paragraph: str, line_no: int) -> None:
        merged = self._merge_mentions(paragraph, self._segments(paragraph, line_no))
        # text index -> (start, end, quote index): the attribution words a quote takes out of the narration
        cut: dict[int, tuple[int, int, int]] = {}
        speakers: dict[int, str] = {}
        for index, segment in enumerate(merged):
            if segment.kind != "quote":
                continue
            speaker, guessed = self._speaker_for(index, paragraph, merged, speakers, cut)
            if guessed:
                self.warnings.append(f"line {line_no}: nobody is named for “{segment.text[:16]}”; it was given to "
                                     f"{speaker or 'the narrator'}: check the speaker column")
            speaker = speaker or NARRATOR[self.language]
            speakers[index] = speaker
            if speaker not in (CROWD[self.language], NARRATOR[self.language]):
                if speaker in self.speakers:
                    self.speakers.remove(speaker)
                self.speakers.append(speaker)
        self._emit_paragraph(merged, speakers, cut, line_no)

    def _merge_mentions(self, paragraph: str, segments: list[_Segment]) -> list[_Segment]:
        """Quotes that are not speech (mentions) go back into the narration around them, with their quote
        marks, and neighbouring narration joins into one text segment."""
        merged: list[_Segment] = []
        for segment in segments:
            if segment.kind == "quote" and not self._is_speech(paragraph, segment):
                segment = _Segment("text", paragraph[segment.start:segment.end], segment.start, segment.end)
            if segment.kind == "text" and merged and merged[-1].kind == "text":
                merged[-1] = _Segment("text", merged[-1].text + segment.text, merged[-1].start, segment.end)
            else:
                merged.append(segment)
        return merged

    def _speaker_for(self, index: int, paragraph: str, merged: list[_Segment], speakers: dict[int, str],
                     cut: dict[int, tuple[int, int, int]]) -> tuple[str, bool]:
        """Who says the quote ``merged[index]`` and whether that is a guess; records in ``cut`` the attribution
        words it takes from the narration before or after it. The rules, first match wins: the words between
        two quotes of one speech, an attribution before, one after, the speech going on, a name right after
        an opening quote, the other voice, the conversation turning, the nearest name before."""
        segment = merged[index]
        before_text = paragraph[: segment.start]
        previous = merged[index - 1] if index and merged[index - 1].kind == "text" else None
        following = merged[index + 1] if index + 1 < len(merged) and merged[index + 1].kind == "text" else None
        speaker, guessed = "", False
        last_quote = max((i for i in speakers if i < index), default=None)
        # "…," said Alice; "…": the words between two quotes attribute both to the same speaker
        continued = ""
        if previous is not None and index - 1 in cut and cut[index - 1][2] == last_quote:
            a, b, _ = cut[index - 1]
            left = previous.text[:a] + previous.text[b:]
            if not re.search(r"\w", left):
                continued = speakers[last_quote]
                if not re.search(r"[.!?。！？]", left):
                    speaker = continued
        if not speaker and previous is not None:
            speaker, words = self._attribution_before(before_text)
            if speaker and words and index - 1 not in cut:
                spot = previous.text.rfind(words)
                if spot < 0:
                    spot = previous.text.rfind(re.split(r"[，,]", words)[0])
                if spot >= 0:
                    cut[index - 1] = (spot, len(previous.text), index)
        if not speaker and following is not None:
            who, words = self._attribution_after(following.text)
            if who:
                speaker = self._subject(who, before_text)
                spot = following.text.find(words) if words else -1
                if speaker and spot >= 0:
                    cut[index + 1] = (spot, spot + len(words), index)
        if not speaker and continued:
            # "…," said Alice. "…": a new sentence of the same speech, with no attribution of its own
            speaker = continued
        if not speaker and previous is None and last_quote is None and following is not None:
            # a quote that opens the paragraph, then a name: 「奶奶，是我！」小雨推门进来。
            speaker = self._name_at_start(following.text)
        if not speaker and previous is None and last_quote is None and index == 0:
            speaker, guessed = self._other_voice(), True
        if not speaker and previous is None and last_quote is not None:
            # two quotes back to back: the conversation turns
            speaker = self._turn(speakers[last_quote])
        if not speaker and previous is not None:
            # a named person just before the quote: 孔乙己笑了。“……”
            speaker, guessed = self._nearest_name(before_text), True
        if not speaker:
            speaker, guessed = self._other_voice(), True
        return speaker, guessed

    def _emit_paragraph(self, merged: list[_Segment], speakers: dict[int, str], cut: dict[int, tuple[int, int, int]],
                        line_no: int) -> None:
        """Append the paragraph's beats: each quote as its speaker's lines (noting the attribution words it
        took), the narration left once those words are cut out as the narrator's, both split at the beat
        limit."""
        for index, segment in enumerate(merged):
            if segment.kind == "quote":
                notes = [merged[i].text[a:b].strip(" ，,。;；") for i, (a, b, owner) in sorted(cut.items())
                         if owner == index]
                for piece in _split(segment.text.strip().rstrip(",，"), self.limit, self.language):
                    self.elements.append(Element("dialogue", text=piece, speaker=speakers[index],
                                                 notes=[n for n in notes if n], line=line_no))
                    notes = []
                continue
            text = segment.text
            if index in cut:
                a, b, _ = cut[index]
                text = text[:a] + text[b:]
            text = text.strip()
            if not re.search(r"\w", text):
                continue            # the punctuation left between a quote and its attribution
            for piece in _split(text.lstrip(".,;:，。；： "), self.limit, self.language):
                self.elements.append(Element("dialogue", text=piece, speaker=NARRATOR[self.language], line=line_no))

    def _name_at_start(self, text: str) -> str:
        head = text.lstrip(" ，,")
        if self.language == "en":
            match = re.match(_EN_NAME, head)
            name = self._en_name(match.group(0)) if match else ""
            return name if name in self.known else ""
        return self._zh_name_at(head) if not head.startswith(_ZH_GROUP + _ZH_PRONOUNS) else ""

    def _turn(self, last: str) -> str:
        """The other voice after ``last`` in a conversation."""
        for name in reversed(self.speakers):
            if name != last:
                return name
        return CROWD[self.language] if last != CROWD[self.language] else (self.speakers[-1] if self.speakers else "")

    def _other_voice(self) -> str:
        """In a two-way conversation an unattributed line is the other speaker's."""
        if len(self.speakers) >= 2:
            return self.speakers[-2]
        return self.speakers[-1] if self.speakers else ""


def _units(text: str, language: str) -> int:
    from lantern_studio.engines.story.shots import spoken_units

    return spoken_units(text, language=language)


def _split(text: str, limit: int, language: str) -> list[str]:
    """``text`` in pieces of at most ``limit`` reading units: at sentence ends, then commas, then anywhere."""
    text = text.strip()
    if _units(text, language) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    for pattern in (rf"(?<=[{SENTENCE_END}])(?![”」』\"])\s*|(?<=[.!?][”\"])\s+|(?<=[.!?])\s+",
                    r"(?<=[，,、：:—])\s*"):
        parts = [p for p in re.split(pattern, text) if p.strip()]
        if len(parts) > 1:
            current = ""
            for part in parts:
                joined = (current + (" " if language == "en" and current else "") + part) if current else part
                if current and _units(joined, language) > limit:
                    pieces.append(current)
                    current = part
                else:
                    current = joined
            if current:
                pieces.append(current)
            out: list[str] = []
            for piece in pieces:
                out += _split(piece, limit, language) if _units(piece, language) > limit else [piece]
            return out
    # no punctuation at all: cut by length
    step = max(1, limit if language == "zh" else limit)
    return [text[i:i + step] for i in range(0, len(text), step)]
