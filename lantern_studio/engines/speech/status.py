"""What each speech engine can do on this machine, for ``launch.py doctor``."""

from __future__ import annotations

from pathlib import Path


def engine_statuses(models_dir: str | Path | None) -> list[tuple[str, bool, str]]:
    """``(topic, ready, detail)`` for the eSpeak NG floor and the Kokoro engine."""
    from lantern_studio.engines.speech.espeak import EspeakEngine
    from lantern_studio.engines.speech.kokoro import KokoroEngine

    found = []
    for topic, engine in (("voices: eSpeak NG", EspeakEngine()), ("voices: Kokoro", KokoroEngine(models_dir))):
        status = engine.available()
        found.append((topic, status.ready, status.message))
    return found
