"""The LLM edge is one package: its public names come from `annotator.llm`, the command line loads no HTTP client."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import annotator.llm as llm


@pytest.mark.parametrize("name", llm.__all__)
def test_each_public_name_is_its_home_modules_own(name: str) -> None:
    home = importlib.import_module(f"annotator.llm.{llm._HOME[name]}")
    assert getattr(llm, name) is getattr(home, name)


def test_all_and_the_homes_name_the_same_things() -> None:
    assert sorted(llm.__all__) == sorted(llm._HOME)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        llm.Nothing  # noqa: B018


def test_the_command_line_loads_the_modes_without_the_client() -> None:
    code = ("import sys, annotator.cli; from annotator.llm import MODES; "
            "print(' '.join(sorted(m for m in sys.modules if m == 'openai' or m.startswith('annotator.llm'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(done.stdout.split()) == {"annotator.llm", "annotator.llm.modes"}, done.stdout
