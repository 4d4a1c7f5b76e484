"""Prose to shots, refined by a local language model (a GGUF file in the models folder; nothing downloads).

The rule reader (:mod:`lantern_studio.engines.story.prose`) splits the chapter first. Its beats are cut into
sentences and numbered (``L1``, ``L2`` ...), and the model is asked to group consecutive lines into shots
and to say each shot's kind (``dialogue``, ``narration``, ``action``) and speaker. The model points at line
ids instead of copying text, so it cannot reword or invent anything: what it decides is the grouping, the
kind and the speaker. Its answer is constrained to a JSON schema while it is generated, then checked again:

- not JSON (e.g. cut off at the token budget), or not an object with ``scenes``: refused with
  :class:`~lantern_studio.engines.errors.UserInputError`, the rule split is the user's to keep;
- a shot that breaks the schema (wrong types, unknown ids) is dropped; lines no shot kept, or that a shot
  took out of order, come back as the rules read them;
- a speaker that is not a name written in the chapter becomes the rules' speaker for that line;
- a shot that runs over a chapter line is cut there, and one longer than a beat may be is cut at line ends;
- an answer with no usable shot at all is refused.

Every repair is listed in ``Script.warnings``, and the result is an ordinary prose :class:`Script`, ready
for ``plan_shots`` and editable like any shot list.

Two backends, picked by what is installed: llama-cpp-python (``pip install llama-cpp-python``; fast,
quantised weights, its own JSON-schema grammar), else transformers' GGUF loader (``gguf``) with
lm-format-enforcer masking the tokens that would break the schema (the weights are dequantised, so it needs
about 4 bytes per parameter of memory: fine for the 0.5-3 B instruct models this job needs).

Stable API (the Storyboard tab uses it):

- :func:`find_local_llms` ``(models_dir) -> list[Path]``: the GGUF files in the models folder;
- :func:`refine_prose` ``(text, model_path, *, language=None, progress=None, cancel=None) -> Script``.
  Besides ``UserInputError`` (a ``ValueError``: a refused answer, a model that cannot load, lines longer than
  its context, no backend installed) it raises ``ModelNotFoundError`` (a ``FileNotFoundError``) for a missing
  file, ``devices.InsufficientMemoryError`` (a ``MemoryError``) before loading a model that would not fit,
  and ``jobs.Cancelled`` when ``cancel`` is set.

The chapter goes to the model in requests of :data:`CHUNK_LINES` numbered sentences each.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lantern_studio.engines.errors import ModelNotFoundError, UserInputError, first_line
from lantern_studio.engines.jobs import Cancel, Progress, check_cancel, no_progress
from lantern_studio.engines.story.prose import CROWD, MAX_BEAT_UNITS, NARRATOR, SENTENCE_END, parse_prose
from lantern_studio.engines.story.script import Element, Script

SHOT_KINDS = ("dialogue", "narration", "action")
# lines per request: keeps the prompt and the schema's id list small enough for a small model's context
CHUNK_LINES = 40
# words that stand for a speaker without naming one
_ZH_PRONOUNS = ("他", "她", "它", "我", "你", "您", "自己", "大家", "有人", "众人")
_EN_PRONOUNS = {"he", "she", "it", "i", "you", "we", "they", "someone", "somebody", "everyone", "everybody"}
MAX_SPEAKER_CHARS = 24
MAX_HEADING_CHARS = 60
MAX_LINES_PER_SHOT = 8
INSTALL_HINT = ("pip install llama-cpp-python (fastest), or pip install gguf lm-format-enforcer jsonschema "
                "for the transformers backend")
# every sentence end the rule reader splits long beats at (prose.SENTENCE_END), unless closing quotes or more
# end marks follow
_SENTENCE_RE = re.compile(rf"(?<=[{SENTENCE_END}])(?![”」』\"。！？!?…])|(?<=[.!?])\s+(?=\S)")


@dataclass(frozen=True)
class Line:
    """One numbered sentence the model groups: its rule reading, and where it sits in the rule split."""

    id: str
    text: str
    kind: str            # the rules' kind: dialogue, narration or action
    speaker: str
    beat: int            # index of the rule beat (element) it comes from
    line: int            # source line number
    notes: tuple[str, ...] = ()


@dataclass
class Chunk:
    """Lines sent in one request, and the scene lines of the rule split that stand before some of them."""

    lines: list[Line]
    scenes_before: dict[str, list[Element]] = field(default_factory=dict)     # line id -> scene lines


# ---------------------------------------------------------------------------------------------- models folder
def find_local_llms(models_dir: str | Path | None) -> list[Path]:
    """GGUF language models in ``models_dir`` or up to two folders below it, sorted by path.

    Vision projectors (``mmproj*``) and the later parts of a split file (``-00002-of-00003.gguf``) are left
    out; a file is listed only when it starts with the GGUF magic bytes.
    """
    if models_dir is None or not Path(models_dir).is_dir():
        return []
    root = Path(models_dir)
    found: list[Path] = []
    for pattern in ("*.gguf", "*/*.gguf", "*/*/*.gguf"):
        for path in sorted(root.glob(pattern)):
            name = path.name.lower()
            part = re.search(r"-(\d+)-of-\d+\.gguf$", name)
            if name.startswith("mmproj") or (part and int(part.group(1)) > 1):
                continue
            if path.is_file() and _is_gguf(path):
                found.append(path)
    return found


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"GGUF"
    except OSError:
        return False


def resolve_llm(name: str | Path, models_dir: str | Path | None) -> Path:
    """A GGUF file given as a path, or by its file name or stem among :func:`find_local_llms` ``(models_dir)``."""
    path = Path(name).expanduser()
    if path.is_file():
        if not _is_gguf(path):
            raise UserInputError(f"{path} is not a GGUF model (its first bytes are not 'GGUF'); give a .gguf "
                                 "file such as a Qwen2.5 or Llama 3.2 instruct model")
        return path
    found = find_local_llms(models_dir)
    wanted = str(name).lower()
    for candidate in found:
        if wanted in (candidate.name.lower(), candidate.stem.lower()):
            return candidate
    listed = ", ".join(p.name for p in found) or "none"
    raise ModelNotFoundError(f"no GGUF model {str(name)!r}: it is not a file, and the models folder {models_dir} "
                             f"has {listed}. Put a .gguf file (e.g. a Qwen2.5-1.5B-Instruct GGUF) into that "
                             "folder, or pass its path")


# ---------------------------------------------------------------------------------------------- lines and schema
def number_lines(script: Script) -> list[Chunk]:
    """The rule split's beats cut into sentences, numbered ``L1``..., in chunks of :data:`CHUNK_LINES`."""
    narrator = NARRATOR[script.language]
    lines: list[Line] = []
    scenes_before: dict[str, list[Element]] = {}
    pending: list[Element] = []
    for beat, element in enumerate(script.elements):
        if element.kind == "scene":
            pending.append(element)
            continue
        kind = "action" if element.kind != "dialogue" else ("narration" if element.speaker == narrator else "dialogue")
        for number, sentence in enumerate(_sentences(element.text)):
            line = Line(f"L{len(lines) + 1}", sentence, kind, element.speaker if kind == "dialogue" else narrator,
                        beat, element.line, tuple(element.notes) if number == 0 else ())
            if pending:
                scenes_before[line.id], pending = pending, []
            lines.append(line)
    chunks = []
    for start in range(0, len(lines), CHUNK_LINES):
        part = lines[start:start + CHUNK_LINES]
        chunks.append(Chunk(part, {line.id: scenes_before[line.id] for line in part if line.id in scenes_before}))
    if pending or not chunks:        # scene lines after the last sentence
        chunks.append(Chunk([], {"": pending}))
    return chunks


