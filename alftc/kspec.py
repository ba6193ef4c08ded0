"""Parse group-size specifications such as ``4..64`` or ``4,8,16..32``."""

from __future__ import annotations

from alftc.errors import InputError

__all__ = ["parse_K", "K_MIN", "K_MAX"]

K_MIN = 2
K_MAX = 4096


def parse_K(text: str) -> list[int]:
    """Parse a value, an inclusive range ``A..B`` or a comma list of both.

    Returns the K values in increasing order. Raises :class:`InputError` for
    anything else, for K outside [2, 4096], for an empty range and for a K
    that appears twice.
    """
    if text is None or not str(text).strip():
        raise InputError("invalid --K '': expected a value, a range A..B or a comma list, e.g. 4..64")
    values: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise InputError(f"invalid --K {text!r}: empty entry between commas; e.g. 4,8,16..32")
        if ".." in part:
            low_text, _, high_text = part.partition("..")
            low = _parse_int(low_text, part, text)
            high = _parse_int(high_text, part, text)
            if high < low:
                raise InputError(
                    f"invalid --K range {part!r}: the end {high} is below the start {low}; write {high}..{low}"
                )
            new = list(range(low, high + 1))
        else:
            new = [_parse_int(part, part, text)]
        for K in new:
            if K in values:
                raise InputError(f"invalid --K {text!r}: K = {K} appears more than once")
            values.append(K)
    return sorted(values)


def _parse_int(token: str, part: str, text: str) -> int:
    token = token.strip()
    if not token:
        raise InputError(
            f"invalid --K entry {part!r} in {text!r}: a range needs both ends, e.g. 4..64"
        )
    try:
        value = int(token)
    except ValueError:
        raise InputError(
            f"invalid --K entry {token!r} in {text!r}: expected an integer K, a range A..B "
            f"or a comma list, e.g. 4,8,16..32"
        ) from None
    if not K_MIN <= value <= K_MAX:
        raise InputError(
            f"invalid K = {value} in --K {text!r}: K is the group size and must be between "
            f"{K_MIN} and {K_MAX}"
        )
    return value
