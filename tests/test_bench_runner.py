"""The benchmark runner: statistics, ratios, verdicts, the JSON row shape, skipped peers and history."""

from __future__ import annotations

import importlib
import json
import sys
import types

import pytest

from lantern_studio.benchmarks import runner, timing
from lantern_studio.benchmarks.chart import ratio_bars, ratio_chart

ROW_KEYS = {"family", "scenario", "metric", "value", "spread", "peers", "ratios", "roofline_fraction", "device",
            "realtime"}


def test_median_and_spread_of_synthetic_timings():
    t = timing.Timing((0.5, 0.1, 0.3, 0.2, 0.4))
    assert t.median == 0.3
    assert t.spread == (0.1, 0.5)


def test_figure_turns_seconds_into_rates():
    t = timing.Timing((2.0, 1.0, 4.0))
    value, spread = timing.figure(t, "realtime_factor", amount=180.0)      # 180 s of audio per run
    assert value == 90.0 and spread == (45.0, 180.0)
    value, spread = timing.figure(t, "fps", amount=120)
    assert value == 60.0 and spread == (30.0, 120.0)
    assert timing.figure(t, "seconds") == (2.0, (1.0, 4.0))


def test_ratios_are_oriented_so_larger_is_better_for_us():
    assert timing.ratio(1000.0, 25.0, "realtime_factor") == 40.0
    assert timing.ratio(60.0, 20.0, "fps") == 3.0
    assert timing.ratio(2.0, 10.0, "seconds") == 5.0       # we take 2 s where the peer takes 10 s
    assert timing.ratio(0.0, 10.0, "fps") is None          # a scenario that did not run has no ratio


def test_measure_warms_up_then_times_each_repeat():
    calls = []
    result = timing.measure(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and len(result.seconds) == 4
    with pytest.raises(ValueError):
        timing.measure(lambda: None, repeats=0)


def test_make_row_has_the_documented_shape():
    row = timing.make_row(family="mix", scenario="16 stereo stems x 180 s", metric="realtime_factor",
                          value=2700.0, spread=(2500.0, 2800.0), peers={"pydub": 27.0, "numpy": 900.0},
                          device="cpu", roofline_fraction=0.5, skipped={"moviepy": "not installed"})
    assert ROW_KEYS <= set(row)
    assert row["ratios"] == {"pydub": 100.0, "numpy": 3.0}
    assert row["skipped"] == {"moviepy": "not installed"}
    json.dumps(row)
    with pytest.raises(ValueError):
        timing.make_row(family="x", scenario="y", metric="furlongs", value=1, spread=(1, 1), peers={}, device="cpu")


@pytest.mark.parametrize("row, expected", [
    ({"metric": "realtime_factor", "value": 1900.0}, "1,900× real time — real time with 1,900× headroom"),
    ({"metric": "realtime_factor", "value": 0.5}, "NOT real time"),
    ({"metric": "fps", "value": 72.0}, "real time at 24 fps with 3.0× headroom"),
    ({"metric": "fps", "value": 12.0}, "NOT real time"),
    ({"metric": "realtime_factor", "value": 0.0}, "did not run"),
])
def test_verdicts(row, expected):
    assert expected in runner.verdict(row)


def test_unknown_family_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose from"):
        runner.parse_only("mix,warp-drive")
    assert runner.parse_only("mix, composite") == ("mix", "composite")


def _fake_family(name, run):
    module = types.ModuleType(f"lantern_studio.benchmarks.bench_{name}")
    module.run = run
    sys.modules[module.__name__] = module
    return module


def test_a_missing_peer_is_reported_as_skipped_not_failed(monkeypatch):
    def run(*, quick, device="auto", progress=None):
        try:
            importlib.import_module("a_peer_nobody_installed")
            peers, skipped = {"peer": 1.0}, {}
        except ImportError:
            peers, skipped = {}, {"a_peer_nobody_installed": "not installed"}
        return [timing.make_row(family="fake", scenario="s", metric="fps", value=30.0, spread=(29, 31), peers=peers,
                                device="cpu", skipped=skipped)]

    _fake_family("fake", run)
    try:
        rows = runner.run_families(["fake"], quick=True)
    finally:
        del sys.modules["lantern_studio.benchmarks.bench_fake"]
    assert rows[0]["skipped"] == {"a_peer_nobody_installed": "not installed"}
    assert "error" not in rows[0] and rows[0]["realtime"] is True
    assert "skipped" in runner.table_rows(rows)[0][3]


def test_a_broken_family_does_not_hide_the_others():
    def broken(*, quick, device="auto", progress=None):
        raise RuntimeError("out of cheese")

    def fine(*, quick, device="auto", progress=None):
        return [timing.make_row(family="fine", scenario="s", metric="realtime_factor", value=5.0, spread=(4, 6),
                                peers={"p": 2.5}, device="cpu")]

    _fake_family("broken", broken)
    _fake_family("fine", fine)
    seen = []
    try:
        rows = runner.run_families(["broken", "fine"], quick=True, progress=lambda f, m: seen.append(f))
    finally:
        del sys.modules["lantern_studio.benchmarks.bench_broken"], sys.modules["lantern_studio.benchmarks.bench_fine"]
    assert "out of cheese" in rows[0]["error"]
    assert rows[1]["ratios"] == {"p": 2.0}
    assert seen == sorted(seen) and seen[-1] == 1.0
    text = runner.format_table(rows, runner.machine_info())
    assert "failed" in text and "machine:" in text


def test_history_appends_and_survives_a_torn_line(tmp_path):
    path = tmp_path / "history.jsonl"
    row = timing.make_row(family="f", scenario="s", metric="fps", value=30, spread=(30, 30), peers={}, device="cpu")
    runner.append_history(path, [row], {"cpu": "x"}, quick=True)
    with open(path, "a") as stream:
        stream.write('{"time": "torn')            # a run killed mid-write
    runner.append_history(path, [row], {"cpu": "x"}, quick=False)
    runs = runner.read_history(path)
    assert [r["quick"] for r in runs] == [True, False]


def test_chart_draws_one_bar_per_peer_ratio():
    rows = [timing.make_row(family="mix", scenario="16 stems", metric="realtime_factor", value=2700.0,
                            spread=(1, 1), peers={"pydub": 27.0, "numpy": 900.0}, device="cpu")]
    assert [label for label, _ in ratio_bars(rows)] == ["16 stems vs pydub", "16 stems vs numpy"]
    image = ratio_chart(rows)
    assert image.size[0] == 1100 and image.size[1] > 100
    # the bars are drawn in the "faster" colour, so that colour is present
    assert (214, 69, 65) in {c for _, c in image.getcolors(maxcolors=1 << 20)}


@pytest.mark.parametrize("family", runner.FAMILIES)
def test_each_family_produces_well_formed_rows_at_quick_size(family):
    try:
        module = importlib.import_module(f"lantern_studio.benchmarks.bench_{family}")
    except ModuleNotFoundError:
        pytest.skip(f"benchmarks/bench_{family}.py is not written yet")
    rows = module.run(quick=True, device="cpu")
    assert rows, "a family must produce at least one row"
    for row in rows:
        assert ROW_KEYS <= set(row), set(row) ^ ROW_KEYS
        assert row["family"] == family
        assert row["metric"] in timing.METRICS
        assert row["value"] > 0 and row["spread"][0] <= row["spread"][1]
        assert set(row["ratios"]) == set(row["peers"])
        json.dumps(row)
