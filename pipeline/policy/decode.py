"""Script bytes -> text: which encoding a netsh script was saved in, and what did not decode cleanly.

netsh scripts come from Notepad, from generators and from admins' editors in
every language: UTF-16 or UTF-8 with a byte order mark, UTF-8 without one,
or the machine's ANSI code page (Windows-1252 on English and Western European
Windows, GBK on Simplified Chinese Windows, ...).  The ANSI code page cannot
be told from the bytes, and reading GBK as Windows-1252 garbles every name
without a single invalid byte, so the order below is decided once, here (the
README's Policy section repeats it):

1. **Byte order mark**: UTF-8 (``EF BB BF``), UTF-16 LE (``FF FE``), UTF-16 BE
   (``FE FF``).  The file says what it is; this wins even over an explicit
   encoding (noted when they differ: a script re-saved by Notepad keeps
   working under a host's ``encoding = "gbk"``).
2. **The explicit encoding** (``analyse_script(..., encoding="gbk")``, the
   CLI's ``--encoding``): whoever reads the file says what it is, and has the
   last word over every guess below.
3. **UTF-16 without a BOM**: most odd bytes NUL and few even ones (or the
   reverse), as some tools write it.
4. **Valid UTF-8**, which includes plain ASCII.
5. **The host's code page** from the config (``[hosts.H] encoding``): after
   UTF-8, because a script re-saved as UTF-8 is recognised even on a GBK
   host, while UTF-8 read as GBK decodes to wrong characters without an
   error; GBK text (Chinese characters, two bytes each) that happens to be
   valid UTF-8 is all but impossible.
6. **Windows-1252**, the default ANSI code page.

What is reported (each problem with its file and line):

* bytes that are not valid in the encoding used (Windows-1252's undefined
  ``81 8D 8F 90 9D``, a broken GBK pair, an odd byte at the end of UTF-16)
  are replaced by U+FFFD: a warning per line (``encoding-invalid-bytes``)
  naming the encoding and where it came from;
* Windows-1252 used for a file with non-ASCII bytes: a warning
  (``encoding-guessed``) when the bytes look like a double-byte code page
  (every run of high bytes of even length, and the file decodes as GBK), else
  a note (``encoding-ansi``); both say how to give the right encoding;
* a BOM overriding the given encoding, UTF-16 found without a BOM, UTF-8
  found on a host with a code page, and an encoding that cannot decode at all
  (then the order above goes on without it): notes or warnings.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ..config import text_encoding
from .grammar import mask_secrets
from .model import Origin, PolicyIssue, issue_at

#: Byte order marks (none is a prefix of another; UTF-32 is not written by Windows tools and not looked for).
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
DEFAULT_ANSI = "cp1252"
#: At most this many ``encoding-invalid-bytes`` warnings per file; one more says how many lines were left out.
MAX_LINE_REPORTS = 20

#: Where the encoding came from, for messages (``DecodedScript.source``).
SOURCES = {
    "bom": "from the file's byte order mark",
    "argument": "as given (--encoding)",
    "utf-16": "UTF-16 recognised without a byte order mark",
    "utf-8": "the file is valid UTF-8",
    "config": "the host's encoding in the config",
    "default": "the default ANSI code page (no BOM, not UTF-8)",
    "text": "given as text",
}

# A lone surrogate never comes out of a strict decoder, so it marks the bytes that failed to decode.
_MARK = "\udcff"
_HANDLER = "ipsec_drops.policy.mark"


def _mark(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return _MARK, exc.end
    raise exc


codecs.register_error(_HANDLER, _mark)

_LINE_BREAK = re.compile(r"\r\n|\n|\r")


def split_lines(text: str) -> list[str]:
    """Physical lines as the scanner numbers them: CRLF, LF or a lone CR ends one; a Ctrl-Z ends the file."""
    return _LINE_BREAK.split(text.split("\x1a", 1)[0])


def line_breaks(text: str) -> list[str]:
    """The line breaks of ``text`` in order (``\\r\\n``, ``\\n`` or ``\\r``): break k ends physical line k."""
    return _LINE_BREAK.findall(text)


@dataclass(frozen=True)
class DecodedScript:
    """A script's text, the codec that made it, where that choice came from, and what did not decode."""

    text: str
    encoding: str  # Python's codec name: utf-8, utf-16-le, gbk, cp1252, ...
    source: str  # a key of SOURCES
    issues: tuple[PolicyIssue, ...] = ()


