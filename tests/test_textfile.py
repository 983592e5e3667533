"""Blocks of whole lines: long lines, line numbers across blocks, rejected rows reported once."""

from __future__ import annotations

import pipeline.readers.textfile as textfile
from pipeline.issues import IssueLog
from pipeline.readers.textfile import read_rows, sniff_layout


def rows_of(path, issues, **kwargs):
    out = []
    for batch in read_rows(path, sniff_layout(path), start=0, first_line=1, column_names=["a", "b"],
                           delimiter=" ", quoted=False, issues=issues, **kwargs):
        out += list(zip(batch.lines.tolist(), batch.table.column("a").to_pylist(), strict=True))
    return out


def test_a_line_longer_than_a_parse_piece_is_read_whole_and_bad_rows_are_named_once(tmp_path, monkeypatch):
    monkeypatch.setattr(textfile, "PARSE_PIECE", 1 << 10)
    long_value = b"x" * 5000  # five parse pieces
    path = tmp_path / "long.log"
    path.write_bytes(b"1 a\n2 b c\n" + long_value + b" y\n4 d\n")
    issues = IssueLog(str(path))
    rows = rows_of(path, issues)
    assert [(n, len(a)) for n, a in rows] == [(1, 1), (3, 5000), (4, 1)]
    assert [(i.location, i.kind) for i in issues.details] == [("line 2", "malformed")]


def test_line_numbers_run_on_across_small_blocks_and_a_line_longer_than_a_block(tmp_path):
    lines = [f"{i} v{i}".encode() for i in range(1, 200)]
    lines[120] = b"121 " + b"z" * 1000
    path = tmp_path / "many.log"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    rows = rows_of(path, IssueLog(str(path)), block_size=256)  # ~20 lines a block; line 121 is 4 blocks long
    assert [n for n, _ in rows] == list(range(1, 200))
    assert all(a == str(n).encode() for n, a in rows)
