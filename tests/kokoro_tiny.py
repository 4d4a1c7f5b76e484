"""A tiny Kokoro-shaped ONNX graph and voices file, so the neural engine's real loading code runs in tests.

The graph has Kokoro v1.0's inputs and output (``tokens`` int64 ``(1, T)``, ``style`` float32 ``(1, 256)``,
``speed`` float32 ``(1,)`` -> ``audio`` float32 ``(n,)``): it sings a sine for 0.1 s per token, divided by
the speed, at a pitch set by the mean of the style vector, so a voice's pitch and a line's length can be
measured from what it returns.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

SAMPLE_RATE = 24_000
SECONDS_PER_TOKEN = 0.1


def style_for_pitch(pitch_hz: float) -> np.ndarray:
    """A voice table ``(510, 1, 256)`` whose style makes the tiny graph sing at ``pitch_hz`` (80..400 Hz)."""
    fraction = (pitch_hz - 80.0) / 320.0
    mean = math.log(fraction / (1 - fraction))
    return np.full((510, 1, 256), mean, np.float32)


def build_tiny_kokoro(folder: Path, voices: dict[str, float], *, graph_name: str = "kokoro-v1.0.onnx",
                      voices_name: str = "voices-v1.0.bin") -> tuple[Path, Path]:
    """Write the graph and a voices file (name -> pitch in Hz) into ``folder``; returns their paths."""
    import onnx
    from onnx import TensorProto, helper

    def const(name, value, dtype=np.float32):
        return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(np.asarray(value, dtype), name))

    nodes = [
        const("one_idx", 1, np.int64), const("per_token", SECONDS_PER_TOKEN * SAMPLE_RATE),
        const("zero", 0.0), const("step", 1.0), const("lo_hz", 80.0), const("span_hz", 320.0),
        const("omega", 2 * math.pi / SAMPLE_RATE), const("amp", 0.3),
        helper.make_node("Shape", ["tokens"], ["shape"]),
        helper.make_node("Gather", ["shape", "one_idx"], ["count"], axis=0),
        helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["count_f", "per_token"], ["samples_1"]),
        helper.make_node("ReduceSum", ["speed"], ["speed_s"], keepdims=0),
        helper.make_node("Div", ["samples_1", "speed_s"], ["samples"]),
        helper.make_node("Range", ["zero", "samples", "step"], ["t"]),
        helper.make_node("ReduceMean", ["style"], ["style_mean"], keepdims=0),
        helper.make_node("Sigmoid", ["style_mean"], ["squash"]),
        helper.make_node("Mul", ["squash", "span_hz"], ["rise_hz"]),
        helper.make_node("Add", ["rise_hz", "lo_hz"], ["pitch_hz"]),
        helper.make_node("Mul", ["pitch_hz", "omega"], ["rate"]),
        helper.make_node("Mul", ["t", "rate"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Mul", ["wave", "amp"], ["audio"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny-kokoro",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, "T"]),
         helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 256]),
         helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["n"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    graph_path, voices_path = folder / graph_name, folder / voices_name
    onnx.save(model, str(graph_path))
    with open(voices_path, "wb") as handle:
        np.savez(handle, **{name: style_for_pitch(hz) for name, hz in voices.items()})
    return graph_path, voices_path
