"""The README's Python examples work as written."""

from __future__ import annotations

import contextlib
import io
import os
import re
import textwrap
from pathlib import Path

import pytest

import lsm

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    python_section = text[text.index("## Python") :]
    example = re.search(r"```python\n(.*?)```", python_section, re.S)
    assert example is not None
    code = example.group(1)
    assert len(code.strip().splitlines()) == 5
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == "[(b'user:2', b'grace')]\n"
    assert os.path.isdir(tmp_path / "data")


def test_readme_keyspace_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    python_section = text[text.index("## Python") : text.index("## Command line")]
    blocks = re.findall(r"```python\n(.*?)```", python_section, re.S)
    assert len(blocks) == 3
    code = textwrap.dedent(blocks[1])
    assert "db.keyspace(" in code
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"lsm": lsm})
    assert out.getvalue() == "['default', 'users', 'logs'] [b'ada', b'grace'] False\n"


def test_readme_change_feed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    python_section = text[text.index("## Python") : text.index("## Command line")]
    code = textwrap.dedent(re.findall(r"```python\n(.*?)```", python_section, re.S)[2])
    assert "db.changes(since=1)" in code and "db.watch(prefix=" in code
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"lsm": lsm})
    assert out.getvalue() == (
        "1 [('put', b'user:1')]\n"
        "2 [('delete', b'user:1')]\n"
        "[('put', b'user:2', b'grace')]\n"
    )
