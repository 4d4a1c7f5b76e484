"""Benchmark family "speech": seconds of speech made per second of work, per engine.

Scenario: every dialogue line of the sample drama 《年夜饭》 (Mandarin, three characters with distinct
voices), spoken one line at a time as the animatic does, with no cache. The goal for the eSpeak NG
floor is at least 20x real time on the 2-core development machine. The Kokoro row runs when its model
files are in the models folder (``LANTERN_MODELS_DIR``, else ``~/LanternStudio/models``), else it is listed
under ``skipped`` with the files it needs.

No peer: no other offline text-to-speech is installed with the studio.

Run standalone: ``python -m lantern_studio.benchmarks.bench_speech [--quick]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from lantern_studio.benchmarks.timing import figure, make_row, measure
from lantern_studio.engines.jobs import no_progress

GOAL_REALTIME = 20.0
SCRIPT = """第一场 内景 奶奶家厨房 夜
奶奶：谁呀？门没锁。
小雨：奶奶，是我！
奶奶：（惊喜）哎呀，我的乖孙女！
小雨：（笑）奶奶，我的新大衣！
奶奶：面粉是福气，过年沾福气！
爸爸：（举杯）来，祝咱们家小雨明年生意兴隆！
小雨：我现在是一人公司，老板是我，员工也是我。
奶奶：那你给自己发年终奖没有？
"""


def _board():
    from lantern_studio.engines.story.script import parse_script
    from lantern_studio.engines.story.shots import plan_shots

    return plan_shots(parse_script(SCRIPT))


def _models_dir() -> Path:
    return Path(os.environ.get("LANTERN_MODELS_DIR") or Path.home() / "LanternStudio" / "models").expanduser()


def _row(engine_name: str, board, repeats: int, skipped: dict) -> dict:
    from lantern_studio.engines.story.voices import speak_lines

    spoken = speak_lines(board, models_dir=_models_dir())
    speech_s = sum(clip.duration_s for clip in spoken.clips.values())
    timing = measure(lambda: speak_lines(board, models_dir=_models_dir()), repeats=repeats, warmup=0)
    value, spread = figure(timing, "realtime_factor", amount=speech_s)
    return make_row(family="speech",
                    scenario=(f"{engine_name}: {len(spoken.clips)} Mandarin lines, {speech_s:.1f} s of speech, "
                              f"one line at a time, no cache (goal >= {GOAL_REALTIME:.0f}x real time)"),
                    metric="realtime_factor", value=value, spread=spread, peers={}, device="cpu",
                    skipped=skipped, realtime=value >= (GOAL_REALTIME if engine_name.startswith("eSpeak") else 1.0))


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Benchmark rows for the speech engines. ``device`` is ignored: both run on the CPU."""
    from lantern_studio.engines.speech.kokoro import KokoroEngine

    repeats = 3 if quick else 7
    report = progress or no_progress
    board = _board()
    report(0.0, "eSpeak NG floor")
    no_peer = {"peers": "no other offline text-to-speech is installed with the studio"}
    rows = [_row("eSpeak NG (espeakng-loader, ctypes)", board, repeats, no_peer)]
    status = KokoroEngine(_models_dir()).available()
    if status.ready:
        report(0.5, "Kokoro")
        for character in board.characters.values():
            character.voice_engine, character.voice_pitch, character.voice_speed = "kokoro", 50, 1.0
        voices = KokoroEngine(_models_dir()).voices("zh")
        for index, character in enumerate(board.characters.values()):
            character.voice_name = voices[index % len(voices)]
        rows.append(_row("Kokoro (kokoro-onnx, CPU)", board, max(1, repeats // 3), no_peer))
    else:
        rows[0].setdefault("skipped", {})["Kokoro"] = status.message
    report(1.0, "done")
    return rows


def main(argv=None) -> int:
    from lantern_studio.benchmarks.runner import run_standalone

    rows = run_standalone(run, __doc__, quick_help="3 repeats instead of 7", argv=argv)
    for row in rows:
        print(f"{row['scenario']}: {row['value']:.1f}x real time (min {row['spread'][0]:.1f}, "
              f"max {row['spread'][1]:.1f}); goal met: {row['realtime']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
