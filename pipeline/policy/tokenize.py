"""Script text -> netsh command lines, each with its file, line and original text.

Admins keep netsh ipsec policies in two kinds of file (netsh-ipsec.md §4):

* **batch files** (``.cmd``/``.bat``) that call ``netsh ipsec static ...`` once
  per line.  cmd.exe works on the line before netsh sees it, so this does too:
  ``@echo off``, ``REM``, ``::`` and ``:label`` lines, ``^`` continuations and
  escapes, ``%1``/``%~1``/``%VAR%`` (from ``set VAR=...`` lines above and from
  ``--define VAR=value``; anything else is left as written, with a warning),
  ``&``/``&&``/``||`` between commands, ``>nul 2>&1`` redirections, ``goto``
  forward to a label, ``exit`` and ``goto :eof``.  ``netsh``, ``netsh.exe`` or
  a full path to it, with its options (``-c context``; ``-r`` another computer
  and ``-f`` another script are reported, never followed).
* **netsh -f scripts** with no ``netsh`` on their lines: ``pushd ipsec
  static``, ``popd``, a bare context name, ``..``, ``exit``/``quit``/``bye``,
  ``#`` comment lines.  netsh does not expand ``%`` or ``^``.

A file is a batch file when one of its lines runs netsh; otherwise it is a
netsh -f script.  Comments of the other kind (``REM`` in a netsh script, ``#``
in a batch file) are skipped with a warning, as the program running the file
would choke on them.  ``#`` after a word (an inline comment) is UNVERIFIED in
netsh; it is treated as a comment, with a warning.

A batch line longer than cmd.exe's 8191 characters (before or after ``%``
expansion) is refused as cmd.exe refuses it.  What editors hide is reported:
NUL characters (removed), a carriage return without a line feed (a line
break here), text after a Ctrl-Z (not read).  The line text every report
quotes has ``psk=`` values masked.

Nothing is ever opened or run on the script's say-so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .decode import decode_script as decode_script  # re-exported: the old home of the decoder
from .decode import line_breaks, split_lines
from .grammar import GLOBAL_COMMANDS, Ambiguous, Word, mask_secrets, match_keyword, walk_context
from .model import Origin, PolicyIssue, issue_at

#: Environment variables a script may use in paths (e.g. ``%SystemRoot%\system32\netsh.exe``).
DEFAULT_VARIABLES = {"systemroot": r"C:\WINDOWS", "windir": r"C:\WINDOWS", "systemdrive": "C:"}

#: cmd.exe's limit on a command line, also after %-expansion (Microsoft KB830473: 8191 characters).
CMD_LINE_LIMIT = 8191
#: Longest netsh -f script line read, in characters.  netsh's own limit is unverified, so this is far beyond
#: any command (a 100,000-character name is still read); a longer line is reported and skipped, never split
#: into words: a 10 MB line cost seconds and a hundred times its size in memory.
SCRIPT_LINE_LIMIT = 1 << 20

#: Batch commands that cannot change the IPSec policy: skipped without a word.
QUIET_BATCH_COMMANDS = frozenset({
    "echo", "echo.", "setlocal", "endlocal", "cls", "pause", "title", "color", "chcp", "cd", "chdir", "ver",
    "timeout", "sc", "net", "ipconfig", "verify", "prompt", "type", "date", "time", "ping", "gpupdate",
})
#: Batch commands whose effect is not evaluated (their branches are not followed): reported.
UNEVALUATED_BATCH_COMMANDS = frozenset({"if", "for", "call", "start", "shift", "choice"})


@dataclass(frozen=True)
class NetshLine:
    """One netsh command as typed, and the context it was typed in (``()`` is netsh's root)."""

    origin: Origin
    context: tuple[str, ...]
    words: tuple[Word, ...]


@dataclass
class Tokens:
    lines: list[NetshLine] = field(default_factory=list)
    issues: list[PolicyIssue] = field(default_factory=list)
    kind: str = "batch"  # or "netsh"


def physical_lines(text: str) -> list[str]:
    return split_lines(text)


_NETSH = re.compile(r"^(?:.*[\\/])?netsh(?:\.exe)?$", re.IGNORECASE)


def is_netsh(word: str) -> bool:
    return bool(_NETSH.match(word))


def _first_word(line: str) -> str:
    stripped = line.lstrip(" \t@")
    m = re.match(r'"([^"]*)"|(\S+)', stripped)
    return (m.group(1) if m and m.group(1) is not None else m.group(2) if m else "") or ""


def script_kind(lines: list[str]) -> str:
    """``batch`` when a line runs netsh (``netsh ...``, ``@netsh.exe ...``), else ``netsh`` (a netsh -f script)."""
    for line in lines:
        word = _first_word(line)
        if is_netsh(word) or is_netsh(word.replace("%SystemRoot%", "").replace("%windir%", "")):
            return "batch"
    return "netsh"


# --- words -----------------------------------------------------------------------------------------------

#: A word's pieces: a quoted stretch (to the next quote, or the end of the line), an ``=``, or other characters.
_PIECES = re.compile(r'"[^"]*"?|=|[^ \t"=]+')
_BLANKS_OR_WORD = re.compile(r'(?:"[^"]*"?|[^ \t"])+')  # blanks are spaces and tabs only, as for cmd.exe
_TAG_QUOTED = re.compile(r'([^"=]*)="([^"]*)"')


def split_words(text: str) -> tuple[list[Word], bool]:
    """Split on blanks outside double quotes; the first unquoted ``=`` separates tag and value.

    Returns the words (spaces around ``=`` merged: ``name = "x"`` is one word)
    and whether a quote was left open.  Quote characters are not part of the
    words' text; a word that had any is ``quoted``.
    """
    raw: list[Word] = []
    in_quote = False
    for m in _BLANKS_OR_WORD.finditer(text):
        word = m.group(0)
        if '"' not in word:
            tag_text, eq, value = word.partition("=")
            raw.append(Word(word, tag_text, value, False) if eq else Word(word, None, word, False))
            continue
        simple = _TAG_QUOTED.fullmatch(word)
        if simple:  # tag="value" (the common quoted form)
            raw.append(Word(f"{simple.group(1)}={simple.group(2)}", simple.group(1), simple.group(2), True))
            continue
        tag: str | None = None
        buf: list[str] = []
        whole: list[str] = []
        quoted = False
        for piece in _PIECES.findall(word):
            if piece.startswith('"'):
                quoted = True
                inner = piece[1:-1] if len(piece) > 1 and piece.endswith('"') else piece[1:]
                in_quote = not (len(piece) > 1 and piece.endswith('"'))
                buf.append(inner)
                whole.append(inner)
            elif piece == "=" and tag is None:
                tag = "".join(buf)
                buf = []
                quoted = False
                whole.append(piece)
            else:
                buf.append(piece)
                whole.append(piece)
        raw.append(Word("".join(whole), tag, "".join(buf), quoted))
    return _merge_equals(raw), in_quote


def _merge_equals(words: list[Word]) -> list[Word]:
    out: list[Word] = []
    pending = False  # the last word is "tag=" (or "tag =") still waiting for its value
    for word in words:
        if word.tag == "" and out and out[-1].tag is None and not out[-1].quoted:
            prev = out.pop()
            out.append(Word(f"{prev.text}={word.value}", prev.text, word.value, word.quoted))
            pending = word.value == "" and not word.quoted
            continue
        if pending and word.tag is None:
            prev = out.pop()
            out.append(Word(f"{prev.tag}={word.text}", prev.tag, word.text, word.quoted))
            pending = False
            continue
        out.append(word)
        pending = word.tag not in (None, "") and word.value == "" and not word.quoted
    return out


def strip_inline_comment(text: str) -> tuple[str, bool]:
    """Cut ``text`` at a ``#`` that starts a word outside quotes: (text, cut?)."""
    in_quote = False
    for i, c in enumerate(text):
        if c == '"':
            in_quote = not in_quote
        elif c == "#" and not in_quote and i > 0 and text[i - 1] in " \t":
            return text[:i].rstrip(), True
    return text, False


# --- cmd.exe ---------------------------------------------------------------------------------------------

def ends_with_caret(line: str) -> bool:
    """True when the line ends in an unquoted, unescaped ``^`` (a cmd.exe continuation)."""
    if "^" not in line:
        return False
    in_quote = False
    i = 0
    escaped_end = False
    while i < len(line):
        c = line[i]
        if c == '"':
            in_quote = not in_quote
        elif c == "^" and not in_quote:
            if i == len(line) - 1:
                escaped_end = True
            i += 2
            continue
        i += 1
    return escaped_end


def expand_percent(text: str, variables: dict[str, str], args: dict[str, str],
                   limit: int | None = None) -> tuple[str, list[str]]:
    """cmd.exe's ``%`` expansion: (text, the references left as written because nothing defines them).

    With ``limit``, expansion stops once the result is longer than that (the
    caller refuses such a line), so ``set a=%a%%a%`` repeated cannot grow a
    line without bound.
    """
    if "%" not in text:
        return text, []
    out: list[str] = []
    unresolved: list[str] = []
    size = 0
    i, n = 0, len(text)
    while i < n:
        size += len(out[-1]) if out else 0  # every pass appends one piece: count the one before
        if limit is not None and size > limit:
            break
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "%":
            out.append("%")
            i += 2
            continue
        m = re.match(r"%(~[a-z]*)?([0-9*])", text[i:], re.IGNORECASE)
        if m:
            key = m.group(2)
            if key in args:
                value = args[key]
                out.append(value.strip('"') if m.group(1) else value)
            else:
                out.append(m.group(0))
                unresolved.append(m.group(0))
            i += len(m.group(0))
            continue
        end = text.find("%", i + 1)
        if end == -1:
            out.append(c)
            i += 1
            continue
        name = text[i + 1:end]
        if name.lower() in variables and ":" not in name:
            out.append(variables[name.lower()])
        else:
            out.append(text[i:end + 1])
            unresolved.append(text[i:end + 1])
        i = end + 1
    return "".join(out), unresolved


_BATCH_SPECIAL = re.compile(r"[&|<>^]")


def split_batch_commands(text: str) -> list[str]:
    """Split at unquoted ``&``/``&&``/``||``, drop what a ``|`` pipes into, remove redirections and carets."""
    if not _BATCH_SPECIAL.search(text):
        return [text.strip()] if text.strip() else []
    commands: list[str] = []
    cur: list[str] = []
    in_quote = False
    piped = False
    i, n = 0, len(text)

    def close() -> None:
        if not piped:
            commands.append("".join(cur).strip())
        cur.clear()

    while i < n:
        c = text[i]
        if c == '"':
            in_quote = not in_quote
            cur.append(c)
            i += 1
        elif in_quote:
            cur.append(c)
            i += 1
        elif c == "^":
            if i + 1 < n:
                cur.append(text[i + 1])
            i += 2
        elif c in "&|":
            double = i + 1 < n and text[i + 1] == c
            close()
            piped = c == "|" and not double
            i += 2 if double else 1
        elif c in "<>":
            if cur and cur[-1] in "0123456789" and (len(cur) == 1 or cur[-2] in " \t"):
                cur.pop()
            i += 1
            while i < n and text[i] in "<>":
                i += 1
            if i < n and text[i] == "&":
                i += 2
                continue
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] == '"':
                close_at = text.find('"', i + 1)
                i = n if close_at == -1 else close_at + 1
            else:
                while i < n and text[i] not in " \t&|<>":
                    i += 1
        else:
            cur.append(c)
            i += 1
    close()
    return [c for c in commands if c]


