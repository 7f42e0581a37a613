"""A broken schema is one `Error:` line naming the file and the cause, never a traceback."""

from __future__ import annotations

import pytest

from tests.support.cli import run


@pytest.mark.parametrize("source, says", [
    ("from pydantic import BaseModel\nclass A(BaseModel)\n    x: int\n",
     "failed to load (SyntaxError at line 2: expected ':'); fix the file"),
    ("import not_a_module_anywhere\n", "failed to load (ModuleNotFoundError: No module named "
                                        "'not_a_module_anywhere'); fix the file"),
    ("raise RuntimeError('boom')\n", "failed to load (RuntimeError: boom); fix the file"),
])
def test_a_schema_file_that_does_not_load(tmp_path, source: str, says: str) -> None:
    path = tmp_path / "mine.py"
    path.write_text(source)
    result = run("schema", "show", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip() == f"Error: schema file {path} {says}"


def test_a_module_without_the_named_model(monkeypatch, tmp_path) -> None:
    (tmp_path / "my_schemas.py").write_text("from pydantic import BaseModel\nclass A(BaseModel):\n    x: int\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run("schema", "show", "my_schemas:Missing")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: schema module 'my_schemas' has no 'Missing'; check the name after "
                                     "the colon")
    ok = run("schema", "show", "my_schemas:A")
    assert ok.exit_code == 0 and '"x"' in ok.output
