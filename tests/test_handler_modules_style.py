"""House style: no function over 80 lines (an AST count, decorators included, its docstring not counted) in any
module of the package (found by a glob, so a new module is covered as it lands), and every event handler of the
Music tab and the project bar is a module-level function (their builders only lay out and bind them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lantern_studio

PACKAGE = Path(lantern_studio.__file__).parent
STUDIO = sorted(path.relative_to(PACKAGE).as_posix() for path in (PACKAGE / "studio").glob("*.py"))
MODULES = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))
# builders that only lay out and wire: no handler (def or lambda) is defined inside them
BUILDERS = [("studio/tab_music.py", "build_tab"), ("studio/project_bar.py", "build_project_bar"),
            ("studio/project_bar.py", "_layout"), ("studio/project_bar.py", "_wire")]
LIMIT = 80


def long_functions(source: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - first + 1 - _docstring_lines(node)
            if length > LIMIT:
                found.append((node.name, length))
    return found


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of the function's docstring: documentation of parameters is not logic to split."""
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno - first.lineno + 1
    return 0


def test_the_counter_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    assert long_functions(f"def short():\n    return 1\n\ndef long():\n{body}\n") == [("long", LIMIT + 1)]
    documented = f'def long():\n    """One.\n\n    Two.\n    """\n{body}\n'
    assert long_functions(documented) == [("long", LIMIT + 1)]
    assert long_functions(documented.replace("    x0 = 0\n", "")) == []


@pytest.mark.parametrize("module", MODULES)
def test_no_function_is_over_the_limit(module):
    assert long_functions((PACKAGE / module).read_text(encoding="utf-8")) == []


def test_the_glob_finds_every_studio_module():
    # the modules the studio is built from must all be in the list, or the limit is not checked on them
    for module in ("studio/app.py", "studio/project_bar.py", "studio/tab_music.py", "studio/tab_storyboard.py",
                   "studio/messages.py", "engines/story/animatic.py", "kernels/mix.py", "benchmarks/runner.py"):
        assert module in MODULES
    assert len(STUDIO) > 10


def nested_functions(source: str, name: str) -> list[str]:
    tree = ast.parse(source)
    build = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return [getattr(n, "name", "<lambda>") for n in ast.walk(build)
            if isinstance(n, (ast.FunctionDef, ast.Lambda)) and n is not build]


def test_the_nested_check_sees_a_closure():
    assert nested_functions("def build():\n    def do_x():\n        pass\n    f = lambda: 1\n", "build") == \
        ["do_x", "<lambda>"]


@pytest.mark.parametrize("module, function", BUILDERS)
def test_a_builder_defines_no_handler_inside_it(module, function):
    assert nested_functions((PACKAGE / module).read_text(encoding="utf-8"), function) == []
