"""OCI platforms (`os/architecture[/variant]`): parsed from --platform, the host, or image JSON."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Any

from gate.errors import UsageError

_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    """An OCI platform, `os/architecture[/variant]` (e.g. linux/amd64, linux/arm64/v8)."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(
                f"--platform {text!r}: expected os/arch[/variant]",
                hint="for example --platform linux/amd64 or --platform linux/arm64",
            )
        return cls(parts[0], _ARCH.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine().lower()
        return cls("linux", _ARCH.get(machine, machine), "v7" if machine == "armv7l" else None)

    @classmethod
    def from_json(cls, data: Any) -> Platform | None:
        if not isinstance(data, dict):
            return None
        os_, arch = data.get("os"), data.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            return None
        variant = data.get("variant")
        return cls(os_, arch, variant if isinstance(variant, str) and variant else None)

    def matches(self, other: Platform) -> bool:
        """Does an image for `other` satisfy a request for `self` (a missing variant matches any)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None or other.variant is None:
            return True
        return self.variant == other.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)
