"""Fuzz targets for the readers, the EVTX path and the netsh parser, shared by the tests and the long run.

``tests/test_fuzz.py`` runs each target under hypothesis with a bounded example count (CI);
``bench/fuzz_long.py`` runs the same targets many more times, each example in a watched
subprocess (time and memory), and prints a table.  One definition of what a target does and
what it checks, two drivers.

Inputs are near-valid: real lines (``sample_logs/``, ``tests/data/`` and, at run time only,
``../shared/corpus/``: those files are never copied into the repository) put together into
small files, then mutated (:func:`mutate`): bytes flipped, text truncated, NUL / CR / quotes /
tabs / huge numbers / invalid UTF-8 / BOMs inserted, lines repeated or swapped, ``#Fields:``
reordered.  EVTX files are mutated where their structure is: the file header, a chunk
header, the records' headers and BinXML, or cut at any offset.

What every target checks (a :class:`FuzzFailure` names what broke; any other exception is
a crash): the call returns; for a text reader, every row and every skipped line carries a
physical line number of the file, each at most once; for an ingest, the report's exit code is
0 or 1, no file "stopped reading" (a crash caught per file is still a crash), what was found
is stored or counted as a duplicate, the warehouse holds exactly the rows the report says,
and reading the file again stores nothing new; for the netsh parser, any bytes give a model
and a list of issues, each with a line of the script.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = REPO / "tests" / "data"
SAMPLE = REPO / "sample_logs"


class FuzzFailure(AssertionError):
    """A fuzzed input broke a property (not a crash: the call returned, but wrongly)."""


# --- seeds ----------------------------------------------------------------------------------------

#: Data lines taken from each real file for a seed (headers are kept whole).
SEED_LINES = 10


def _lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _seed_from(path: Path, header_lines: int | None = None) -> bytes:
    """The file's header and a few of its data lines (drop lines first): a small file of real lines."""
    lines = _lines_of(path)
    if header_lines is None:
        header_lines = next((i for i, line in enumerate(lines) if not line.startswith(b"#")), len(lines))
    head, body = lines[:header_lines], lines[header_lines:]
    drops = [line for line in body if re.search(rb"(?i)ipsec|DROP|\b52\d\d\b", line)]
    others = [line for line in body if line not in drops]
    picked = drops[: SEED_LINES - 3] + others[:3]
    return b"".join(head + picked)


def _shared(*parts: str) -> list[Path]:
    folder = SHARED.joinpath(*parts)
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


@cache
def text_seeds(kind: str) -> tuple[tuple[str, bytes], ...]:
    """(name, bytes) of small real files of ``kind`` (``w3c``, ``csv``, ``pfirewall``, ``iis``)."""
    exports = SAMPLE / "exports"
    if kind == "w3c":
        files = sorted(exports.glob("*/*.log"))
        files = [p for p in files if not p.name.startswith(("pfirewall", "iis-"))] + sorted(DATA.glob("w3c-*.log"))
        return tuple((p.name, _seed_from(p)) for p in files)
    if kind == "iis":
        return tuple((p.name, _seed_from(p)) for p in sorted(exports.glob("*/iis-*.log")))
    if kind == "csv":
        files = sorted(exports.glob("*/*.csv")) + sorted(DATA.glob("csv-*.csv"))
        return tuple((p.name, _seed_from(p, header_lines=1)) for p in files)
    if kind == "pfirewall":
        files = sorted(exports.glob("*/pfirewall*.log")) + sorted(DATA.glob("pfirewall-*.log"))
        files += _shared("corpus", "realworld", "pfirewall")
        return tuple((p.name, _seed_from(p)) for p in files)
    raise ValueError(kind)


@cache
def netsh_seeds() -> tuple[tuple[str, bytes], ...]:
    files = sorted(DATA.glob("policy-*.cmd")) + sorted(DATA.glob("policy-*.txt")) + sorted(DATA.glob("suggest-*.cmd"))
    files += sorted((SAMPLE / "policies").glob("*"))
    return tuple((p.name, p.read_bytes()) for p in files if p.is_file())


