"""Tar header parsing with bounds: `tarfile`'s own parser behind caps it does not have (issue 14).

`tarfile` reads a PAX extended header or a GNU long name whole (`fileobj.read(size)`, the size
taken from the archive: a 3 GB header in a 40 MB `.tar.gz` takes 6.4 GB), follows a chain of
extended headers by recursion, and expands sparse members into their full size (4 GiB of holes
from a few KB, written out and scanned, bypassing the compression-ratio cap). Runtime archives
never need any of that, so this `TarInfo` subclass refuses, before anything is read:

- an extended header (PAX `x`/`g`, Solaris `X`) or GNU long name/link (`L`/`K`) over its cap;
- more than `MAX_HEADER_CHAIN` extended headers in front of one member;
- sparse members in every encoding (GNU `S`, PAX GNU.sparse 0.0, 0.1 and 1.0).

It hooks `TarInfo._proc_member` and the three `_proc_gnusparse_*` methods, which tarfile's source
names as the subclass extension point ("The entry point is _proc_member() which can be overridden
in a subclass"); `tests/acquire/test_tar_hostile.py` pins the behaviour, so a change in CPython
shows up as a failing test rather than a silent bypass.
"""

from __future__ import annotations

import tarfile
from typing import Any

from gate.errors import UnsafeArchiveError

KiB = 1024
#: A PAX header holds a path (PATH_MAX 4096), a link target, times and a few xattrs.
MAX_PAX_BYTES = 256 * KiB
#: A GNU long name or link target is one path.
MAX_LONGNAME_BYTES = 64 * KiB
#: Extended headers in front of one member: GNU `L` + `K`, or PAX `g` + `x`, need 2; allow some slack.
MAX_HEADER_CHAIN = 8

_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_LONG_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_HINT = "runtime archives need none of this; this archive may be hostile (repack it with plain tar)"


def _refuse(problem: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"tar header: {problem}", hint=_HINT)


class GuardedTarInfo(tarfile.TarInfo):
    """A `TarInfo` whose parsing refuses oversized or chained headers and sparse members."""

    def _proc_member(self, tar: Any) -> Any:  # tarfile's own hook, untyped there
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _refuse(f"sparse member {self.name!r} at offset {self.offset} is not supported")
        cap = (
            MAX_PAX_BYTES
            if self.type in _PAX_TYPES
            else MAX_LONGNAME_BYTES
            if self.type in _LONG_TYPES
            else None
        )
        if cap is None:
            return super()._proc_member(tar)  # type: ignore[misc]
        if self.size > cap:
            raise _refuse(
                f"an extended header of {self.size} bytes at offset {self.offset} "
                f"(the cap is {cap})"
            )
        depth = getattr(tar, "_gate_header_depth", 0)
        if depth >= MAX_HEADER_CHAIN:
            raise _refuse(f"more than {MAX_HEADER_CHAIN} chained headers at offset {self.offset}")
        # The extended header's handler reads the next header through `fromtarfile` (recursion):
        # the depth on the TarFile counts how many are stacked in front of one member.
        tar._gate_header_depth = depth + 1
        try:
            return super()._proc_member(tar)  # type: ignore[misc]
        finally:
            tar._gate_header_depth = depth

    def _proc_gnusparse_00(self, next: Any, *_: Any) -> None:
        raise _refuse(f"sparse member {next.name!r} (GNU.sparse 0.0) is not supported")

    def _proc_gnusparse_01(self, next: Any, *_: Any) -> None:
        raise _refuse(f"sparse member {next.name!r} (GNU.sparse 0.1) is not supported")

    def _proc_gnusparse_10(self, next: Any, *_: Any) -> None:
        raise _refuse(f"sparse member {next.name!r} (GNU.sparse 1.0) is not supported")
