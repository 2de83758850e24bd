"""The one place that formats GitHub workflow commands (`::error file=..::msg`) and file-command
records (`GITHUB_OUTPUT`), and escapes them.

Escaping follows the runner's own rules (`%` first, then CR and LF in the message; also `:` and `,`
in properties), so a file name from a scanned tree can never end a command early or start a new
one. Text that is too rich to escape (a whole report) is wrapped in
`::stop-commands::<random token>` instead. See
https://docs.github.com/actions/reference/workflow-commands-for-github-actions

These few lines used to come from `github-action-utils`, but only through its private modules (its
public API prints and writes files itself; renderers here return strings), so they are owned here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Commands this project emits; anything else is a programming error, not user input.
_COMMANDS = frozenset({"error", "warning", "notice", "debug", "group", "endgroup"})

#: Annotation properties the runner understands (camelCase on the wire).
_PROPERTIES = ("file", "line", "endLine", "col", "endColumn", "title")


def escape_message(text: str) -> str:
    """Escape the data part of a command (after the second `::`): `%` first, so text that already
    looks escaped is decoded once, exactly as written."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_prop(text: str) -> str:
    """Escape a property value (`file=`, `title=`): data escaping plus `:` and `,`."""
    return escape_message(text).replace(":", "%3A").replace(",", "%2C")


def command(
    name: str, message: str, properties: Mapping[str, str | int | None] | None = None
) -> str:
    """One workflow-command line such as `::error file=a.c,line=3,title=t::msg` (no newline).

    Every property value and the message are escaped here; callers pass raw, untrusted text.
    """
    if name not in _COMMANDS:
        raise ValueError(f"unknown workflow command {name!r}")
    props: list[str] = []
    for key, value in (properties or {}).items():
        if key not in _PROPERTIES:
            raise ValueError(f"unknown workflow command property {key!r}")
        if value is None or value == "":
            continue
        props.append(f"{key}={escape_prop(str(value))}")
    head = f"::{name} {','.join(props)}" if props else f"::{name}"
    return f"{head}::{escape_message(message)}"


def new_token() -> str:
    """A random resume token for `stop-commands`: unguessable, so untrusted text cannot resume early."""
    import secrets  # here, not at the top: a local scan never needs it (~5 ms, issue 12)

    return f"otp-gate-{secrets.token_hex(16)}"


def stop_commands(text: str, token: str | None = None) -> str:
    """Wrap `text` so the runner processes no command inside it; returns the lines, no final newline.

    The token is drawn again in the (astronomically unlikely) case that the text already holds it.
    """
    token = token or new_token()
    while token in text:
        token = new_token()
    body = text[:-1] if text.endswith("\n") else text
    return f"::stop-commands::{token}\n{body}\n::{token}::"


def neutralize_commands(text: str, *, json: bool = False) -> str:
    """`text` (a whole report) with no line the runner would take as a workflow command.

    The runner parses a line as a command when, after leading whitespace, it starts with `::`, or
    when it holds the legacy `##[` anywhere (actions/runner `ActionCommand.TryParseV2` and
    `TryParse`). Reports print file names and pin lines from the pull request and also run inside
    `docker run` steps where `GITHUB_ACTIONS` is not set, so this is applied always: the first `:`
    of a leading `::` becomes `\\x3a` and `##[` becomes `#\\x23[`, in the `\\xNN` style
    `printable` already uses (it doubles real backslashes, so the escape is unambiguous). In JSON
    (`json=True`) `##[` can only sit inside a string, where `##\\u005b` is the same text to any
    parser, and no line can start with `::`.
    """
    if json:
        return text.replace("##[", "##\\u005b")
    if "::" not in text and "##[" not in text:
        return text
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        body = line.lstrip()
        if body.startswith("::"):
            at = len(line) - len(body)
            line = f"{line[:at]}\\x3a{line[at + 1 :]}"
        out.append(line.replace("##[", "#\\x23["))
    return "".join(out)


def file_command_record(name: str, value: str) -> bytes:
    """One `GITHUB_OUTPUT`/`GITHUB_ENV` record, `name<<delimiter` framed with a random delimiter
    that the value does not contain, so a value with newlines cannot forge a second record.

    The runner splits records on the platform's line ending, so they are written with it.
    """
    if not name or any(part in name for part in ("=", "<<", "\r", "\n", "\0")):
        raise ValueError(f"file command name {name!r} must be nonempty, without =, <<, CR, LF, NUL")
    import uuid  # here, not at the top: only the Action writes file commands (~3 ms, issue 12)

    delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
    while delimiter in name or delimiter in value:
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
    nl = os.linesep
    # A leading U+FEFF in a name is data, not a UTF-8 file signature the runner would strip.
    prefix = nl if name.startswith("\ufeff") else ""
    return f"{prefix}{name}<<{delimiter}{nl}{value}{nl}{delimiter}{nl}".encode()