def _sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_RE.split(text) if p and p.strip()]
    return parts or ([text.strip()] if text.strip() else [])


def answer_schema(chunk: Chunk) -> dict[str, Any]:
    """The JSON schema the model's answer for ``chunk`` must follow (it bounds every array and string, so a
    constrained answer always ends)."""
    ids = [line.id for line in chunk.lines]
    shot = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": list(SHOT_KINDS)},
            "speaker": {"type": "string", "maxLength": MAX_SPEAKER_CHARS},
            "lines": {"type": "array", "items": {"type": "string", "enum": ids}, "minItems": 1,
                      "maxItems": min(len(ids), MAX_LINES_PER_SHOT)},
        },
        "required": ["kind", "speaker", "lines"],
        "additionalProperties": False,
    }
    scene = {
        "type": "object",
        "properties": {"heading": {"type": "string", "maxLength": MAX_HEADING_CHARS},
                       "shots": {"type": "array", "items": shot, "minItems": 1, "maxItems": len(ids)}},
        "required": ["heading", "shots"],
        "additionalProperties": False,
    }
    return {"type": "object",
            "properties": {"scenes": {"type": "array", "items": scene, "minItems": 1,
                                      "maxItems": max(1, min(len(ids), len(chunk.scenes_before) + 3))}},
            "required": ["scenes"], "additionalProperties": False}