# --- the scanner -----------------------------------------------------------------------------------------

@dataclass
class _Logical:
    index: int  # index of the first physical line
    end: int  # index after the last physical line
    text: str
    origin: Origin


class Scanner:
    """Walks a script's lines as cmd.exe or netsh -f would, yielding netsh command lines."""

    def __init__(self, text: str, file: str, defines: dict[str, str] | None = None) -> None:
        self.file = file
        self.lines = physical_lines(text)
        self.kind = script_kind([line.replace("\x00", "") for line in self.lines])
        self.tokens = Tokens(kind=self.kind)
        self._odd_characters(text)
        defines = defines or {}
        self.args = {k: v for k, v in defines.items() if len(k) == 1 and (k.isdigit() or k == "*")}
        self.variables = dict(DEFAULT_VARIABLES)
        self.variables.update({k.lower(): v for k, v in defines.items() if k not in self.args})
        self.context: tuple[str, ...] = ()
        self.stack: list[tuple[str, ...]] = []
        self.labels = self._labels()

    def issue(self, origin: Origin, severity: str, code: str, message: str) -> None:
        self.tokens.issues.append(issue_at(origin, severity, code, message))

    def _odd_characters(self, text: str) -> None:
        """Report (and for NUL, remove) what text editors hide: NUL, a lone CR, text after a Ctrl-Z.

        None of these is documented for cmd.exe or netsh (UNVERIFIED), so the
        line is read as an editor shows it and the report says what was done.
        """
        for i, line in enumerate(self.lines):
            if "\x00" in line:
                self.lines[i] = line.replace("\x00", "")
                self.issue(Origin(self.file, i + 1, mask_secrets(self.lines[i])), "warning", "nul-characters",
                           f"{line.count(chr(0))} NUL character(s) removed; the rest of the line is read (a binary "
                           "file, or UTF-16 read in another encoding?)")
        head, eof, tail = text.partition("\x1a")
        lone = [n for n, brk in enumerate(line_breaks(head), 1) if brk == "\r"]
        if lone:
            self.issue(Origin(self.file, lone[0], mask_secrets(self.lines[lone[0] - 1])), "warning", "lone-cr",
                       f"{len(lone)} line(s) end in a carriage return without a line feed (first: this one): each "
                       "is read as a line break, as editors show it (cmd.exe drops carriage returns and may join "
                       "such lines: unverified)")
        if eof and tail.strip():
            at = len(self.lines)
            self.issue(Origin(self.file, at, mask_secrets(self.lines[at - 1])), "warning", "after-eof-mark",
                       f"a Ctrl-Z (0x1A, the DOS end-of-file mark) on this line: the {len(tail)} character(s) after "
                       "it are not read (whether cmd.exe and netsh stop there too is unverified)")

    def _labels(self) -> dict[str, int]:
        labels: dict[str, int] = {}
        for i, line in enumerate(self.lines):
            s = line.strip()
            if s.startswith(":") and not s.startswith("::"):
                name = s[1:].split()[0].lower() if s[1:].split() else ""
                labels.setdefault(name, i)
        return labels

    def _logical(self, index: int) -> _Logical:
        """The line at ``index``, joined with the next ones while it ends in ``^`` (batch files only)."""
        parts = [self.lines[index]]
        end = index + 1
        if self.kind == "batch":
            while ends_with_caret(parts[-1]) and end < len(self.lines):
                parts[-1] = parts[-1][:-1]
                parts.append(self.lines[end])
                end += 1
        original = mask_secrets("\n".join(self.lines[index:end]))  # reports quote it: no preshared keys
        return _Logical(index, end, "".join(parts), Origin(self.file, index + 1, original))

    def run(self) -> Tokens:
        i = 0
        while i < len(self.lines):
            logical = self._logical(i)
            i = logical.end
            step = self._batch_line(logical) if self.kind == "batch" else self._netsh_script_line(logical)
            if step == "stop":
                break
            if isinstance(step, int):
                i = step
        return self.tokens

    # -- batch files ----------------------------------------------------------------------------------------
    def _batch_line(self, logical: _Logical) -> str | int | None:
        text = logical.text.strip().lstrip("@").strip()
        if not text or text.startswith(":") or text.startswith(")"):
            return None  # blank, label, "::" comment, end of a ( ... ) block
        if re.match(r"rem(\s|$|\.|/)", text, re.IGNORECASE):
            return None
        if text.startswith("#"):
            self.issue(logical.origin, "warning", "comment-style",
                       "'#' comments belong to netsh -f scripts: cmd.exe would try to run this line; skipped")
            return None
        if len(text) > CMD_LINE_LIMIT:
            self.issue(logical.origin, "error", "line-too-long",
                       f"the line is {len(text)} characters long: cmd.exe runs at most {CMD_LINE_LIMIT} "
                       "(\"The input line is too long\"); skipped")
            return None
        expanded, unresolved = expand_percent(text, self.variables, self.args, limit=CMD_LINE_LIMIT)
        if len(expanded) > CMD_LINE_LIMIT:
            self.issue(logical.origin, "error", "line-too-long",
                       f"the line is longer than {CMD_LINE_LIMIT} characters once its %variables% are expanded, "
                       "more than cmd.exe runs (\"The input line is too long\"); skipped")
            return None
        for ref in dict.fromkeys(unresolved):
            self.issue(logical.origin, "warning", "unresolved-variable",
                       f"{ref} is not defined here: left as written (give it with --define "
                       f"{ref.strip('%~')}=value)")
        for command in split_batch_commands(expanded):
            step = self._batch_command(command, logical)
            if step is not None:
                return step
        return None

    def _batch_command(self, command: str, logical: _Logical) -> str | int | None:
        command = command.lstrip("@").strip()
        words, open_quote = split_words(command)
        if not words:
            return None
        head = words[0].text.lower()
        if is_netsh(words[0].text):
            if open_quote:
                self.issue(logical.origin, "warning", "open-quote", "a double quote is not closed: it runs to the "
                                                                    "end of the line")
            self._netsh_invocation(words[1:], logical.origin)
            return None
        if head == "set":
            self._batch_set(command, logical.origin)
            return None
        if head in ("exit", "quit"):
            return "stop"
        if head == "goto":
            target = words[1].text.lstrip(":").lower() if len(words) > 1 else ""
            if target == "eof":
                return "stop"
            where = self.labels.get(target)
            if where is None:
                self.issue(logical.origin, "error", "goto-missing-label",
                           f"goto {target}: no such label (cmd.exe stops the batch file here)")
                return "stop"
            if where < logical.index:
                self.issue(logical.origin, "warning", "goto-backwards",
                           f"goto {target} jumps back (a loop): not followed; reading stops here")
                return "stop"
            return where + 1
        if head in ("pushd", "popd"):
            self.issue(logical.origin, "warning", "context-in-batch",
                       f"{head} in a batch file changes the folder, not the netsh context "
                       "(run netsh -f for context scripts); skipped")
            return None
        if head in UNEVALUATED_BATCH_COMMANDS:
            self.issue(logical.origin, "warning", "not-evaluated",
                       f"{head} is not evaluated: a command on this line is not applied")
            return None
        if head in QUIET_BATCH_COMMANDS or head.startswith("echo"):
            return None
        self.issue(logical.origin, "warning", "not-netsh", f"{words[0].text} is not a netsh command: skipped")
        return None

    def _batch_set(self, command: str, origin: Origin) -> None:
        rest = command[3:].strip()
        if rest.startswith("/"):
            self.issue(origin, "warning", "not-evaluated", "set /a or /p is not evaluated: the variable stays unset")
            return
        if rest.startswith('"') and rest.rfind('"') > 0:
            rest = rest[1:rest.rfind('"')]
        name, eq, value = rest.partition("=")
        if not eq:
            return  # "set" or "set X" only lists variables
        if name != name.strip() or (value != value.lstrip() and value.strip()):
            self.issue(origin, "warning", "set-spaces",
                       "spaces around = in set: cmd.exe keeps them in the name and value; read without them")
        key = name.strip().lower()
        if value.strip():
            self.variables[key] = value.strip()
        else:
            self.variables.pop(key, None)

    def _netsh_invocation(self, words: list[Word], origin: Origin) -> None:
        context: tuple[str, ...] = ()
        i = 0
        while i < len(words) and words[i].tag is None and words[i].text[:1] in "-/" and len(words[i].text) > 1:
            option = words[i].text[1:].lower()
            value = words[i + 1].text if i + 1 < len(words) else ""
            if option == "c":
                context, used = walk_context((), value.split())
                if not used:
                    self.issue(origin, "error", "unknown-context", f"netsh -c {value}: no such context")
                    return
            elif option == "f":
                self.issue(origin, "warning", "script-not-followed",
                           f"netsh -f {value}: the commands of another script are not read (load that file too)")
                return
            elif option == "r":
                self.issue(origin, "warning", "remote-computer",
                           f"netsh -r {value} configures another computer: skipped")
                return
            elif option not in ("a", "u", "p"):
                self.issue(origin, "warning", "netsh-option", f"netsh option {words[i].text} is not known: ignored")
                i += 1
                continue
            i += 2
        rest = words[i:]
        if not rest:
            self.issue(origin, "warning", "interactive-netsh", "netsh without a command starts an interactive "
                                                               "shell: nothing to apply")
            return
        head = rest[0].text.lower() if rest[0].tag is None else ""
        if not context and head in GLOBAL_COMMANDS + ("show",):
            # netsh's own commands (netsh-ipsec.md §4): one netsh run, so nothing carries over to the next line
            if head == "exec":
                self.issue(origin, "warning", "script-not-followed",
                           "netsh exec runs another script: its commands are not read (load that file too)")
            elif head not in ("show", "dump", "help", "?"):
                self.issue(origin, "info", "netsh-global", f"netsh {rest[0].text}: a command of netsh itself "
                                                           "with no effect on the policy in a one-line netsh run")
            return
        self.tokens.lines.append(NetshLine(origin, context, tuple(rest)))

    # -- netsh -f scripts -----------------------------------------------------------------------------------
    def _netsh_script_line(self, logical: _Logical) -> str | None:
        text = logical.text.strip()
        if not text or text.startswith("#"):
            return None
        if len(text) > SCRIPT_LINE_LIMIT:
            self.issue(logical.origin, "error", "line-too-long",
                       f"the line is {len(text):,} characters long, more than the {SCRIPT_LINE_LIMIT:,} read in a "
                       "netsh -f script (far beyond any netsh command); skipped")
            return None
        head = text.split(None, 1)[0].lower()
        if head in ("rem", "::", "@echo") or head.startswith("::") or head.startswith("@"):
            self.issue(logical.origin, "warning", "comment-style",
                       "batch syntax in a netsh -f script: netsh would report an error here; skipped")
            return None
        text, cut = strip_inline_comment(text)
        if cut:
            self.issue(logical.origin, "warning", "inline-comment",
                       "'#' after a command: read as a comment (whether netsh does is unverified)")
        words, open_quote = split_words(text)
        if open_quote:
            self.issue(logical.origin, "warning", "open-quote",
                       "a double quote is not closed: it runs to the end of the line")
        if not words:
            return None
        if "%" in text:
            self.issue(logical.origin, "warning", "percent-in-netsh-script",
                       "netsh -f does not expand %VARIABLES%: the text is used as written")
        try:
            command = match_keyword(words[0].text, GLOBAL_COMMANDS) if words[0].tag is None else None
        except Ambiguous:
            command = None
        if command in ("exit", "quit", "bye"):
            return "stop"
        if command == "pushd":
            self.stack.append(self.context)
            self._switch([w.text for w in words[1:]], logical.origin)
            return None
        if command == "popd":
            if self.stack:
                self.context = self.stack.pop()
            else:
                self.issue(logical.origin, "warning", "popd-empty", "popd without a pushd: stays in "
                                                                    f"{' '.join(self.context) or 'the root context'}")
            return None
        if command == "..":
            self.context = self.context[:-1]
            return None
        if command in ("abort", "commit", "offline", "online"):
            self.issue(logical.origin, "info", "mode-command",
                       f"{command}: netsh's offline/online mode is not modelled (commands apply in order)")
            return None
        if command in ("exec",):
            self.issue(logical.origin, "warning", "script-not-followed",
                       "exec runs another script: its commands are not read (load that file too)")
            return None
        if command in ("alias", "unalias", "dump", "help", "?"):
            return None
        context, used = walk_context(self.context, [w.text for w in words if w.tag is None][:3])
        if used and used == len(words):
            self.context = context  # a bare context name switches to it
            return None
        self.tokens.lines.append(NetshLine(logical.origin, self.context, tuple(words)))
        return None

    def _switch(self, names: list[str], origin: Origin) -> None:
        if not names:
            return
        context, used = walk_context(self.context, names)
        if used != len(names):
            self.issue(origin, "error", "unknown-context", f"pushd {' '.join(names)}: no such netsh context")
            return
        self.context = context


def tokenize(text: str, file: str, defines: dict[str, str] | None = None) -> Tokens:
    """The netsh command lines of a batch file or netsh -f script, with the problems met on the way."""
    return Scanner(text, file, defines).run()
