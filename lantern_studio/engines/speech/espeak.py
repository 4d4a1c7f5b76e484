"""The offline floor: eSpeak NG from the ``espeakng-loader`` wheel, called through ctypes.

The wheel ships ``libespeak-ng`` and its ``espeak-ng-data`` (with the Mandarin dictionary), so this engine
needs no weights and no system package. The library holds one voice at a time in global state, so every
call goes through one lock. It synthesises in its synchronous mode and hands 16-bit samples to a
callback, which collects them.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

from lantern_studio.engines.music.base import EngineStatus
from lantern_studio.engines.speech.base import SpeechClip, VoiceSpec, check_line, make_clip

NAME = "espeak"
#: eSpeak NG's language for each studio language.
LANGUAGE_CODES = {"zh": "cmn", "en": "en-us"}
#: Voice variants shipped in espeak-ng-data/voices/!v that sound clearly different from one another.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "grandma", "grandpa",
            "klatt", "klatt3", "whisper", "croak")
#: Words per minute at speed 1.0 (eSpeak NG's default).
BASE_RATE_WPM = 175

# espeak_AUDIO_OUTPUT, espeak_PARAMETER, espeak_POSITION_TYPE and flag values from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Library:
    """The loaded, initialised library and the callback that collects samples (kept alive here)."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        self.data_path = espeakng_loader.get_data_path()
        self.sample_rate = int(lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0))
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG could not start with its data in {self.data_path} "
                               f"(code {self.sample_rate}); reinstall the studio's packages (`python launch.py`)")
        self.chunks: list[np.ndarray] = []
        self.callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synthesise(self, text: str, voice_name: str, *, pitch: int, rate_wpm: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice_name.encode("utf-8")) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice_name!r}")
        self.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        self.lib.espeak_SetParameter(_RATE, int(rate_wpm), 0)
        self.lib.espeak_SetParameter(_VOLUME, 100, 0)
        data = text.encode("utf-8") + b"\0"
        self.chunks = []
        code = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if code != 0:
            raise RuntimeError(f"eSpeak NG failed to speak the line (code {code})")
        self.lib.espeak_Synchronize()
        if not self.chunks:
            return np.zeros(0, np.float32)
        return (np.concatenate(self.chunks).astype(np.float32) / 32768.0)


_LOCK = threading.Lock()
_LIBRARY: _Library | None = None


def _library() -> _Library:
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = _Library()
    return _LIBRARY


class EspeakEngine:
    """eSpeak NG voices: a language (Mandarin or English) plus a variant, pitch and speed."""

    name = NAME

    def available(self) -> EngineStatus:
        try:
            with _LOCK:
                library = _library()
        except (ImportError, OSError, RuntimeError) as error:
            return EngineStatus(False, f"eSpeak NG could not be loaded ({error}); run `python launch.py` once "
                                       "to install the studio's packages (espeakng-loader)")
        return EngineStatus(True, f"eSpeak NG ready ({library.sample_rate} Hz, Mandarin and English)")

    def voices(self, language: str) -> tuple[str, ...]:
        return VARIANTS

    def speak(self, text: str, *, voice: VoiceSpec, language: str) -> SpeechClip:
        """Speak ``text`` in ``language`` (``"zh"`` or ``"en"``) with ``voice``; see :class:`SpeechClip`.

        Raises
        ------
        ValueError
            An empty, too long or unsupported line, a voice of another engine, or an unknown variant.
        """
        line = check_line(text, language)
        voice.validate()
        if voice.engine != NAME:
            raise ValueError(f"the voice belongs to the {voice.engine!r} engine, not eSpeak NG")
        if voice.voice not in VARIANTS:
            raise ValueError(f"eSpeak NG has no voice {voice.voice!r}; pick one of {', '.join(VARIANTS)}")
        with _LOCK:
            library = _library()
            audio = library.synthesise(line, f"{LANGUAGE_CODES[language]}+{voice.voice}", pitch=voice.pitch,
                                       rate_wpm=round(BASE_RATE_WPM * float(voice.speed)))
            sample_rate = library.sample_rate
        return make_clip(audio, sample_rate)