def build_prompt(chunk: Chunk, language: str) -> tuple[str, str]:
    """(system, user) messages asking for the shots of ``chunk``."""
    narrator = NARRATOR[language]
    system = ("You turn a chapter of a novel into storyboard shots for a short vertical drama. "
              "Answer with one JSON object and nothing else.")
    rows = []
    for line in chunk.lines:
        rows += [f"-- scene: {scene.text}" for scene in chunk.scenes_before.get(line.id, [])]
        note = f" ({'; '.join(line.notes)})" if line.notes else ""
        rows.append(f"{line.id} | {line.kind} | {line.speaker}{note} | {line.text}")
    user = (
        "Here are the lines of the chapter in order: id | kind | speaker (attribution) | text. A rule-based reader "
        "guessed the kinds and speakers; correct them where the text says otherwise.\n\n" + "\n".join(rows) +
        "\n\nGroup consecutive lines into shots. A shot is one camera set-up, at most about ten seconds read "
        "aloud, with one speaker's words or one piece of narration. For each shot give:\n"
        "- kind: dialogue (words a character says aloud), narration (the narrator reads it) or action "
        "(shown on screen, not read);\n"
        f"- speaker: for dialogue the character's name exactly as the text writes it; otherwise \"{narrator}\";\n"
        "- lines: the ids of its lines, in order.\n"
        "Use every id exactly once, in order. Put the shots into scenes: a new scene where the place or time "
        "changes, its heading the scene line above or a short label.\n"
        'Answer as {"scenes": [{"heading": "...", "shots": [{"kind": "...", "speaker": "...", "lines": ["L1"]}]}]}')
    return system, user


