"""The table row: one reward vector r_K[1..K] for a (family, method, variant, K)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import mpmath

__all__ = ["Row", "decimal_string", "row_key", "MIN_DIGITS"]

# Every stored decimal carries at least this many significant digits.
MIN_DIGITS = 30


def row_key(family: str, method: str, variant: str, K: int) -> str:
    """Return the key ``family/method/variant/K=K`` that names a row."""
    return f"{family}/{method}/{variant}/K={K}"


def decimal_string(x, digits: int = MIN_DIGITS) -> str:
    """Write an mpf (or exact rational) with ``digits`` significant digits.

    The caller's precision must carry the digits; this function only rounds.
    """
    x = mpmath.mpf(x) if not isinstance(x, mpmath.mpf) else x
    if x == 0:
        return "0"
    return mpmath.nstr(x, digits, strip_zeros=False, min_fixed=-5, max_fixed=5)


@dataclass(frozen=True)
class Row:
    """A finished table row.

    Attributes
    ----------
    family, method, variant, K
        What the row estimates and how: the row key.
    values_decimal
        r_K[c] for c = 1..K as decimal strings, at least 30 significant digits.
    bias_decimal, variance_decimal
        Worst-case weighted bias sup |p (B_r(p) - R(p))| and worst-case weighted
        variance sup p Var_p(r_K[N+1]) over 0 < p <= 1, as decimal strings.
    exact
        True when the row is exactly unbiased (a U-statistic table).
    facts
        Method-specific facts, JSON-serialisable.
    """

    family: str
    beta: str
    method: str
    variant: str
    K: int
    values_decimal: tuple[str, ...]
    bias_decimal: str
    variance_decimal: str
    exact: bool
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if len(self.values_decimal) != self.K:
            raise ValueError(f"row {self.key}: {len(self.values_decimal)} values for K = {self.K}")
        for text in self.values_decimal:
            if not math.isfinite(float(text)):
                raise ValueError(f"row {self.key}: non-finite value {text!r}")

    @property
    def key(self) -> str:
        return row_key(self.family, self.method, self.variant, self.K)

    @property
    def values(self) -> list[float]:
        return [float(text) for text in self.values_decimal]

    def to_json(self) -> dict[str, Any]:
        """Return the row as the JSON object stored in a table file."""
        return {
            "key": self.key,
            "family": self.family,
            "beta": self.beta,
            "method": self.method,
            "variant": self.variant,
            "K": self.K,
            "values": self.values,
            "values_decimal": list(self.values_decimal),
            "bias": float(self.bias_decimal),
            "bias_decimal": self.bias_decimal,
            "variance": float(self.variance_decimal),
            "variance_decimal": self.variance_decimal,
            "exact": self.exact,
            "facts": self.facts,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Row":
        return cls(
            family=obj["family"],
            beta=obj["beta"],
            method=obj["method"],
            variant=obj["variant"],
            K=int(obj["K"]),
            values_decimal=tuple(obj["values_decimal"]),
            bias_decimal=obj["bias_decimal"],
            variance_decimal=obj["variance_decimal"],
            exact=bool(obj["exact"]),
            facts=obj.get("facts", {}),
        )

    def sort_key(self):
        return (self.family, self.method, self.variant, self.K)


@dataclass(frozen=True)
class Draft:
    """A computed reward vector before its bias and variance are measured.

    Methods return drafts; the build measures sup bias and sup variance with two
    independent extremum searches, checks that they agree, and only then turns
    a draft into a :class:`Row`.

    Attributes
    ----------
    K, variant
        Group size and variant name (``default`` unless the row is one of
        several budgets of the same method).
    values
        r_K[c] for c = 1..K as mpmath numbers or exact Fractions, carrying at
        least ``digits`` correct significant digits.
    exact
        True when the row is exactly unbiased.
    digits
        Significant digits to store for each value (at least 30).
    facts
        Method-specific, JSON-serialisable facts.
    """

    K: int
    variant: str
    values: tuple
    exact: bool
    digits: int = MIN_DIGITS
    facts: dict[str, Any] = field(default_factory=dict)
