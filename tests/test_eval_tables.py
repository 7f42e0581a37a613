"""What `eval` prints as tables, for every field kind, with figures worked out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_relations import BROKEN, FOILED, KYIV, V2, claim, pair  # noqa: E402

from annotator.cli import evaluate as cli_evaluate  # noqa: E402
from annotator.evaluate.compare import evaluate  # noqa: E402


def printed_rows(text: str) -> list[list[str]]:
    """The cells of each table row rich printed (split on its vertical bars)."""
    return [[cell.strip() for cell in line.strip("│┃ ").split("│") if cell.strip()]
            for line in text.splitlines() if "│" in line]


def test_eval_table_prints_relation_precision_recall_and_f1(capsys) -> None:
    pairs = [pair([claim(KYIV, BROKEN), claim("Moscow", FOILED)], [claim("Moscow", FOILED), claim(KYIV, BROKEN)]),
             pair([claim("Moscow", FOILED), claim("Moscow", BROKEN)],
                  [claim("Moscow", FOILED), claim("Moscow", BROKEN, "denies"), claim(KYIV, BROKEN)])]
    (group,) = evaluate(V2.fields, pairs)["groups"]
    cli_evaluate._print_group(group)
    text = capsys.readouterr().out
    assert "claims (relations)" in text
    rows = printed_rows(text)
    # exact: TP 3, FP 1, FN 2 -> P 3/4, R 3/5, F1 2/3; both ends whatever the label: TP 4, FP 0, FN 1 -> F1 8/9
    assert ["(all)", "3", "1", "2", "0.750", "0.600", "0.667"] in rows
    assert ["(both ends, any label)", "4", "0", "1", "1.000", "0.800", "0.889"] in rows
    assert ["claims", "3", "1", "1", "0.750", "0.750", "0.750"] in rows
    assert ["denies", "0", "0", "1", "0.000", "0.000", "0.000"] in rows