# ---------------------------------------------------------------------------------------------- check and repair
def repair_answer(answer: str, chunk: Chunk, *, source_text: str, language: str, model_name: str = "the model",
                  truncated: bool = False, schema: dict[str, Any] | None = None) -> tuple[list[Element], list[str]]:
    """Check the model's ``answer`` for ``chunk`` and turn it into elements, repairing what can be repaired.

    Returns (elements, warnings). Raises UserInputError when the answer is not JSON, is not an object with
    ``scenes``, or holds no usable shot. ``truncated`` says the answer stopped at the token budget; ``schema``
    is the :func:`answer_schema` of ``chunk`` the answer was asked with (built here when not given).
    """
    import jsonschema

    try:
        # strict=False: a control byte inside a string (llama.cpp's grammar lets some through) is kept as text
        # rather than sinking the answer; such a string then fails the checks of the field it is in
        data = json.loads(answer, strict=False)
    except (json.JSONDecodeError, TypeError) as error:
        cut = " (it was cut off at the token budget)" if truncated else ""
        reason = f"{error.msg} (character {error.pos})" if isinstance(error, json.JSONDecodeError) else str(error)
        raise UserInputError(f"{model_name} did not answer in JSON{cut}: {reason}; it begins {answer[:60]!r}. The "
                             "rule-based split is unchanged; try a larger instruct model, or leave Refine off to "
                             "keep the rules' shots") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenes"), list):
        raise UserInputError(f"{model_name} answered JSON without a \"scenes\" list ({answer[:60]!r}); the rule-"
                             "based split is unchanged. Try a larger instruct model, or leave Refine off")
    schema = answer_schema(chunk) if schema is None else schema
    shot_schema = schema["properties"]["scenes"]["items"]["properties"]["shots"]["items"]
    shot_check = jsonschema.Draft202012Validator(shot_schema)
    index = {line.id: n for n, line in enumerate(chunk.lines)}
    warnings: list[str] = []
    placed: list[tuple[list[int], str, str, str]] = []      # (line indices, kind, speaker, new-scene heading)
    cursor = -1
    for scene_no, scene in enumerate(data["scenes"]):
        heading = scene.get("heading", "") if isinstance(scene, dict) else ""
        shots = scene.get("shots") if isinstance(scene, dict) else None
        if not isinstance(shots, list):
            warnings.append(f"{model_name}: scene {scene_no + 1} has no shot list; its lines are kept as the "
                            "rules read them")
            continue
        for shot_no, shot in enumerate(shots):
            problem = next(iter(shot_check.iter_errors(shot)), None)
            if problem is not None:
                warnings.append(f"{model_name}: shot {shot_no + 1} of scene {scene_no + 1} was dropped "
                                f"({problem.message[:80]}); its lines are kept as the rules read them")
                continue
            run = _first_run(sorted({index[i] for i in shot["lines"]}), cursor)
            if not run:
                warnings.append(f"{model_name}: shot {shot_no + 1} of scene {scene_no + 1} repeats lines already "
                                "placed or goes back in the text; dropped")
                continue
            if len(run) < len(set(shot["lines"])):
                warnings.append(f"{model_name}: shot {shot_no + 1} of scene {scene_no + 1} joined lines that are "
                                "not next to each other; only the first run was kept")
            # a scene after the first starts a new one; "§" asks for a numbered label when it has no heading
            starts_scene = shot is shots[0] and scene_no > 0
            placed.append((run, shot["kind"], shot["speaker"].strip(),
                           (str(heading).strip() or "§") if starts_scene else ""))
            cursor = run[-1]
    if not placed:
        why = f" ({warnings[0]})" if warnings else ""
        raise UserInputError(f"{model_name} gave no usable shot for lines {_span(chunk.lines, 0, len(chunk.lines))}"
                             f"{why}; the rule-based split is unchanged. Try a larger instruct model, or leave "
                             "Refine off")
    return _assemble(chunk, placed, source_text=source_text, language=language, model_name=model_name,
                     warnings=warnings)


def _span(lines: list[Line], start: int, stop: int) -> str:
    """``"L3"`` or ``"L3-L5"``: the ids of ``lines[start:stop]``."""
    first, last = lines[start].id, lines[stop - 1].id
    return first if first == last else f"{first}-{last}"


def _first_run(indices: list[int], cursor: int) -> list[int]:
    """The first run of consecutive indices after ``cursor``."""
    indices = [i for i in indices if i > cursor]
    run: list[int] = []
    for i in indices:
        if run and i != run[-1] + 1:
            break
        run.append(i)
    return run


