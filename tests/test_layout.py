"""The maps of the code stay true: every module is listed, and every module listed exists.

Each package's `__init__.py` lists its modules and subpackages, one line each; the
README's "How the code is laid out" lists every module under its package.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "annotator"
ENTRY = re.compile(r"^( *)(\w+\.py|\w+/)(?:\s|$)")
"""A map's line: its indentation, then a module (`x.py`) or a folder (`x/`)."""


def packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.rglob("__init__.py") if "__pycache__" not in p.parts)


def members(package: Path) -> set[str]:
    """A package's modules (`x.py`) and subpackages (`x/`), as its map names them."""
    modules = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    return modules | {p.name + "/" for p in package.iterdir() if (p / "__init__.py").is_file()}


def named(text: str) -> set[str]:
    """The module and package names a map lists: `x.py` and `x/` at the start of its lines."""
    return {m.group(2) for line in text.splitlines() if (m := ENTRY.match(line.strip()))}


def readme_tree() -> dict[str, set[str]]:
    """The README's module list: package path (relative to annotator/, "" for the top) -> the names under it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## How the code is laid out"):]
    block = section[section.index("```text"):]
    block = block[:block.index("```", 3)]
    tree: dict[str, set[str]] = {}
    parents: list[tuple[int, str]] = []
    for line in block.splitlines()[2:]:  # after the fence and "annotator/"
        m = ENTRY.match(line)
        if not m:
            continue
        depth, name = len(m.group(1)), m.group(2)
        while parents and parents[-1][0] >= depth:
            parents.pop()
        tree.setdefault("/".join(p for _, p in parents), set()).add(name)
        if name.endswith("/"):
            parents.append((depth, name.rstrip("/")))
    return tree


def test_every_package_docstring_lists_its_modules_and_nothing_else() -> None:
    for package in packages():
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
        listed = {n for n in named(doc) if n.endswith((".py", "/"))}
        there = members(package)
        where = package.relative_to(ROOT)
        assert there - listed == set(), f"{where}/__init__.py does not list {sorted(there - listed)}"
        missing = {n for n in listed - there if not (package / n).exists()}
        assert missing == set(), f"{where}/__init__.py lists {sorted(missing)}, which do not exist"


def test_the_readme_lists_every_module_under_its_package() -> None:
    tree = readme_tree()
    for package in packages():
        key = "" if package == PACKAGE else package.relative_to(PACKAGE).as_posix()
        listed = tree.get(key, set())
        there = members(package)
        assert there - listed == set(), f"README's layout lacks {sorted(there - listed)} under {key or 'annotator'}/"
        assert listed - there == set(), f"README's layout lists {sorted(listed - there)} under {key or 'annotator'}/"


def test_docstrings_name_only_files_that_exist() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        for name in re.findall(r"`([\w/]+\.py)`", doc):
            candidates = [path.parent / name, PACKAGE / name, ROOT / name]
            assert any(c.exists() for c in candidates), f"{path.relative_to(ROOT)} names {name}, which does not exist"
