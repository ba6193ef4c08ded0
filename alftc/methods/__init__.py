"""Table methods: each module turns (family, K) into reward vectors.

A method module exposes

``NAME``
    The method name used on the command line and in table rows.
``check(family, K, options)``
    Raise :class:`alftc.errors.InputError` when the method cannot build this
    (family, K) with these options, before any work starts.
``build(family, Ks, options)``
    Yield one :class:`alftc.rows.Draft` per K (and per variant), in K order.
    Ks is a sorted list, so a method may warm-start K + 1 from K.

``options`` is an :class:`alftc.methods.BuildOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BuildOptions", "METHOD_NAMES", "get_method"]

METHOD_NAMES = ("ustat", "plugin", "remez", "aqp")


@dataclass(frozen=True)
class BuildOptions:
    """Options shared by all methods.

    Attributes
    ----------
    dps
        Working precision in decimal digits, or None for the method's default
        sized to K.
    cache_dir
        Folder of the content-keyed result cache, or None for no cache.
    extra
        Method-specific options (for example budgets), JSON-serialisable.
    """

    dps: int | None = None
    cache_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def get_method(name: str):
    """Import and return the method module called ``name``."""
    import importlib

    from alftc.errors import InputError

    if name not in METHOD_NAMES:
        raise InputError(
            f"unknown method {name!r}; available methods: {', '.join(METHOD_NAMES)}"
        )
    return importlib.import_module(f"alftc.methods.{name}")