#: EVTX files up to this size are seeds in CI (the 1 MiB ones cost ~10x as much to read).
SMALL_EVTX = 128 * 1024


@cache
def evtx_seeds(small_only: bool = True) -> tuple[tuple[str, bytes], ...]:
    files = sorted(DATA.glob("*.evtx")) + sorted((SAMPLE / "exports").glob("*/*.evtx"))
    files += _shared("corpus", "evtx") + _shared("corpus", "realworld", "evtx")
    files = [p for p in files if p.suffix == ".evtx" and (not small_only or p.stat().st_size <= SMALL_EVTX)]
    return tuple((p.name, p.read_bytes()) for p in files)


# --- mutations ------------------------------------------------------------------------------------

#: Bytes inserted or written over: what damaged and hostile exports hold.
PAYLOADS: tuple[bytes, ...] = (
    b"\x00", b"\r", b"\n", b'"', b'""', b"\t", b" ", b",", b"|", b"-", b"+", b"#", b"%", b"^", b"&", b"=",
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
    b"\r\n", b"\n\n", b'"\n', b"\x00\x00", b"\x1f", b"\x0b\x0c", "\u2028\u00a0".encode(),
    b"99999999999999999999999999", b"-1", b"4294967296", b"65536", b"1e308", b"NaN", b"0x7fffffff",
    b"2026-02-30 25:61:61", b"9999-12-31 23:59:59", b"0000-00-00 00:00:00",
    b"::ffff:10.0.0.1", b"fe80::1%eth0", b"256.1.1.1", b"10.0.0", b"1.2.3.4.5",
    b"#Fields: date time action", b"#Fields: EventID SourceName", b"#Software: Microsoft Log Parser\n",
    b"EventID,TimeGenerated\n", b"#Version: 1.5\n", b"IPSEC", b"4290", b"5152", b"DROP", b"ALLOW",
    b"netsh ipsec static ", b"add filter filterlist=", b"srcaddr=", b"mask=", b"set ", b"%%", b"%1",
    b"^\n", b"&&", b"||", b"(", b")", b"call :x", b"goto :eof", b"rem ", b"::",
    b"A" * 300, b"7" * 5000,
)

#: Mutation kinds; each is (kind, where in the data as a fraction 0..1, payload index, count).
OPS = ("flip", "insert", "overwrite", "truncate", "delete", "repeat", "dup_line", "swap_lines",
       "reorder_fields", "utf16", "bom", "crlf")

Op = tuple[str, float, int, int]


def random_ops(rng: random.Random, most: int = 6) -> list[Op]:
    """What the long run draws; :func:`ops_strategy` draws the same for hypothesis."""
    return [(rng.choice(OPS), rng.random(), rng.randrange(len(PAYLOADS)), rng.randrange(1, 65))
            for _ in range(rng.randrange(1, most + 1))]


def ops_strategy(most: int = 6):
    from hypothesis import strategies as st

    op = st.tuples(st.sampled_from(OPS), st.floats(0, 1, allow_nan=False), st.integers(0, len(PAYLOADS) - 1),
                   st.integers(1, 64))
    return st.lists(op, min_size=1, max_size=most)


def _at(data: bytes | bytearray, where: float) -> int:
    return min(len(data), int(where * len(data)))


