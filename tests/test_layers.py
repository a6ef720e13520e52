"""The house rules of the tree, checked on its source (see ARCHITECTURE.md):

* No module reads another module's private attributes: ``obj._name`` is allowed on ``self``
  and ``cls``, and on objects of the module's own classes; parts of socketeer talk through
  their declared seams (``EngineHandler``, ``NamespacePort``, the public methods named in
  each class's docstring) instead. A few reaches into the standard library are deliberate and
  listed below with their reason.
* Layers point down: the Sans-I/O core (``engineio/``, ``socketio/``) imports nothing from
  the I/O layer, the APIs or the adapters; the adapters use the server's types for typing only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "socketeer"

#: (module, name bound to a standard-library module): why reaching inside it is right.
STDLIB_REACHES = {
    ("_calls.py", "_tasks"): "3.11's eager task start is built on asyncio's pure-Python Task",
    ("_calls.py", "_futures"): "the same: the pure-Python Future's constructor",
    ("io/websocket.py", "zlib"): "zlib's compressor types are only reachable so, for typing",
}

CORE = ("engineio", "socketio")
#: What the core may import of socketeer, besides itself.
CORE_MAY_USE = {"exceptions", "limits", "_json"}


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def own_members(tree: ast.Module) -> set[str]:
    """Every private name the module defines: its functions, classes, their methods and
    class attributes, slots, and attributes assigned on ``self`` or any object."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__"
                                                  for t in node.targets):
            names.update(c.value for c in ast.walk(node.value)
                         if isinstance(c, ast.Constant) and isinstance(c.value, str))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def private_reaches(path: Path, root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(root).as_posix()
    mine = own_members(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or (attr.startswith("__") and attr.endswith("__")):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            continue
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
            continue
        if isinstance(base, ast.Name) and (rel, base.id) in STDLIB_REACHES:
            continue
        if attr in mine:
            continue  # an object of this module's own classes
        found.append(f"{rel}:{node.lineno}: {ast.unparse(base)}.{attr}")
    return found


def test_no_module_reads_another_modules_private_attributes() -> None:
    reaches = [r for path in modules() for r in private_reaches(path)]
    assert reaches == [], "private attributes read across modules:\n" + "\n".join(reaches)


def test_the_check_sees_a_private_reach(tmp_path: Path) -> None:
    """The checker itself: another module's private attribute is reported, its own are not."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "class A:\n    __slots__ = ('_x',)\n    def f(self, other, server):\n"
        "        return self._x, other._x, server._nsps\n"
    )
    assert private_reaches(sample, tmp_path) == ["sample.py:4: server._nsps"]


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """``(socketeer module it imports, only for typing)`` for each import in ``path``."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(SRC).parent.parts
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package[: len(package) - node.level + 1])
            target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            for alias in node.names:
                name = f"{target}.{alias.name}".strip(".") if not node.module else target
                found.append((name, id(node) in typing_only))
        elif isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found.extend((name.removeprefix("socketeer").strip("."), id(node) in typing_only)
                         for name in names if name.startswith("socketeer"))
    return found


@pytest.mark.parametrize("layer", CORE)
def test_the_sans_io_core_imports_nothing_above_it(layer: str) -> None:
    wrong = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for target, _ in imports_of(path):
            top = target.split(".")[0]
            if top not in CORE and top not in CORE_MAY_USE:
                wrong.append(f"{path.relative_to(SRC)} imports {target}")
    assert wrong == []


def test_adapters_use_the_server_for_typing_only() -> None:
    wrong = [f"{path.relative_to(SRC)} imports {target}"
             for path in sorted((SRC / "adapters").rglob("*.py"))
             for target, typing_only in imports_of(path)
             if target.split(".")[0] in ("server", "io", "client") and not typing_only]
    assert wrong == []


def test_the_io_layer_uses_no_api() -> None:
    """The front ends and the engine serve any ``Servable``; they import neither the server's
    API nor the client's nor the adapters (the API uses the front ends, not the reverse)."""
    wrong = [f"{path.relative_to(SRC)} imports {target}"
             for path in sorted((SRC / "io").rglob("*.py"))
             for target, typing_only in imports_of(path)
             if target.split(".")[0] in ("server", "client", "adapters") and not typing_only]
    assert wrong == []
