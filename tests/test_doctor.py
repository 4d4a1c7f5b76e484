"""The doctor reports what is really on this machine."""

from __future__ import annotations

import subprocess
import sys

import numba
import torch

from lantern_studio.engines.doctor import collect, format_report
from lantern_studio.engines.settings import Settings


def test_doctor_findings_match_the_environment(tmp_path):
    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path)})
    (tmp_path / "models" / "musicgen-small").mkdir(parents=True)
    findings = {f.topic: f for f in collect(settings)}
    assert torch.__version__ in findings["torch"].detail
    assert numba.__version__ in findings["numba"].detail
    model_finding = findings[f"models in {tmp_path / 'models'}"]
    assert model_finding.ok and "musicgen-small" in model_finding.detail
    report = format_report(list(findings.values()))
    assert "CJK font" in report and "ffmpeg" in report


def test_doctor_lists_the_gguf_models_it_would_refine_prose_with(tmp_path):
    from gguf_testkit import write_tiny_llama_gguf

    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path)})
    assert not {f.topic: f for f in collect(settings)}["prose LLM"].ok
    (tmp_path / "models" / "qwen").mkdir(parents=True)
    write_tiny_llama_gguf(tmp_path / "models" / "qwen" / "tiny-q8.gguf")
    (tmp_path / "models" / "qwen" / "notes.gguf").write_bytes(b"not a model")
    finding = {f.topic: f for f in collect(settings)}["prose LLM"]
    assert finding.ok and "qwen/tiny-q8.gguf" in finding.detail and "notes" not in finding.detail
    assert "transformers" in finding.detail or "llama-cpp" in finding.detail


def test_doctor_command_prints_the_report(tmp_path):
    from launch import ROOT

    env = {"LANTERN_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), "doctor"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "torch" in result.stdout and torch.__version__ in result.stdout
