"""Records of the wrong shape from the network or a cache: one `KnowledgeError`, never a crash.

Advisory records are read with `.get` chains that assume objects and lists; a poisoned or damaged
copy (a list where an object belongs, a CVSS score that is a list) would raise `AttributeError`
or `TypeError` deep inside. `shape_checked` turns any of those into a `KnowledgeError` naming the
source, so the whole document is invalid and the next source is used instead (issue 14).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from gate.errors import KnowledgeError

P = ParamSpec("P")
R = TypeVar("R")

#: What reading a record of the wrong shape raises.
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError)


def shape_checked(parse: Callable[P, R]) -> Callable[P, R]:
    """Wrap `parse(data, source, ...)`: a shape error becomes `KnowledgeError` naming `source`."""

    @functools.wraps(parse)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return parse(*args, **kwargs)
        except SHAPE_ERRORS as e:
            source = kwargs.get("source", args[1] if len(args) > 1 else parse.__name__)
            raise KnowledgeError(
                f"{source}: a record has an unexpected shape ({type(e).__name__}: {str(e)[:120]})",
                hint="the data is damaged or was tampered with; it is not used",
            ) from e

    return checked
