"""Exception classes, one per kind of failure."""

from __future__ import annotations

__all__ = ["AlftcError", "InputError", "TableFileError", "VerificationError", "SolverError"]


class AlftcError(Exception):
    """Base class of alftc's errors."""


class InputError(AlftcError, ValueError):
    """Invalid user input: a K, family, method, budget or precision."""


class TableFileError(AlftcError):
    """A table file is missing, truncated, corrupt or from a newer schema."""


class VerificationError(AlftcError):
    """An independent recomputation disagrees with a computed or stored figure."""


class SolverError(AlftcError):
    """A numerical solver failed; carries the best result so far when there is one."""

    def __init__(self, message: str, best=None):
        super().__init__(message)
        self.best = best
