"""Atomic writes: all or nothing under the final name, with ordinary file permissions."""

from __future__ import annotations

import os

import pytest

from lantern_studio.engines.atomic import atomic_output_path, atomic_write_json, atomic_write_text, is_partial


def test_written_file_appears_whole_with_the_umask_mode(tmp_path):
    target = atomic_write_text(tmp_path / "sub" / "a.txt", "héllo 灯")
    assert target.read_text(encoding="utf-8") == "héllo 灯"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_a_failed_write_leaves_the_earlier_file_and_no_partial(tmp_path):
    target = atomic_write_json(tmp_path / "p.json", {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_output_path(target) as temp:
            temp.write_text("{half")
            assert is_partial(temp) and temp.suffix == ".json"
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]