def _assemble(chunk: Chunk, placed: list[tuple[list[int], str, str, str]], *, source_text: str, language: str,
              model_name: str, warnings: list[str]) -> tuple[list[Element], list[str]]:
    """Elements in text order: the model's shots, the rules' beats for lines no shot kept, scene lines where
    the rules found them."""
    lines = chunk.lines
    groups: list[tuple[list[int], str, str, str]] = []
    done = -1
    for run, kind, speaker, heading in placed:
        if run[0] > done + 1:
            groups += _rule_groups(lines, done + 1, run[0])
            warnings.append(f"{model_name} left out {_span(lines, done + 1, run[0])}; kept as the rules read them")
        groups.append((run, kind, speaker, heading))
        done = run[-1]
    if done + 1 < len(lines):
        groups += _rule_groups(lines, done + 1, len(lines))
        warnings.append(f"{model_name} left out {_span(lines, done + 1, len(lines))}; kept as the rules read them")
    elements: list[Element] = []
    for run, kind, speaker, heading in _split_at_scenes(groups, chunk):
        first = lines[run[0]]
        rule_scenes = chunk.scenes_before.get(first.id, [])
        elements += rule_scenes
        if heading and not rule_scenes:
            label = heading if heading != "§" and heading in source_text else f"§{first.line}"
            elements.append(Element("scene", text=label, line=first.line))
        speaker = _checked_speaker(kind, speaker, first, source_text, language, model_name, warnings)
        elements += _shot_elements([lines[i] for i in run], kind, speaker, language)
    return elements, warnings


def _split_at_scenes(groups: list[tuple[list[int], str, str, str]], chunk: Chunk
                     ) -> list[tuple[list[int], str, str, str]]:
    """A shot never runs over a chapter or section line: it is cut there."""
    out = []
    for run, kind, speaker, heading in groups:
        cuts = [n for n, i in enumerate(run) if n and chunk.lines[i].id in chunk.scenes_before]
        for a, b in zip([0] + cuts, cuts + [len(run)]):
            out.append((run[a:b], kind, speaker, heading if a == 0 else ""))
    return out


def _rule_groups(lines: list[Line], start: int, stop: int) -> list[tuple[list[int], str, str, str]]:
    """Lines ``start:stop`` grouped back into the rule beats they came from."""
    groups: list[tuple[list[int], str, str, str]] = []
    for i in range(start, stop):
        if groups and lines[groups[-1][0][-1]].beat == lines[i].beat:
            groups[-1][0].append(i)
        else:
            groups.append(([i], lines[i].kind, lines[i].speaker, ""))
    return groups


def _checked_speaker(kind: str, speaker: str, first: Line, source_text: str, language: str, model_name: str,
                     warnings: list[str]) -> str:
    """The shot's speaker: the narrator for narration and action; for dialogue the model's name when it is a
    name in the text, else the rules' speaker of the shot's first line."""
    if kind != "dialogue" or speaker == NARRATOR[language]:
        return NARRATOR[language]
    if language == "en":
        speaker = re.sub(r"^(?:the|The)\s+", "", speaker)
    if speaker in (CROWD[language], first.speaker) or _is_name(speaker, source_text, language):
        return speaker
    fallback = first.speaker if first.kind == "dialogue" else NARRATOR[language]
    warnings.append(f"{model_name} gave {first.id} to {speaker!r}, which is not a name in the text; kept the "
                    f"rules' {fallback}")
    return fallback


def _is_name(speaker: str, source_text: str, language: str) -> bool:
    """Whether ``speaker`` reads as a name written in the text (not a pronoun, a single character, a word
    cut in half)."""
    if language == "zh":
        return len(speaker) >= 2 and speaker in source_text and not speaker.startswith(_ZH_PRONOUNS)
    return (speaker[:1].isupper() and speaker.split()[0].lower() not in _EN_PRONOUNS
            and re.search(rf"(?<!\w){re.escape(speaker)}(?!\w)", source_text) is not None)


def _shot_elements(group: list[Line], kind: str, speaker: str, language: str) -> list[Element]:
    """One element per shot, split at line boundaries where the text would be longer than a beat may be."""
    from lantern_studio.engines.story.shots import spoken_units

    limit = MAX_BEAT_UNITS[language]
    joiner = "" if language == "zh" else " "
    pieces: list[list[Line]] = [[]]
    for line in group:
        joined = joiner.join(l.text for l in pieces[-1] + [line])
        if pieces[-1] and spoken_units(joined, language=language) > limit:
            pieces.append([])
        pieces[-1].append(line)
    out = []
    for piece in pieces:
        text = joiner.join(l.text for l in piece)
        notes = [n for l in piece for n in l.notes]
        if kind == "action":
            out.append(Element("action", text=text, notes=notes, line=piece[0].line))
        else:
            out.append(Element("dialogue", text=text, speaker=speaker, notes=notes, line=piece[0].line))
    return out


