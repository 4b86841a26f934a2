"""What a corpus holds never drives the terminal: file names, ids, errors and document text
that reach stdout or stderr show their control characters as escapes."""
from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from curate import cli
from curate.console import format_table, terminal_safe

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
EVIL = "\x1b[2J\x1b]0;owned\x07\r\u202eexe.txt\x9b31m"


@given(st.text())
def test_no_terminal_control_survives_and_everything_else_is_kept(s):
    out = terminal_safe(s)
    assert not UNSAFE.search(out)
    if not UNSAFE.search(s):
        assert out == s


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_a_table_cell_is_one_safe_line(cells):
    table = format_table([f"c{i}" for i in range(len(cells))], [cells])
    assert len(table.split("\n")) == 3
    assert not UNSAFE.search(table)


def test_commands_print_a_hostile_corpus_as_escapes(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    name = f"a{EVIL}.jsonl".replace("/", "")
    (folder / name).write_text(
        json.dumps({"text": f"hello {EVIL} world", "id": f"x{EVIL}"}) + "\n" + json.dumps({"text": 5}) + "\n"
        + f"not json {EVIL}\n"
    )
    db = str(tmp_path / "s.duckdb")
    outputs = []
    for argv in (["ingest", str(folder), "--id-field", "id"], ["quarantine"], ["runs"], ["score"],
                 ["explain", f"x{EVIL}"], ["explain", f"missing{EVIL}"]):
        cli.main([*argv, "--db", db])
        outputs.append(capsys.readouterr())
    printed = "".join(o.out + o.err for o in outputs)
    assert "hello \\x1b[2J\\x1b]0;owned\\x07\\x0d\\u202e" in printed  # the document's text, shown
    assert f"a{terminal_safe(EVIL)}.jsonl" in printed  # and the file's name
    assert not UNSAFE.search(printed)
