"""The package layers: every ``tao_automl`` import (module level or inside a function) points down or sideways.

The table below is the one in ARCHITECTURE.md. A unit is a top-level module or package of ``tao_automl``
(``multiobjective.parego``, the ParEGO scheduler, is its own unit: it builds brains, the rest of
``multiobjective`` is plain arithmetic the settings use). A module may import its own unit, a unit of its
own layer or of a lower one; and no two units may import each other, except the two front ends.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import tao_automl

PACKAGE = Path(tao_automl.__file__).parent

#: Bottom to top.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "util")),
    ("values", ("space", "multiobjective")),
    ("inputs", ("schema", "settings", "platforms")),
    ("sources", ("bank", "metrics", "llm")),
    ("search", ("brain",)),
    ("schedulers and rendering", ("multiobjective.parego", "render")),
    ("run state", ("experiment",)),
    ("run views", ("status", "report")),
    ("trackers", ("tracking",)),
    ("run", ("runner",)),
    ("exports and kits", ("export", "testing", "demo")),
    ("public API", ("automl", "__init__")),
    ("front ends", ("cli", "agentapi")),
)
#: Units in one layer that call each other: ``tao-automl mcp``/``plan`` serve agentapi, whose tools reuse the CLI's.
MUTUAL = {frozenset({"cli", "agentapi"})}

LEVEL = {unit: level for level, (_, units) in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """``tao_automl.runner.loop`` -> ``runner``; the longest unit in the table wins."""
    parts = module.split(".")[1:] or ["__init__"]
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in LEVEL:
            return name
    return parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported(path: Path) -> set[str]:
    """Every ``tao_automl`` module ``path`` imports, anywhere in the file (lazy imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names  # `from pkg import module`
                         if is_module(f"{target}.{alias.name}"))
    return {m for m in found if m == "tao_automl" or m.startswith("tao_automl.")}


def unit_edges() -> dict[tuple[str, str], list[str]]:
    """``(from unit, to unit) -> [importing modules]`` over the whole package."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target in imported(path):
            if target == "tao_automl":
                continue  # the root package is loaded before any submodule; `from tao_automl import x` gives x
            a, b = unit_of(source), unit_of(target)
            if a != b:
                edges[(a, b)].append(source)
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {p.stem if p.suffix == ".py" else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert units - set(LEVEL) == set(), "add the new package to LAYERS (and to ARCHITECTURE.md's table)"


def test_no_import_from_a_higher_layer() -> None:
    edges = unit_edges()
    assert set(LEVEL) >= {unit for pair in edges for unit in pair}
    upward = [f"{a} (layer {LEVEL[a]}) -> {b} (layer {LEVEL[b]}) in {sorted(set(mods))}"
              for (a, b), mods in sorted(edges.items()) if LEVEL[b] > LEVEL[a]]
    assert upward == [], "upward imports:\n" + "\n".join(upward)


def test_no_two_units_import_each_other() -> None:
    edges = unit_edges()
    mutual = sorted({frozenset(pair) for pair in edges if pair[::-1] in edges} - MUTUAL, key=sorted)
    assert mutual == [], f"units importing each other: {[sorted(p) for p in mutual]}"


def test_the_checker_sees_lazy_imports() -> None:
    """The parser itself: an import inside a method is found; a module maps to the longest unit."""
    sample = PACKAGE / "runner" / "loop.py"
    found = imported(sample)
    assert "tao_automl.runner.preflight" in found  # imported inside AutoMLRunner._preflight
    assert unit_of("tao_automl.multiobjective.parego") == "multiobjective.parego"
    assert unit_of("tao_automl.multiobjective.pareto") == "multiobjective"


def test_no_comment_points_to_a_document_outside_the_repo() -> None:
    """The product spec is not shipped: a docstring or comment citing its sections would point nowhere."""
    cited = [f"{p.relative_to(PACKAGE)}:{n}" for p in sorted(PACKAGE.rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if "SPEC §" in line or "SPEC.md" in line]
    assert cited == []


ARCHITECTURE = PACKAGE.parents[1] / "ARCHITECTURE.md"


def test_architecture_table_names_every_unit() -> None:
    text = ARCHITECTURE.read_text()
    table = text[text.index("| layer (bottom"):text.index("\n\n", text.index("| layer (bottom"))]
    shown = {"__init__" if u == "__init__.py" else u.removesuffix("/").removesuffix(".py").replace("/", ".")
             for u in re.findall(r"`([a-z_/]+(?:\.py|/))`", table)}
    assert set(LEVEL) - shown == set()


def test_architecture_names_only_modules_that_exist() -> None:
    """No pre-move module name (``schema_space.py``, ``bank_tools.py``...) survives in ARCHITECTURE.md."""
    repo = PACKAGE.parents[1]
    names = set(re.findall(r"`([A-Za-z_/]+\.py)`", ARCHITECTURE.read_text()))
    existing = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")]
    missing = [n for n in sorted(names) if not (repo / n).exists()
               and not any(e == n or e.endswith("/" + n) for e in existing)]
    assert missing == []