# ---------------------------------------------------------------------------------------------- backends
def backend_name() -> str:
    """``"llama-cpp"`` or ``"transformers"``: the backend :func:`refine_prose` would use; raises
    UserInputError saying what to install when neither is."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        return "llama-cpp"
    missing = [name for name in ("gguf", "lmformatenforcer", "jsonschema", "transformers", "torch")
               if importlib.util.find_spec(name) is None]
    if not missing:
        return "transformers"
    raise UserInputError(f"refining with a local model needs a backend: {INSTALL_HINT} (missing: "
                         f"{', '.join(missing)}); the rule-based prose reader needs none")


class LlamaCppBackend:
    """llama-cpp-python: the GGUF as it is, with the answer held to the schema by llama.cpp's grammar."""

    def __init__(self, model_path: Path, *, context_tokens: int = 8192) -> None:
        from llama_cpp import Llama

        self.model_path = model_path
        trained = _trained_context(model_path)
        self.llm = Llama(model_path=str(model_path), n_ctx=min(context_tokens, trained or context_tokens), seed=0,
                         verbose=False)

    def generate_json(self, system: str, user: str, schema: dict, *, max_new_tokens: int,
                      cancel: Cancel | None = None, on_token: Callable[[int], None] | None = None
                      ) -> tuple[str, bool]:
        """(answer, truncated); ``on_token(count)`` hears how many tokens are out so far."""
        stream = self.llm.create_chat_completion(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            response_format={"type": "json_object", "schema": schema}, temperature=0.0,
            max_tokens=max_new_tokens, stream=True)
        parts, finish = [], None
        try:
            for chunk in stream:
                check_cancel(cancel, "refining stopped")
                choice = chunk["choices"][0]
                parts.append(choice.get("delta", {}).get("content") or "")
                finish = choice.get("finish_reason") or finish
                if on_token is not None:
                    on_token(len(parts))
        except ValueError as error:
            if "context" not in str(error):
                raise
            raise UserInputError(f"{self.model_path.name}: {error}; use a model with a longer context") from None
        return "".join(parts), finish == "length"


