"""The engine's import structure: the runner imports the hooks, never the reverse, and no
module under ``rdet_apps.engine`` imports a module that imports it back."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rdet_apps.engine

ENGINE = Path(rdet_apps.engine.__file__).parent
RUNNER = "rdet_apps.engine.runner"


def _module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (the folder of ``package``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports anywhere in its file: at the top, in
    functions, under ``if TYPE_CHECKING``, and by name in strings (``importlib.import_module``).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``.
    The import of a parent package that Python performs implicitly does not count: every
    ``__init__`` that re-exports its submodules would otherwise be a cycle.
    """
    modules = _module_names(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                targets.add(node.value)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that importing ``start`` leads to through explicit imports."""
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_graph_sees_the_old_cycle(tmp_path):
    """The checker is not vacuous: the old layout (hooks.py naming the runner under
    TYPE_CHECKING, runner.py importing hooks) is a cycle."""
    pkg = tmp_path / "eng"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "hooks.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from eng.runner import Runner\n"
    )
    (pkg / "runner.py").write_text("from .hooks import Hook\n")
    (pkg / "lazy.py").write_text("import importlib\nR = importlib.import_module('eng.runner')\n")
    graph = import_graph(pkg, "eng")
    assert graph == {
        "eng": set(),
        "eng.hooks": {"eng.runner"},
        "eng.runner": {"eng.hooks"},
        "eng.lazy": {"eng.runner"},
    }
    assert find_cycle(graph) in (
        ["eng.hooks", "eng.runner", "eng.hooks"],
        ["eng.runner", "eng.hooks", "eng.runner"],
    )


def test_no_import_cycle_in_the_engine():
    graph = import_graph(ENGINE, "rdet_apps.engine")
    assert {"rdet_apps.engine.hooks.base", "rdet_apps.engine.log_buffer", RUNNER} <= set(graph)
    assert "rdet_apps.engine.hooks.base" in graph[RUNNER]  # the runner imports the hooks
    assert find_cycle(graph) is None


def test_no_hook_module_reaches_the_runner():
    graph = import_graph(ENGINE, "rdet_apps.engine")
    hook_modules = [m for m in graph if m.startswith("rdet_apps.engine.hooks")]
    assert len(hook_modules) >= 7  # __init__, base, lr, checkpoint, logger, evaluation, checks
    for module in hook_modules:
        leads_to = reachable(graph, module)
        assert RUNNER not in leads_to and "rdet_apps.engine" not in leads_to, (module, sorted(leads_to))


def test_importing_the_hooks_does_not_load_the_runner():
    """In a fresh interpreter: every hook module (and LogBuffer, and the names the engine
    package re-exports from them) imports without ``rdet_apps.engine.runner``."""
    modules = sorted(
        m for m in _module_names(ENGINE, "rdet_apps.engine") if m.startswith("rdet_apps.engine.hooks")
    )
    code = "\n".join(
        [
            "import importlib, sys",
            *(f"importlib.import_module({m!r})" for m in modules),
            "import rdet_apps.engine.log_buffer",
            "from rdet_apps.engine import CheckpointHook, EvalHook, Hook, NumClassCheckHook, TextLoggerHook",
            "from rdet_apps.registry import HOOKS",
            "assert {'CheckpointHook', 'EvalHook', 'NumClassCheckHook', 'TextLoggerHook', 'TensorboardLoggerHook'} <= set(HOOKS.keys())",
            f"print(sorted(m for m in sys.modules if m in ({RUNNER!r}, 'rdet_apps.engine.build')))",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_engine_still_offers_the_runner_lazily():
    import rdet_apps.engine as engine
    from rdet_apps.engine.runner import Runner

    assert engine.Runner is Runner and "Runner" in dir(engine)
    for name in engine.__all__:
        assert getattr(engine, name) is not None