def _utf16_without_bom(data: bytes) -> str | None:
    if len(data) < 4 or len(data) % 2:
        return None
    pairs = len(data) // 2
    even_nul, odd_nul = data[0::2].count(0), data[1::2].count(0)
    if odd_nul >= 0.6 * pairs and even_nul <= 0.1 * pairs:
        return "utf-16-le"
    if even_nul >= 0.6 * pairs and odd_nul <= 0.1 * pairs:
        return "utf-16-be"
    return None


def looks_double_byte(data: bytes) -> bool:
    """Do the non-ASCII bytes look like a double-byte ANSI code page (GBK and its kin)?

    In Windows-1252 text an accented letter is one high byte between ASCII
    ones; in GBK every Chinese character is two high bytes.  So: every run of
    high bytes has an even length, and the whole file decodes as GBK.
    """
    runs = re.findall(rb"[\x80-\xff]+", data)
    if not runs or any(len(run) % 2 for run in runs):
        return False
    try:
        data.decode("gbk")
    except UnicodeDecodeError:
        return False
    return True


def _first_non_ascii_line(lines: list[str]) -> int:
    return next((n for n, line in enumerate(lines, 1) if not line.isascii()), 1)


def decode_bytes(data: bytes, file: str = "<script>", *, encoding: str | None = None,
                 host_encoding: str | None = None, host: str | None = None) -> DecodedScript:
    """Decode a script's bytes in the order of the module docstring; never raises on the bytes.

    ``encoding`` is the caller's explicit choice, ``host_encoding`` the host's
    ``encoding`` from the config (``host`` names it in messages).  An unknown
    codec name is a ValueError (a usage error, not a script problem).
    """
    given = text_encoding(encoding) if encoding is not None else None
    host_cp = text_encoding(host_encoding) if host_encoding is not None else None
    where = f"[hosts.{host}]" if host else "[hosts.<host>]"
    notes: list[tuple[int, str, str, str]] = []  # (line or 0 = first non-ASCII line, severity, code, message)

    def attempt(codec: str, source: str, body: bytes) -> DecodedScript | None:
        try:
            text = body.decode(codec, errors=_HANDLER)
        except (UnicodeError, LookupError) as exc:  # a codec that raises whatever the handler says
            notes.append((1, "warning", "encoding-unusable",
                          f"{codec} ({SOURCES[source]}) cannot decode this file ({exc}): the encoding is detected "
                          "instead"))
            return None
        return _finish(text, codec, source, file, where, notes)

    for bom, codec in BOMS:
        if data.startswith(bom):
            if given is not None and not _same_family(given, codec):
                notes.append((1, "info", "encoding-bom",
                              f"the file starts with a {codec.upper()} byte order mark: read as {codec}, not as "
                              f"the given {given}"))
            return attempt(codec, "bom", data[len(bom):]) or _fallback(data[len(bom):], file, where, notes)
    if given is not None:
        done = attempt(given, "argument", data)
        if done is not None:
            return done
    wide = _utf16_without_bom(data)
    if wide is not None:
        notes.append((1, "info", "encoding-utf16-no-bom",
                      f"no byte order mark, but every other byte is NUL: read as {wide}"))
        return _finish(data.decode(wide, errors=_HANDLER), wide, "utf-16", file, where, notes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if host_cp is not None and not text.isascii() and host_cp not in ("utf-8", "utf-8-sig"):
            notes.append((0, "info", "encoding-utf8",
                          f"the file is valid UTF-8: read as UTF-8, not as the host's {host_cp} ({where} encoding)"))
        return _finish(text, "utf-8", "utf-8", file, where, notes)
    if host_cp is not None:
        done = attempt(host_cp, "config", data)
        if done is not None:
            return done
    return _fallback(data, file, where, notes)


def _fallback(data: bytes, file: str, where: str, notes: list[tuple[int, str, str, str]]) -> DecodedScript:
    """Windows-1252, with a word about it when the file is not plain ASCII."""
    text = data.decode(DEFAULT_ANSI, errors=_HANDLER)
    fold = False
    if not data.isascii():
        if looks_double_byte(data):
            # one warning for the file: its undefined bytes are the same mistake, not news line by line
            fold = True
            bad = sum(1 for line in split_lines(text) if _MARK in line)
            also = f"; {bad} line(s) hold bytes Windows-1252 does not define" if bad else ""
            notes.append((0, "warning", "encoding-guessed",
                          f"no BOM and not UTF-8: read as {DEFAULT_ANSI} (Windows-1252), but the bytes look like a "
                          f"double-byte code page such as GBK (Simplified Chinese){also}: names are probably "
                          f"garbled; give the script's encoding with --encoding gbk or encoding = \"gbk\" in {where}"))
        else:
            notes.append((0, "info", "encoding-ansi",
                          f"no BOM and not UTF-8: read as {DEFAULT_ANSI} (Windows-1252, the default ANSI code "
                          f"page); if names look wrong, give the script's encoding with --encoding or "
                          f"encoding = \"...\" in {where}"))
    return _finish(text, DEFAULT_ANSI, "default", file, where, notes, report_invalid=not fold)


def _same_family(given: str, bom_codec: str) -> bool:
    if bom_codec == "utf-8":
        return given in ("utf-8", "utf-8-sig")
    return given in ("utf-16", bom_codec)


def _finish(text: str, codec: str, source: str, file: str, where: str, notes: list[tuple[int, str, str, str]],
            *, report_invalid: bool = True) -> DecodedScript:
    """Report the lines holding undecodable bytes, replace the marks by U+FFFD, attach the notes."""
    raw_lines = split_lines(text)
    clean = text.replace(_MARK, "\ufffd")
    lines = [mask_secrets(line.replace(_MARK, "\ufffd")) for line in raw_lines]  # quoted in reports: no keys
    issues: list[PolicyIssue] = []
    for line, severity, code, message in notes:
        number = line or _first_non_ascii_line(lines)
        issues.append(issue_at(Origin(file, number, lines[number - 1] if number <= len(lines) else ""),
                               severity, code, message))
    bad = [n for n, line in enumerate(raw_lines, 1) if _MARK in line] if report_invalid else []
    for n in bad[:MAX_LINE_REPORTS]:
        issues.append(issue_at(Origin(file, n, lines[n - 1]), "warning", "encoding-invalid-bytes",
                               f"{raw_lines[n - 1].count(_MARK)} byte sequence(s) not valid in {codec} "
                               f"({SOURCES[source]}) replaced by U+FFFD: give the script's encoding with "
                               f"--encoding or encoding = \"...\" in {where}"))
    if len(bad) > MAX_LINE_REPORTS:
        n = bad[MAX_LINE_REPORTS]
        issues.append(issue_at(Origin(file, n, lines[n - 1]), "warning", "encoding-invalid-bytes",
                               f"... and {len(bad) - MAX_LINE_REPORTS} more line(s) with bytes not valid in "
                               f"{codec} (not listed one by one)"))
    return DecodedScript(clean, codec, source, tuple(issues))


def decode_script(data: bytes) -> str:
    """The text of a script file by the detection order alone (no explicit or host encoding)."""
    return decode_bytes(data).text