class TransformersBackend:
    """transformers' GGUF loader (weights dequantised) with lm-format-enforcer's JSON-schema token filter."""

    def __init__(self, model_path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from lantern_studio.engines import devices

        self.model_path = model_path
        folder, name = str(model_path.parent), model_path.name
        self.device = "cuda" if devices.cuda_available() else "cpu"
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        devices.check_fits(estimate_memory(model_path, self.device), budget_bytes=devices.memory_budget_bytes(
            self.device), device=self.device, what=f"loading {name} with transformers",
            advice="Use a smaller model (0.5-3 B parameters), or pip install llama-cpp-python, which runs the "
                   "quantised weights as they are")
        self.tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        self.model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype).to(self.device)
        self.model.eval()
        self._tokenizer_data = None

    def prompt_ids(self, system: str, user: str):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = f"{system}\n\n{user}\n\nJSON:\n"
        return self.tokenizer(text, return_tensors="pt").input_ids.to(self.device)

    def tokenizer_data(self):
        """lm-format-enforcer's view of the vocabulary: each regular token's text (built once per model)."""
        if self._tokenizer_data is None:
            from lmformatenforcer import TokenEnforcerTokenizerData

            tok = self.tokenizer
            special = set(tok.all_special_ids)
            zero = tok.encode("0", add_special_tokens=False)[-1]
            regular = []
            # the model's own vocabulary: a tokenizer class may add tokens the weights have no row for
            size = min(len(tok), self.model.get_output_embeddings().weight.shape[0])
            for token_id in range(size):
                if token_id in special:
                    continue
                # decoding after "0" keeps a word-start token's leading space, which decoding alone drops
                after_zero = tok.decode([zero, token_id])[1:]
                if "\ufffd" in after_zero or any(ord(ch) < 32 and ch != "\n" for ch in after_zero):
                    # a tab or control byte is never valid in a JSON string, and a token holding part of a
                    # UTF-8 character has no text of its own for the enforcer to check
                    continue
                regular.append((token_id, after_zero, len(after_zero) > len(tok.decode([token_id]))))
            eos = tok.eos_token_id

            def decode(ids: list[int]) -> str:
                return tok.decode(ids).rstrip("\ufffd")

            self._tokenizer_data = TokenEnforcerTokenizerData(regular, decode, eos, False, size)
        return self._tokenizer_data

    def generate_json(self, system: str, user: str, schema: dict, *, max_new_tokens: int,
                      cancel: Cancel | None = None, on_token: Callable[[int], None] | None = None
                      ) -> tuple[str, bool]:
        """(answer, truncated): greedy decoding with only the tokens the schema allows at each step;
        ``on_token(count)`` hears how many tokens are out so far."""
        import torch
        from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser, TokenEnforcer
        from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        parser = JsonSchemaParser(schema)
        enforcer = TokenEnforcer(self.tokenizer_data(), parser)
        # the enforcer sets the parser's alphabet to the vocabulary's; keep that, and hold the fields to the
        # schema's order with little whitespace, which keeps a small model on track
        parser.config = CharacterLevelParserConfig(alphabet=parser.config.alphabet, max_consecutive_whitespaces=2,
                                                   force_json_field_order=True)
        prompt = self.prompt_ids(system, user)
        start = prompt.shape[1]
        context = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)
        if context:
            if start + 16 > context:
                raise UserInputError(f"{self.model_path.name} reads {context} tokens at most, and these lines "
                                     f"take {start}; use a model with a longer context")
            max_new_tokens = min(max_new_tokens, context - start)

        class Allowed(LogitsProcessor):
            def __call__(self, input_ids, scores):
                allowed = enforcer.get_allowed_tokens(input_ids[0, start:].tolist()).allowed_tokens
                mask = torch.full_like(scores, float("-inf"))
                mask[:, allowed] = 0.0
                return scores + mask

        class Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                check_cancel(cancel, "refining stopped")
                if on_token is not None:
                    on_token(input_ids.shape[1] - start)
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        with torch.no_grad():
            out = self.model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=max_new_tokens,
                                      do_sample=False, logits_processor=LogitsProcessorList([Allowed()]),
                                      stopping_criteria=StoppingCriteriaList([Stop()]),
                                      pad_token_id=self.tokenizer.eos_token_id)
        new = out[0, start:].tolist()
        eos = self.tokenizer.eos_token_id
        truncated = not new or (new[-1] != eos and len(new) >= max_new_tokens)
        return self.tokenizer.decode(new, skip_special_tokens=True), truncated


def _trained_context(model_path: Path) -> int | None:
    """The context length the model was trained with (``<architecture>.context_length``), if the file says."""
    import gguf

    reader = gguf.GGUFReader(str(model_path))
    field = reader.get_field("general.architecture")
    architecture = field.contents() if field is not None else ""
    length = reader.get_field(f"{architecture}.context_length")
    return int(length.contents()) if length is not None else None


def estimate_memory(model_path: str | Path, device: str):
    """The memory transformers needs for ``model_path``: every weight dequantised (4 bytes each on the CPU, 2
    on CUDA), and as much again for the loader's dequantised copy while it fills the model."""
    import gguf

    from lantern_studio.engines.devices import MemoryEstimate

    reader = gguf.GGUFReader(str(model_path))
    parameters = sum(int(tensor.n_elements) for tensor in reader.tensors)
    weights = parameters * (2 if device.startswith("cuda") else 4)
    return MemoryEstimate({"weights": weights, "loading copy": weights})


