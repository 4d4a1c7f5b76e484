"""The frame kernels' CUDA bodies compile for a real GPU target (the simulator alone cannot show that)."""

from __future__ import annotations

from lantern_testkit import run_check_script


def test_composite_transition_and_fill_cuda_kernels_compile_to_ptx():
    run_check_script("cuda_ptx_check_frames.py", "ptx ok", may_skip=True)
