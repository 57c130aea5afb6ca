"""The package map in docs/architecture.md holds: no upward import, no import circle."""

import ast
import re
from pathlib import Path

import skp

PACKAGE = Path(skp.__file__).parent
MAP = PACKAGE.parent / "docs" / "architecture.md"


def layers() -> list[list[str]]:
    """The map's layers, top first: each a list of module prefixes."""
    rows = re.findall(r"^\| (\w+) \| (skp[^|]*) \|", MAP.read_text(), flags=re.M)
    return [[name.strip() for name in modules.split(",")] for _, modules in rows]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def skp_imports(path: Path) -> set[str]:
    """Every skp module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "skp":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "skp")
    return found - {"skp"}


def graph() -> dict[str, set[str]]:
    return {module_name(path): skp_imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def place(module: str, table: list[list[str]]) -> tuple[int, str] | None:
    """(layer index, entry) of the longest map entry that prefixes `module`."""
    matches = [(i, entry) for i, layer in enumerate(table) for entry in layer if module == entry or module.startswith(entry + ".")]
    return max(matches, key=lambda m: len(m[1]), default=None)


def test_the_map_names_every_module_once():
    table = layers()
    entries = [entry for layer in table for entry in layer]
    assert len(table) >= 5 and len(entries) == len(set(entries))
    unplaced = sorted(m for m in graph() if m != "skp" and place(m, table) is None)
    assert unplaced == [], f"modules outside docs/architecture.md's map: {unplaced}"


def test_no_module_imports_from_a_layer_above_its_own():
    table = layers()
    upward = []
    for module, imported in graph().items():
        here = place(module, table)
        for target in imported:
            there = place(target, table)
            if here and there and there[0] < here[0]:
                upward.append(f"{module} ({table[here[0]][0]}...) -> {target}")
    assert upward == [], "imports against the layers of docs/architecture.md:\n" + "\n".join(upward)


def test_no_import_circle():
    edges = graph()
    modules = set(edges)

    def resolve(target: str) -> str | None:  # `from skp.x import y` may name a module or a name in it
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges = {m: {t for t in map(resolve, targets) if t and t != m} for m, targets in edges.items()}
    state, circles = {}, []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                circles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "closed"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_the_check_sees_an_upward_import(tmp_path):
    table = [["skp.top"], ["skp.low"]]
    assert place("skp.low.thing", table) == (1, "skp.low")
    assert place("skp.top.cli", [["skp.top.cli"], ["skp.top"]]) == (0, "skp.top.cli")
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from skp.top.x import y\nimport skp.low.z\n")
    assert skp_imports(source) == {"skp.top.x", "skp.low.z"}