_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def load_backend(model_path: str | Path, *, backend: str | None = None):
    """The backend for ``model_path`` (kept loaded for the next call with the same file)."""
    path = Path(model_path)
    if not path.is_file():
        raise ModelNotFoundError(f"no GGUF model at {path}; put a .gguf file into the models folder or pass its path")
    if not _is_gguf(path):
        raise UserInputError(f"{path} is not a GGUF model (its first bytes are not 'GGUF')")
    chosen = backend or backend_name()
    if chosen not in ("llama-cpp", "transformers"):
        raise ValueError(f"backend {chosen!r} is not one of llama-cpp, transformers")
    key = f"{chosen}:{path.resolve()}:{path.stat().st_mtime_ns}"
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED.clear()           # one model in memory at a time
            try:
                _LOADED[key] = LlamaCppBackend(path) if chosen == "llama-cpp" else TransformersBackend(path)
            except UserInputError:
                raise
            except ImportError as error:
                raise UserInputError(f"the {chosen} backend is not installed ({error.name or error}): "
                                     f"{INSTALL_HINT}") from None
            except (ValueError, KeyError, RuntimeError, OSError) as error:
                raise UserInputError(f"{path.name} could not be loaded with {chosen}: {first_line(error)}. Use a "
                                     "llama, qwen2 or mistral instruct model in GGUF") from error
        return _LOADED[key]


def token_budget(chunk: Chunk) -> int:
    """New tokens allowed for one answer: room for every line in its own shot, with a margin."""
    return 96 + 64 * len(chunk.lines)


# ---------------------------------------------------------------------------------------------- entry point
def refine_prose(text: str, model_path: str | Path, *, language: str | None = None,
                 progress: Progress | None = None, cancel: Cancel | None = None,
                 backend: str | None = None, max_new_tokens: int | None = None) -> Script:
    """Read prose with the rules, then let the local model at ``model_path`` regroup the shots.

    Parameters
    ----------
    text : str
        The chapter (checked like any script).
    model_path : str or Path
        A GGUF file (see :func:`find_local_llms`).
    language : {"zh", "en"}, optional
        The chapter's language; default: detected from the text.
    progress, cancel
        The job protocol (:mod:`lantern_studio.engines.jobs`); cancelling between or inside requests raises
        ``Cancelled``.
    backend : {"llama-cpp", "transformers"}, optional
        Default: llama-cpp when installed, else transformers.
    max_new_tokens : int, optional
        Token budget for each answer (default :func:`token_budget`).

    Returns
    -------
    Script
        A prose script as :func:`~lantern_studio.engines.story.prose.parse_prose` returns, with the model's
        grouping, kinds and speakers; ``warnings`` lists the rules' guesses and every repair.
    """
    progress = progress or no_progress
    script = parse_prose(text, language=language)
    progress(0.0, f"loading {Path(model_path).name}")
    model = load_backend(model_path, backend=backend)
    label = Path(model_path).name
    chunks = number_lines(script)
    elements: list[Element] = []
    warnings = list(script.warnings)
    for number, chunk in enumerate(chunks):
        check_cancel(cancel, "refining stopped")
        if not chunk.lines:
            elements += [scene for scenes in chunk.scenes_before.values() for scene in scenes]
            continue
        span, budget = f"lines {_span(chunk.lines, 0, len(chunk.lines))}", int(max_new_tokens or token_budget(chunk))
        progress(number / len(chunks), f"{label}: {span}")

        def tokens(count: int, number: int = number, span: str = span, budget: int = budget) -> None:
            # the budget bounds the answer, so count / budget is a fraction that only grows
            progress((number + min(0.99, count / budget)) / len(chunks), f"{label}: {span}, {count} tokens")
        system, user = build_prompt(chunk, script.language)
        schema = answer_schema(chunk)
        answer, truncated = model.generate_json(system, user, schema, max_new_tokens=budget, cancel=cancel,
                                                on_token=tokens)
        got, notes = repair_answer(answer, chunk, source_text=text, language=script.language, model_name=label,
                                   truncated=truncated, schema=schema)
        elements += got
        warnings += notes
    progress(1.0, f"{label}: {sum(1 for e in elements if e.kind != 'scene')} shots")
    return Script(title_page=script.title_page, elements=elements, format="prose", language=script.language,
                  warnings=warnings)