def _line_spans(data: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in data.splitlines(keepends=True):
        spans.append((pos, pos + len(line)))
        pos += len(line)
    return spans


def mutate(data: bytes, ops: Sequence[Op]) -> bytes:
    """``data`` with each of ``ops`` applied in turn (deterministic: the same ops give the same bytes)."""
    out = bytearray(data)
    for kind, where, which, count in ops:
        payload = PAYLOADS[which]
        at = _at(out, where)
        if kind == "flip" and out:
            at = min(at, len(out) - 1)
            out[at] ^= payload[0] or 0x80
        elif kind == "insert":
            out[at:at] = payload
        elif kind == "overwrite":
            out[at : at + len(payload)] = payload
        elif kind == "truncate":
            del out[at:]
        elif kind == "delete":
            del out[at : at + count]
        elif kind == "repeat":
            out[at:at] = payload * count
        elif kind in ("dup_line", "swap_lines", "reorder_fields"):
            spans = _line_spans(bytes(out))
            if not spans:
                continue
            i = min(int(where * len(spans)), len(spans) - 1)
            start, end = spans[i]
            if kind == "dup_line":
                out[end:end] = out[start:end] * min(count, 8)
            elif kind == "swap_lines":
                j = (i + count) % len(spans)
                a, b = sorted((i, j))
                if a != b:
                    (sa, ea), (sb, eb) = spans[a], spans[b]
                    out[sa:eb] = out[sb:eb] + out[ea:sb] + out[sa:ea]
            else:
                fields = next((k for k, (s, e) in enumerate(spans) if out[s:e].lower().startswith(b"#fields:")), None)
                if fields is None:
                    continue
                s, e = spans[fields]
                line = bytes(out[s:e])
                body = line.rstrip(b"\r\n")
                names = body.split(b":", 1)[1].split()
                random.Random(count * 7919 + which).shuffle(names)
                out[s:e] = b"#Fields: " + b" ".join(names[: max(1, len(names) - count % 3)]) + line[len(body):]
        elif kind == "utf16":
            text = bytes(out).decode("utf-8", errors="replace")
            out = bytearray(b"\xff\xfe" + text.encode("utf-16-le") if count % 2 else text.encode("utf-16-le"))
        elif kind == "bom":
            out[0:0] = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")[count % 3]
        elif kind == "crlf":
            out = bytearray(bytes(out).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n" if count % 2 else b"\r"))
    return bytes(out)


#: EVTX regions worth hitting: (start, end) of the file header, the first chunk's header, its records.
EVTX_REGIONS = ((0, 128), (4096, 4096 + 512), (4096 + 512, 4096 + 4096), (4096 + 4096, 4096 + 65536))


def mutate_evtx(data: bytes, ops: Sequence[Op]) -> bytes:
    """Bytes flipped or overwritten inside EVTX structures, and cuts: ``where`` picks region and offset."""
    out = bytearray(data)
    for kind, where, which, count in ops:
        region = EVTX_REGIONS[int(where * 4) % 4]
        span = region[1] - region[0]
        at = min(region[0] + int((where * 4 % 1) * span), max(len(out) - 1, 0))
        if kind == "truncate":
            del out[_at(out, where) :]
        elif kind in ("flip", "dup_line", "swap_lines", "reorder_fields", "utf16", "bom", "crlf") and out:
            out[at] ^= 1 << (count % 8)
        elif kind in ("overwrite", "insert") and out:
            payload = PAYLOADS[which][:16]
            out[at : at + len(payload)] = payload
            del out[len(data):]  # keep the size: offsets in the headers stay meaningful
        elif kind == "delete":
            out[at : at + count] = b"\x00" * len(out[at : at + count])
        elif kind == "repeat" and out:
            value = (0xFF, 0x00, 0x7F, 0x80)[count % 4]
            out[at : at + count] = bytes([value]) * len(out[at : at + count])
    return bytes(out)


# --- targets --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one example did: counts to show that it was read, not refused at the first byte."""

    rows: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


def _physical_lines(path: Path) -> int:
    from pipeline.readers.textfile import sniff_layout

    layout = sniff_layout(path)
    raw = path.read_bytes()[layout.bom_length :]
    text = raw.decode(layout.encoding, errors="replace")
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


_LINE = re.compile(r"^lines? (\d+)(?:-(\d+))?$")


def _issue_lines(issues) -> list[int]:
    out = []
    for issue in issues.details:
        m = _LINE.match(issue.location)
        if m and issue.kind in ("malformed", "read-error"):
            first, last = int(m.group(1)), int(m.group(2) or m.group(1))
            out += range(first, last + 1)
    return out


READER_SUFFIX = {"w3c": ".log", "csv": ".csv", "pfirewall": ".log", "iis": ".log"}


def check_reader(kind: str, data: bytes, folder: Path) -> Outcome:
    """Read ``data`` as a ``kind`` export with the library's reader; every line numbered at most once."""
    from pipeline.issues import IssueLog
    from pipeline.readers.iis import read_iis
    from pipeline.readers.logparser_csv import read_csv_export
    from pipeline.readers.logparser_w3c import read_w3c
    from pipeline.readers.pfirewall import read_pfirewall

    path = folder / f"fuzz{READER_SUFFIX[kind]}"
    path.write_bytes(data)
    reader = {"w3c": read_w3c, "csv": read_csv_export, "pfirewall": read_pfirewall, "iis": read_iis}[kind]
    issues = IssueLog(str(path), limit=None)
    lines: list[int] = []
    for batch in reader(path, issues, block_size=256):  # small blocks: lines cross block ends
        table = batch.table
        if "_line" in table.column_names:
            lines += table.column("_line").to_pylist()
    total = _physical_lines(path)
    if lines != sorted(set(lines)):
        raise FuzzFailure(f"rows out of order or numbered twice: {lines}")
    skipped = _issue_lines(issues)
    if len(skipped) != len(set(skipped)):
        raise FuzzFailure(f"a line reported twice: {sorted(skipped)}")
    if both := set(lines) & set(skipped):
        raise FuzzFailure(f"lines both read and skipped: {sorted(both)}")
    if outside := [n for n in lines + skipped if not 1 <= n <= total]:
        raise FuzzFailure(f"line numbers outside the file's {total} lines: {outside}")
    return Outcome(len(lines), issues.skipped)


#: Each ingest target's host: in the config with a zone, so no row is refused for want of one.
FUZZ_CONFIG = '[hosts.WEB01]\ntimezone = "Europe/Berlin"\n'


def _stored_rows(root: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in (root / "drops").rglob("*.parquet"))


def check_ingest(data: bytes, folder: Path, suffix: str = ".log", engine: str = "evtx") -> Outcome:
    """Ingest ``data`` as one file: a report, every drop stored once, and a second read stores nothing."""
    from pipeline import Warehouse, ingest, parse_config

    path = folder / f"fuzz{suffix}"
    path.write_bytes(data)
    config = parse_config(FUZZ_CONFIG, folder / "c.toml")
    wh = Warehouse(folder / "W")
    report = ingest([path], wh, config, host="WEB01", engine=engine)
    _check_report(report, wh.root, already=0)
    first = report.files[0]
    again = ingest([path], wh, config, host="WEB01", engine=engine, reread=True)
    _check_report(again, wh.root, already=first.drops_stored)
    second = again.files[0]
    if second.drops_stored or second.allowed_stored:
        raise FuzzFailure(f"read again, {second.drops_stored} drop(s) and {second.allowed_stored} permitted "
                          "event(s) were stored a second time")
    if (second.drops_found, second.status) != (first.drops_found, "reread") and first.status != "refused":
        raise FuzzFailure(f"read again, {second.drops_found} drops found ({second.status}), "
                          f"first {first.drops_found} ({first.status})")
    return Outcome(first.rows_read, first.skipped, [first.status])


#: What a drop says, for comparing two warehouses' rows (not where it was read from).
_DROP_CONTENT = ("host", "event_time", "event_id", "drop_kind", "direction", "protocol", "src_ip", "src_port", "dst_ip",
                 "dst_port", "packets")


def _stored_drops(root: Path) -> Counter:
    import pyarrow.parquet as pq

    rows: Counter = Counter()
    for part in (root / "drops").rglob("*.parquet"):
        for row in pq.read_table(part, columns=list(_DROP_CONTENT)).to_pylist():
            rows[tuple(row[c] for c in _DROP_CONTENT)] += 1
    return rows


def check_grown(data: bytes, folder: Path, suffix: str = ".log") -> Outcome:
    """The file ingested half-written, then grown to its whole: the drops of reading it whole at once.

    A last line without its line end is read at once and again when complete (README: "read now if
    complete, and read again when the file grows"): a line cut where it still parses is a drop of its
    own, so the drops the cut line gave may be there besides; nothing else may differ.
    """
    from pipeline import Warehouse, ingest, parse_config
    from pipeline.readers.textfile import sniff_layout

    config = parse_config(FUZZ_CONFIG, folder / "c.toml")

    def fresh(name: str, content: bytes) -> tuple[object, Counter]:
        (folder / name).mkdir()
        path = folder / name / f"fuzz{suffix}"
        path.write_bytes(content)
        report = ingest([path], Warehouse(folder / name / "W"), config, host="WEB01")
        _check_report(report, folder / name / "W", already=0)
        return report, _stored_drops(folder / name / "W")

    once, expected = fresh("whole", data)
    cut = len(data) // 2
    (folder / "grown").mkdir()
    path = folder / "grown" / f"fuzz{suffix}"
    path.write_bytes(data[:cut])
    wh = Warehouse(folder / "grown" / "W")
    first = ingest([path], wh, config, host="WEB01")
    _check_report(first, wh.root, already=0)
    complete_end = sniff_layout(path).complete_end
    with open(path, "ab") as fh:  # it grows: appended to, as a log is
        fh.write(data[cut:])
    then = ingest([path], wh, config, host="WEB01")
    _check_report(then, wh.root, already=first.total("drops_stored"))
    got = _stored_drops(wh.root)
    cut_line: Counter = Counter()
    if complete_end < cut and data[cut : cut + 1] not in (b"\n", b"\r"):
        # The half ended inside a line's text: what that line gave on its own may be there besides.  (Cut
        # just before its line end, the line is whole: read again, it must be recognised.)
        prefix = data[:cut]
        _, with_tail = fresh("prefix", prefix)
        _, without = fresh("complete", prefix[:complete_end])
        cut_line = with_tail - without
    missing, extra = expected - got, got - expected
    if missing or extra - cut_line:
        raise FuzzFailure(f"read whole: {sum(expected.values())} drops; read half-written (cut at byte {cut}) and "
                          f"then grown: {first.total('drops_stored')} + {then.total('drops_stored')} "
                          f"({then.files[0].status}: {then.files[0].note}); missing {list(missing)}, "
                          f"extra {list(extra - cut_line)}")
    return Outcome(once.total("rows_read"), once.total("skipped"), [then.files[0].status])


def _check_report(report, root: Path, already: int) -> None:
    if report.exit_code not in (0, 1):
        raise FuzzFailure(f"exit code {report.exit_code}: {report.summary()}")
    for f in report.files:
        crashed = [i for i in f.issues.details if i.kind == "read-error" and i.reason.startswith("stopped reading")]
        if crashed or f.status == "failed":
            detail = crashed[0].text if crashed else f.note
            raise FuzzFailure(f"{f.status}: {[i.reason for i in crashed]}\n{detail}")
        if f.drops_found != f.drops_stored + f.duplicates:
            raise FuzzFailure(f"{f.drops_found} drops found, {f.drops_stored} stored + {f.duplicates} duplicates")
        if f.status == "ingested" and f.rows_read == 0 and f.drops_found:
            raise FuzzFailure("drops found in no rows read")
    report.summary()  # the line the CLI prints: must not fail either
    stored = _stored_rows(root)
    if stored != already + report.total("drops_stored"):
        raise FuzzFailure(f"the warehouse holds {stored} rows; {already} before + {report.total('drops_stored')} "
                          "stored by this run")


def check_netsh(data: bytes) -> Outcome:
    """Any bytes, as a script file: decoded, parsed, resolved; issues each on a line of the script."""
    from pipeline.config import parse_config
    from pipeline.policy import PolicyModel, analyse_text, render_script
    from pipeline.policy.decode import decode_bytes

    decoded = decode_bytes(data, "fuzz.cmd")
    config = parse_config('[hosts.WEB01]\naddresses = ["10.1.0.10"]\ndns = ["10.1.0.2"]\n')
    analysis = analyse_text(decoded.text, "fuzz.cmd", host="WEB01", config=config)
    if not isinstance(analysis.model, PolicyModel):
        raise FuzzFailure(f"no model: {analysis.model!r}")
    lines = len(re.split(r"\r\n|\n|\r", decoded.text))  # the scanner's physical lines (before any Ctrl-Z)
    for issue in list(decoded.issues) + list(analysis.issues):
        if not 0 <= issue.line <= lines:
            raise FuzzFailure(f"issue on line {issue.line} of a {lines}-line script: {issue}")
        str(issue)
    from pipeline.policy.lint import lint
    from pipeline.policy.render import RenderError

    lint(analysis.model, analysis.filters, analysis.host, analysis.file)
    try:
        again = render_script(analysis.model)
    except RenderError:
        pass  # an answer: a value netsh could not be given in a script
    else:
        analyse_text(again, "rendered.cmd", host="WEB01", config=config)
    return Outcome(len(analysis.filters), len(analysis.issues))


@dataclass(frozen=True)
class Target:
    """A fuzz target: its seeds, how they are mutated, and the check run on each mutant."""

    name: str
    seeds: Callable[[], Sequence[tuple[str, bytes]]]
    mutator: Callable[[bytes, Sequence[Op]], bytes]
    check: Callable[[bytes, Path], Outcome]


def _evtx_long_seeds() -> Sequence[tuple[str, bytes]]:
    return evtx_seeds(small_only=not os.environ.get("FUZZ_ALL_EVTX"))


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("w3c", lambda: text_seeds("w3c"), mutate, lambda d, f: check_reader("w3c", d, f)),
    Target("csv", lambda: text_seeds("csv"), mutate, lambda d, f: check_reader("csv", d, f)),
    Target("pfirewall", lambda: text_seeds("pfirewall"), mutate, lambda d, f: check_reader("pfirewall", d, f)),
    Target("iis", lambda: text_seeds("iis"), mutate, lambda d, f: check_reader("iis", d, f)),
    Target("ingest-w3c", lambda: text_seeds("w3c"), mutate, lambda d, f: check_ingest(d, f, ".log")),
    Target("ingest-iis", lambda: text_seeds("iis"), mutate, lambda d, f: check_ingest(d, f, ".log")),
    Target("ingest-csv", lambda: text_seeds("csv"), mutate, lambda d, f: check_ingest(d, f, ".csv")),
    Target("ingest-pfirewall", lambda: text_seeds("pfirewall"), mutate, lambda d, f: check_ingest(d, f, ".log")),
    Target("ingest-grown", lambda: text_seeds("w3c") + text_seeds("pfirewall"), mutate,
           lambda d, f: check_grown(d, f)),
    Target("ingest-grown-csv", lambda: text_seeds("csv"), mutate, lambda d, f: check_grown(d, f, ".csv")),
    Target("evtx", _evtx_long_seeds, mutate_evtx, lambda d, f: check_ingest(d, f, ".evtx")),
    Target("evtx-python", _evtx_long_seeds, mutate_evtx,
           lambda d, f: check_ingest(d, f, ".evtx", engine="python-evtx")),
    Target("netsh", netsh_seeds, mutate, lambda d, f: check_netsh(d)),
)}
