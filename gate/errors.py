"""One error hierarchy for the whole gate; `cli.main` renders it in one place.

Every error says what failed (naming the file, input or URL) and what to do about it, so a
user never sees a traceback. Adapters wrap third-party exceptions with `raise ... from e`.
"""

from __future__ import annotations


class GateError(Exception):
    """Base of every error the gate reports to its user (exit code 2)."""

    #: A short, stable category shown before the message (and used in JSON).
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """What failed and, where we know it, the fix; plain text, one or two lines."""
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(GateError):
    """A bad command-line argument, action input or config value."""

    kind = "usage"


class ConfigError(UsageError):
    """A bad `.otp-gate.toml` (names the file and the key)."""

    kind = "config"


class AcquireError(GateError):
    """The runtime could not be found, fetched, unpacked or built."""

    kind = "acquire"


class UnsafeArchiveError(AcquireError):
    """An archive tried to escape its scratch folder, or exceeded a size/count cap."""

    kind = "unsafe-archive"


class InspectError(GateError):
    """A file of the runtime could not be read or parsed."""

    kind = "inspect"


class ElfError(InspectError):
    """A file is not a valid ELF file (truncated, corrupt, unreadable)."""

    kind = "elf"


class KnowledgeError(GateError):
    """Release or advisory data could not be loaded (live and bundled both failed)."""

    kind = "data"


class ReportError(GateError):
    """A report could not be written (names the path)."""

    kind = "report"


class GitHubError(GateError):
    """A GitHub API call failed in a way the gate cannot turn into a warning."""

    kind = "github"
