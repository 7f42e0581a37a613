"""Where an export goes: a dataset folder only replaces what export wrote; symlinks, devices, FIFOs and `-`.

Everything runs on the real file system. Devices are real character devices: as root, the
test makes its own null and full nodes (the kernel's 1:3 and 1:7) in a temporary folder, so a
regression replaces those and never the machine's /dev/null; without root it writes to /dev,
which a regression could not replace anyway.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from annotator.errors import AnnotatorError, InputError
from annotator.export import export
from annotator.store import open_db
from tests.support.gold_db import NEWS, build_news

TEXT_FORMATS = ("jsonl", "conll", "labelstudio")


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "annotator.db")
    build_news(database)
    return database


def plain_export(db, tmp_path: Path, fmt: str) -> bytes:
    """The bytes an export to a new regular file writes, to compare other targets with."""
    path = tmp_path / f"plain.{fmt}"
    export(db, NEWS, fmt, path)
    return path.read_bytes()


def assert_char_device(path: str) -> None:
    assert stat.S_ISCHR(os.stat(path).st_mode), f"{path} is no longer a character device"


# --------------------------------------------------------------------------- hf: a folder export did not write


@pytest.mark.parametrize("name", ["state.json", "dataset_info.json", "dataset_dict.json"])
def test_hf_refuses_a_folder_with_a_dataset_file_name_and_other_files(db, tmp_path, name) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / name).write_text("{}")
    (folder / "thesis.tex").write_text("four years of work")
    with pytest.raises(InputError, match="did not write"):
        export(db, NEWS, "hf", folder)
    assert (folder / "thesis.tex").read_text() == "four years of work"
    assert sorted(p.name for p in folder.iterdir()) == sorted([name, "thesis.tex"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".work")]


def test_hf_replaces_its_own_dataset_but_never_a_file_added_to_it(db, tmp_path) -> None:
    import datasets

    folder = tmp_path / "ds"
    export(db, NEWS, "hf", folder)  # missing: fine
    first = sorted(p.name for p in folder.iterdir())
    assert ".annotator-export.json" in first and "state.json" in first
    export(db, NEWS, "hf", folder)  # its own: replaced
    assert sorted(p.name for p in folder.iterdir()) == first
    assert len(datasets.load_from_disk(str(folder))) == 4
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="notes.txt"):
        export(db, NEWS, "hf", folder)
    assert (folder / "notes.txt").read_text() == "mine" and len(datasets.load_from_disk(str(folder))) == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    export(db, NEWS, "hf", empty)  # empty: fine
    assert len(datasets.load_from_disk(str(empty))) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_hf_writes_through_a_symlink_to_its_folder(db, tmp_path) -> None:
    import datasets

    (tmp_path / "real").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real", target_is_directory=True)
    export(db, NEWS, "hf", link)
    export(db, NEWS, "hf", link)
    assert link.is_symlink() and len(datasets.load_from_disk(str(tmp_path / "real"))) == 4
    with pytest.raises(InputError, match="folder"):
        export(db, NEWS, "hf", "-")


# --------------------------------------------------------------------------- symlinks, devices, FIFOs, `-`


@pytest.mark.parametrize("fmt", [*TEXT_FORMATS, "spacy"])
def test_export_writes_through_a_symlink_to_its_target(db, tmp_path, fmt) -> None:
    expected = plain_export(db, tmp_path, fmt)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / f"gold.{fmt}"
    target.write_bytes(b"old content")
    link = tmp_path / f"link.{fmt}"
    link.symlink_to(target)
    export(db, NEWS, fmt, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == expected
    dangling = tmp_path / f"dangling.{fmt}"
    dangling.symlink_to(elsewhere / f"new.{fmt}")
    export(db, NEWS, fmt, dangling)
    assert dangling.is_symlink() and (elsewhere / f"new.{fmt}").read_bytes() == expected
    assert sorted(p.name for p in elsewhere.iterdir()) == [f"gold.{fmt}", f"new.{fmt}"]  # no temporary file left


@pytest.mark.parametrize("fmt", [*TEXT_FORMATS, "spacy"])
def test_export_to_a_fifo_streams_into_it(db, tmp_path, fmt) -> None:
    expected = plain_export(db, tmp_path, fmt)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    try:
        export(db, NEWS, fmt, fifo)
    finally:
        if reader.is_alive():  # the export failed before opening the FIFO: let the reader go
            with open(fifo, "wb"):
                pass
        reader.join(timeout=30)
    assert received == [expected]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.fixture
def devices(tmp_path) -> dict[str, str]:
    """Paths of a null and a full character device: nodes of the test's own as root, else /dev's."""
    made = {}
    for name, minor in (("null", 3), ("full", 7)):
        node = tmp_path / "dev" / name
        node.parent.mkdir(exist_ok=True)
        try:
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
            made[name] = str(node)
        except PermissionError:
            made[name] = f"/dev/{name}"
    return made


@pytest.mark.parametrize("fmt", [*TEXT_FORMATS, "spacy"])
def test_export_to_dev_null_keeps_the_device(db, fmt, devices) -> None:
    try:
        report = export(db, NEWS, fmt, devices["null"])
        assert report.sentences == 4
    finally:
        assert_char_device(devices["null"])


@pytest.mark.process
def test_export_to_dev_full_is_one_error_line_and_keeps_the_device(db, tmp_path, devices) -> None:
    try:
        for fmt in (*TEXT_FORMATS, "spacy"):
            with pytest.raises(AnnotatorError, match="No space left on device"):
                export(db, NEWS, fmt, devices["full"])
        result = subprocess.run([sys.executable, "-m", "annotator", "export", "--format", "jsonl", "--out",
                                 devices["full"], "--db", str(tmp_path / "annotator.db")],
                                capture_output=True, text=True, timeout=120)
    finally:
        assert_char_device(devices["full"])
        assert_char_device(devices["null"])
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.process
@pytest.mark.parametrize("fmt", ["jsonl", "spacy"])
def test_export_to_dash_writes_standard_output_and_the_report_to_stderr(db, tmp_path, fmt) -> None:
    expected = plain_export(db, tmp_path, fmt)
    args = [sys.executable, "-m", "annotator", "export", "--format", fmt, "--out", "-",
            "--db", str(tmp_path / "annotator.db")]
    result = subprocess.run(args, capture_output=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
    assert b"Wrote 4 sentences" in result.stderr
    result = subprocess.run([*args, "--json"], capture_output=True, timeout=120, cwd=tmp_path)
    assert result.stdout == expected and json.loads(result.stderr.decode().strip().splitlines()[-1])["sentences"] == 4
    assert not (tmp_path / "-").exists()
