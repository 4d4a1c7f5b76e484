"""Neural voices on local Kokoro weights, through ``kokoro-onnx`` (onnxruntime).

The model lives in the models folder, as MusicGen's do: ``<models>/kokoro/`` holding the ONNX graph and
its voices file. Nothing is downloaded; a missing file is a message naming the folder and the files.
Lines are phonemised by kokoro-onnx with eSpeak NG from the same ``espeakng-loader`` wheel as the floor
engine (``cmn`` for Mandarin, ``en-us`` for English).
"""

from __future__ import annotations

import threading
from pathlib import Path

from lantern_studio.engines.music.base import EngineStatus
from lantern_studio.engines.speech.base import SpeechClip, VoiceSpec, check_line, make_clip

NAME = "kokoro"
#: Sub-folder of the models folder that holds the weights.
FOLDER = "kokoro"
#: The graph and voices file names, in order of preference.
MODEL_FILES = (("kokoro-v1.0.onnx", "voices-v1.0.bin"), ("kokoro-v1.0.int8.onnx", "voices-v1.0.bin"))
#: kokoro-onnx's language for each studio language.
LANGUAGE_CODES = {"zh": "cmn", "en": "en-us"}
#: Voice-name prefixes per language in Kokoro v1.0 (z: Mandarin, a/b: American/British English).
VOICE_PREFIXES = {"zh": ("zf_", "zm_"), "en": ("af_", "am_", "bf_", "bm_")}
#: Pitch is not a Kokoro control; the setting is kept for eSpeak voices and must be left at 50 here.
NEUTRAL_PITCH = 50


def model_paths(models_dir: str | Path | None) -> tuple[Path, Path] | None:
    """The (graph, voices) files found in ``<models_dir>/kokoro``, or None."""
    if models_dir is None:
        return None
    folder = Path(models_dir) / FOLDER
    for graph, voices in MODEL_FILES:
        if (folder / graph).is_file() and (folder / voices).is_file():
            return folder / graph, folder / voices
    return None


def missing_message(models_dir: str | Path | None) -> str:
    """What is missing and where to put it."""
    folder = Path(models_dir) / FOLDER if models_dir is not None else Path("<models folder>") / FOLDER
    graph, voices = MODEL_FILES[0]
    return (f"Kokoro voices need {graph} and {voices} in {folder} (the int8 graph {MODEL_FILES[1][0]} works too); "
            "copy them there from kokoro-onnx's model release, or use the eSpeak NG voices, which need no files")


_SHARED: dict[str, "KokoroEngine"] = {}
_SHARED_LOCK = threading.Lock()


def shared_engine(models_dir: str | Path | None) -> "KokoroEngine":
    """One engine per models folder for the whole process, so the model is loaded once, not per line or
    per table edit."""
    key = str(Path(models_dir).resolve()) if models_dir is not None else ""
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = KokoroEngine(models_dir)
        return _SHARED[key]


class KokoroEngine:
    """Kokoro-82M voices; built from the models folder, loaded on first use and kept."""

    name = NAME

    def __init__(self, models_dir: str | Path | None) -> None:
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self._model = None
        self._lock = threading.Lock()

    def available(self) -> EngineStatus:
        try:
            import kokoro_onnx  # noqa: F401
        except ImportError:
            return EngineStatus(False, "Kokoro voices need the kokoro-onnx package: "
                                       "pip install 'lantern-studio[voices]' inside the studio's environment")
        paths = model_paths(self.models_dir)
        if paths is None:
            return EngineStatus(False, missing_message(self.models_dir))
        return EngineStatus(True, f"Kokoro ready ({paths[0].name} in {paths[0].parent})")

    def load(self):
        """The kokoro-onnx model (loaded once). Raises FileNotFoundError naming the folder and files."""
        with self._lock:
            if self._model is None:
                paths = model_paths(self.models_dir)
                if paths is None:
                    raise FileNotFoundError(missing_message(self.models_dir))
                from kokoro_onnx import Kokoro

                try:
                    self._model = Kokoro(str(paths[0]), str(paths[1]))
                except Exception as error:  # onnxruntime and numpy raise many kinds for a damaged file
                    raise ValueError(f"the Kokoro files in {paths[0].parent} could not be loaded ({error}); "
                                     "copy them again from kokoro-onnx's model release") from error
            return self._model

    def voices(self, language: str) -> tuple[str, ...]:
        if model_paths(self.models_dir) is None:
            return ()
        names = sorted(self.load().voices.keys())
        prefixes = VOICE_PREFIXES.get(language, ())
        return tuple(n for n in names if n.startswith(prefixes)) or tuple(names)

    def speak(self, text: str, *, voice: VoiceSpec, language: str) -> SpeechClip:
        """Speak ``text`` with a Kokoro voice; see :class:`SpeechClip`.

        Raises
        ------
        ValueError
            An empty, too long or unsupported line, or a voice the voices file does not have.
        FileNotFoundError
            The model files are not in the models folder (the message names them).
        """
        line = check_line(text, language)
        voice.validate()
        if voice.engine != NAME:
            raise ValueError(f"the voice belongs to the {voice.engine!r} engine, not Kokoro")
        if voice.pitch != NEUTRAL_PITCH:
            raise ValueError("Kokoro voices have no pitch control; set pitch to 50 or pick another voice")
        model = self.load()
        if voice.voice not in model.voices:
            raise ValueError(f"the Kokoro voices file has no voice {voice.voice!r}; pick one of "
                             f"{', '.join(self.voices(language)[:12])}")
        audio, sample_rate = model.create(line, voice=voice.voice, speed=float(voice.speed),
                                          lang=LANGUAGE_CODES[language])
        return make_clip(audio, int(sample_rate))
