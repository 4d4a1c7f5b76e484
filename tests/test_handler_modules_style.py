"""House style of the tabs that are lists of handlers: no function over 80 lines (an AST count, decorators
included), and every event handler of the Music tab is a module-level function (``build_tab`` binds them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lantern_studio

PACKAGE = Path(lantern_studio.__file__).parent
MODULES = ["studio/tab_music.py", "studio/tab_mixer.py", "studio/tab_benchmarks.py", "studio/tab_system.py",
           "studio/ab_player.py", "studio/app.py", "studio/context.py", "studio/job_progress.py",
           "engines/music/generate_take.py", "engines/music/takes.py"]
LIMIT = 80


def long_functions(source: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if node.end_lineno - first + 1 > LIMIT:
                found.append((node.name, node.end_lineno - first + 1))
    return found


def test_the_counter_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    assert long_functions(f"def short():\n    return 1\n\ndef long():\n{body}\n") == [("long", LIMIT + 1)]


@pytest.mark.parametrize("module", MODULES)
def test_no_function_is_over_the_limit(module):
    assert long_functions((PACKAGE / module).read_text(encoding="utf-8")) == []


def test_the_music_tab_defines_no_handler_inside_build_tab():
    tree = ast.parse((PACKAGE / "studio/tab_music.py").read_text(encoding="utf-8"))
    build = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_tab")
    nested = [getattr(n, "name", "<lambda>") for n in ast.walk(build) if isinstance(n, (ast.FunctionDef, ast.Lambda)) and n is not build]
    assert nested == []
