"""The plug-in table r_K[c] = R(c/K): what training jobs compute today.

Kept for comparison. Its weighted bias is Theta(1/K); for ``kl`` the worst
case is about 0.57/K.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath

from alftc.errors import InputError
from alftc.families import Family
from alftc.rows import Draft

NAME = "plugin"

__all__ = ["NAME", "check", "build", "plugin_values"]

# Decimal digits carried by non-rational plug-in values; 30 are stored.
_DPS = 50


def plugin_values(family: Family, K: int) -> tuple:
    """Return r_K[c] = R(c/K), exact for integer b >= 2, else mpf at 50 digits."""
    if family.polynomial_degree is not None:
        return tuple(family.target_exact(Fraction(c, K)) for c in range(1, K + 1))
    with mpmath.workdps(_DPS):
        return tuple(+family.target(mpmath.mpf(c) / K) for c in range(1, K + 1))


def check(family: Family, K: int, options) -> None:
    if K < 2:
        raise InputError(f"invalid K = {K}: a group needs at least 2 samples")


def build(family: Family, Ks, options):
    """Yield the plug-in draft for each K."""
    for K in Ks:
        yield Draft(
            K=K,
            variant="default",
            values=plugin_values(family, K),
            exact=False,
            facts={"formula": "R(c/K)"},
        )
