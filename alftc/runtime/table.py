"""Table files and estimators: look up rewards r_K[c] by (K, count).

A :class:`TableFile` is one loaded table document. :meth:`TableFile.select`
picks one (family, method, variant) and returns an :class:`Estimator`, which
contains the rows of that choice for every K in the file and maps counts, integer
answer codes or Python answers to rewards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from alftc.errors import InputError
from alftc.runtime import grouping
from alftc.runtime._tensors import from_numpy_like, is_torch_tensor, to_numpy
from alftc.runtime.format import TableFormatError, check_document, read_document

__all__ = [
    "RowKey",
    "TableFile",
    "Estimator",
    "TableLookupError",
    "CountRangeError",
    "load_table",
    "INVALID_POLICIES",
]

INVALID_POLICIES = ("singleton", "skip", "value")


class TableLookupError(InputError, KeyError):
    """A requested family, method, variant or K is not in the table file."""

    def __str__(self) -> str:
        # KeyError quotes its message; show it as plain text like other errors.
        return str(self.args[0]) if self.args else ""


class CountRangeError(InputError):
    """A count c lies outside 1..K for its group."""


class RowKey(NamedTuple):
    """The four fields that name one table row."""

    family: str
    method: str
    variant: str
    K: int

    def __str__(self) -> str:
        return f"{self.family}/{self.method}/{self.variant}/K={self.K}"


def load_table(path: str | Path) -> "TableFile":
    """Load and check a table file (``.json`` or ``.h5``).

    Parameters
    ----------
    path
        The table file. ``.h5``/``.hdf5`` files are read with h5py, which is
        imported only then.

    Returns
    -------
    TableFile

    Raises
    ------
    alftc.runtime.format.TableFormatError
        When the file is missing, truncated, corrupt (checksum mismatch), has
        non-finite values, or uses a newer schema than this runtime reads.
    """
    document = read_document(path, check=True)
    return TableFile(document, source=str(path), _checked=True)


def _family_parameter(name: str):
    """Return the exact parameter b of ``kl`` or ``beta:B`` as a Fraction, or None if ``name`` is neither."""
    from fractions import Fraction

    text = name.strip().lower()
    if text == "kl":
        return Fraction(1)
    prefix, sep, parameter = text.partition(":")
    if sep != ":" or prefix != "beta":
        return None
    try:
        return Fraction(parameter.strip())
    except (ValueError, ZeroDivisionError):
        return None


class TableFile:
    """A loaded table document: every row, indexed by :class:`RowKey`.

    Build one with :func:`load_table`, or from an in-memory document with
    ``TableFile(document)``, which checks the document the same way.

    Attributes
    ----------
    document
        The decoded document (schema, parameters, rows, checksum).
    source
        The file the document came from, or ``"<document>"``.
    """

    def __init__(self, document: dict[str, Any], *, source: str = "<document>", _checked: bool = False):
        if not _checked:
            check_document(document, source)
        self.document = document
        self.source = source
        self._rows: dict[RowKey, dict[str, Any]] = {}
        for row in document.get("rows", []):
            key = RowKey(str(row["family"]), str(row["method"]), str(row["variant"]), int(row["K"]))
            if key in self._rows:
                raise TableFormatError(f"{source}: row {key} appears twice; the file is corrupt")
            self._rows[key] = row
        self._estimators: dict[tuple[str, str, str], Estimator] = {}

    def __repr__(self) -> str:
        return f"TableFile({self.source!r}, {len(self._rows)} rows)"

    @property
    def keys(self) -> list[RowKey]:
        """All row keys, sorted by (family, method, variant, K)."""
        return sorted(self._rows)

    @property
    def checksum(self) -> str:
        """The SHA-256 checksum stored in the file."""
        return str(self.document["checksum"]["value"])

    def choices(self) -> list[tuple[str, str, str]]:
        """Return the sorted (family, method, variant) triples the file contains."""
        return sorted({(key.family, key.method, key.variant) for key in self._rows})

    def row(self, family: str, method: str, variant: str, K: int) -> dict[str, Any]:
        """Return the stored row object (values, bias, variance, facts) for one key."""
        estimator = self.select(family=family, method=method, variant=variant)
        return self._rows[RowKey(estimator.family, method, variant, estimator._check_K_scalar(K))]

    def select(self, family: str, method: str, variant: str = "default") -> "Estimator":
        """Return the estimator for one (family, method, variant), over all K in the file.

        Parameters
        ----------
        family
            ``kl`` or ``beta:B``. B is compared as an exact number, so
            ``beta:2``, ``beta:2.0`` and ``beta:4/2`` name the same family.
        method
            ``ustat``, ``plugin``, ``remez`` or ``aqp``.
        variant
            The row variant, ``default`` unless the method has several budgets
            (``rho=1``, ``rho=2``, ...).

        Raises
        ------
        TableLookupError
            When the file has no row for the choice; the message lists what it has.
        """
        family_name = self._resolve_family(family)
        cache_key = (family_name, method, variant)
        cached = self._estimators.get(cache_key)
        if cached is not None:
            return cached

        rows = {
            key.K: row
            for key, row in self._rows.items()
            if (key.family, key.method, key.variant) == cache_key
        }
        if not rows:
            raise TableLookupError(self._missing_choice_message(family_name, method, variant))
        estimator = Estimator(
            family=family_name,
            method=method,
            variant=variant,
            values={K: row["values"] for K, row in rows.items()},
            source=self.source,
        )
        self._estimators[cache_key] = estimator
        return estimator

    def _resolve_family(self, family: str) -> str:
        requested = _family_parameter(family)
        names = sorted({key.family for key in self._rows})
        for name in names:
            if name == family or (requested is not None and _family_parameter(name) == requested):
                return name
        raise TableLookupError(
            f"family {family!r} is not in table {self.source}; available families: "
            f"{', '.join(names) or 'none'}. Add it with 'alftc build --family {family} ...'"
        )

    def _missing_choice_message(self, family: str, method: str, variant: str) -> str:
        methods = sorted({key.method for key in self._rows if key.family == family})
        known = ("ustat", "plugin", "remez", "aqp")
        if method not in known:
            return (
                f"unknown method {method!r}; alftc's methods are {', '.join(known)}, and table "
                f"{self.source} has {', '.join(methods)} for family {family}"
            )
        if method not in methods:
            return (
                f"method {method!r} is not in table {self.source} for family {family}; "
                f"available methods: {', '.join(methods)}. Add it with "
                f"'alftc build --family {family} --method {method} ...'"
            )
        variants = sorted(
            {key.variant for key in self._rows if key.family == family and key.method == method}
        )
        return (
            f"variant {variant!r} is not in table {self.source} for {family}/{method}; "
            f"available variants: {', '.join(variants)}"
        )


class Estimator:
    """Reward tables r_K[1..K] of one (family, method, variant), for several K.

    Every method accepts any K in :attr:`Ks`, and groups of different sizes can
    be mixed in one call. Rewards are float64 and always finite: the
    constructor rejects a non-finite table value.

    Unparseable answers (``None`` in Python input, ``valid=False`` in array
    input) follow the ``invalid`` policy:

    ``"singleton"`` (default)
        The sample gets r_K[1], as a unique answer. Two unparseable samples
        never match each other.
    ``"skip"``
        No reward: ``None`` in list output, a masked entry in a
        :class:`numpy.ma.MaskedArray` for array output. Torch input rejects
        this policy, since a tensor has no mask.
    ``"value"``
        The fixed reward ``invalid_value`` (a finite float).

    Under every policy an unparseable sample still counts towards K, the
    group size, and never matches any answer. That keeps the sampling model
    of the table: each of the K - 1 other samples gives the same answer with
    probability p, and an unparseable sample is simply one that did not.
    Dropping it would shrink K and condition on parseability, which biases
    the estimate.
    """

    def __init__(self, family: str, method: str, variant: str, values: dict[int, Sequence[float]],
                 source: str = "<document>"):
        self.family = family
        self.method = method
        self.variant = variant
        self.source = source
        Ks = sorted(int(K) for K in values)
        if not Ks or Ks[0] < 1:
            raise TableFormatError(f"{source}: {self.name} has no rows or a K below 1")

        # One flat lookup array: row K starts at offsets[K], so counts of mixed
        # K map to rewards with a single gather.
        offsets = np.full(Ks[-1] + 1, -1, dtype=np.int64)
        flat = []
        start = 0
        for K in Ks:
            row = np.asarray(values[K], dtype=np.float64)
            if row.shape != (K,):
                raise TableFormatError(f"{source}: row {self.name}/K={K} has {row.size} values, expected {K}")
            if not np.all(np.isfinite(row)):
                bad = row[~np.isfinite(row)][0]
                raise TableFormatError(
                    f"{source}: row {self.name}/K={K} contains the non-finite value {bad}; "
                    f"the file is corrupt, rebuild it with 'alftc build'"
                )
            offsets[K] = start
            flat.append(row)
            start += K
        self._offsets = offsets
        self._flat = np.concatenate(flat)
        self._flat.setflags(write=False)
        # Row K behind one unused slot, so that padded[c] = r_K[c].
        self._padded = {K: np.concatenate(([0.0], self._row(K))) for K in Ks}
        self.Ks: tuple[int, ...] = tuple(Ks)

    @property
    def name(self) -> str:
        """``family/method/variant``."""
        return f"{self.family}/{self.method}/{self.variant}"

    def __repr__(self) -> str:
        return f"Estimator({self.name!r}, Ks={list(self.Ks)})"

    def values(self, K: int) -> np.ndarray:
        """Return the read-only row r_K[c] for c = 1..K (index c - 1)."""
        return self._row(self._check_K_scalar(K))

    def _row(self, K: int) -> np.ndarray:
        # K must be in self.Ks.
        start = self._offsets[K]
        return self._flat[start:start + K]

    # ---- lookup ---------------------------------------------------------

    def rewards_from_counts(self, counts, K):
        """Look up r_K[c] for an array of counts.

        Parameters
        ----------
        counts
            Integer array (any shape), a torch tensor, or a nested list: the
            number of samples in the group with the same answer, itself
            included, 1 <= c <= K.
        K
            Group size, an int or an integer array broadcastable to ``counts``.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            float64 rewards of the broadcast shape. A torch input gives a
            tensor on the input's device.

        Raises
        ------
        TableLookupError
            When a K has no row in the table.
        CountRangeError
            When a count is outside 1..K.
        """
        like = counts if is_torch_tensor(counts) else K
        counts_array = to_numpy(counts)
        K_array = to_numpy(K)
        result = self._lookup(counts_array, K_array)
        return from_numpy_like(result, like)

    def _lookup(self, counts, K) -> np.ndarray:
        counts = _as_integers(counts, "counts")
        K = _as_integers(K, "K")
        self._check_Ks(K)
        if K.ndim == 0:
            # One K: the padded row is indexed by the count itself, any integer dtype.
            # Fancy indexing reads uint8 counts faster than take(), which casts them first.
            k = int(K)
            if counts.size:
                low, high = int(counts.min()), int(counts.max())
                if low < 1 or high > k:
                    bad = low if low < 1 else high
                    raise CountRangeError(
                        f"count {bad} is outside 1..K = {k}; a count includes the sample itself"
                    )
            return self._padded[k][counts]

        K = np.broadcast_to(K, np.broadcast_shapes(K.shape, counts.shape))
        counts = np.broadcast_to(counts, K.shape)
        bad = (counts < 1) | (counts > K)
        if np.any(bad):
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise CountRangeError(
                f"count {counts[index]} at index {index} is outside 1..K = {K[index]}; "
                f"a count includes the sample itself"
            )
        return self._flat.take(self._offsets[K] - 1 + counts)

    def _check_K_scalar(self, K) -> int:
        self._check_Ks(np.asarray(K, dtype=np.int64))
        return int(K)

    def _check_Ks(self, K: np.ndarray) -> None:
        if K.size == 0:
            return
        low, high = int(K.min()), int(K.max())
        if low >= 1 and high < self._offsets.size:
            absent = self._offsets[K] < 0
            if not np.any(absent):
                return
            missing = np.unique(K[absent]).tolist()
        else:
            missing = [
                int(k) for k in np.unique(K)
                if k < 1 or k >= self._offsets.size or self._offsets[k] < 0
            ]
        family_flag = f"--family {self.family} --method {self.method}"
        raise TableLookupError(
            f"K = {', '.join(map(str, missing))} not in table {self.source} for {self.name}; "
            f"available K: {_format_Ks(self.Ks)}. Add it with "
            f"'alftc build --K {','.join(map(str, missing))} {family_flag} --out DIR'"
        )

    # ---- grouped answers ------------------------------------------------

    def rewards_from_codes(self, codes, valid=None, *, invalid: str = "singleton",
                           invalid_value: float | None = None):
        """Count equal integer codes within each row and look up their rewards.

        Parameters
        ----------
        codes
            Integer array of shape (groups, K), or a torch tensor: one row
            per group, equal codes meaning equal answers.
        valid
            Optional bool array of the same shape; False marks an
            unparseable answer, handled by ``invalid``.
        invalid, invalid_value
            Policy for unparseable answers; see the class docstring.

        Returns
        -------
        numpy.ndarray, numpy.ma.MaskedArray or torch.Tensor
            float64 rewards of shape (groups, K). With ``invalid="skip"`` and
            an unparseable answer present, a masked array.

        Notes
        -----
        Counting costs O(K^2) per group for K <= 255 (K vectorised compare
        passes, faster there than sorting), and O(K log K) by sorting each
        row above.
        """
        policy = _check_policy(invalid, invalid_value, torch_input=is_torch_tensor(codes))
        codes_array = to_numpy(codes)
        valid_array = None if valid is None else np.asarray(to_numpy(valid), dtype=bool)
        if codes_array.ndim != 2:
            raise InputError(f"codes must have shape (groups, K), got shape {codes_array.shape}")
        counts = grouping.counts_from_codes(codes_array, valid_array)
        rewards = self._lookup(counts, np.int64(codes_array.shape[1]))
        rewards = _apply_policy(rewards, valid_array, policy, invalid_value)
        return from_numpy_like(rewards, codes)

    def rewards(self, groups: Sequence[Sequence[Any]], *, invalid: str = "singleton",
                invalid_value: float | None = None, equivalent=None) -> list[list[float | None]]:
        """Map groups of hashable answers to rewards, one group per inner list.

        Parameters
        ----------
        groups
            A list of groups, each a list of hashable answers (``None`` for an
            unparseable one). K of each group is its length, so groups may
            differ in size.
        invalid, invalid_value
            Policy for ``None`` answers; see the class docstring.
        equivalent
            Optional callable ``equivalent(a, b) -> bool`` replacing exact
            equality. It is called O(K^2) times per group and must be an
            equivalence relation (answers are grouped with the first earlier
            class representative it matches).

        Returns
        -------
        list of list of float or None
            Rewards in the shape of ``groups``; ``None`` only under
            ``invalid="skip"``.
        """
        policy = _check_policy(invalid, invalid_value, torch_input=False)
        flat, sizes = grouping.flatten_groups(groups)
        if equivalent is not None:
            codes = grouping.codes_with_equivalence(groups, equivalent)
        else:
            codes = None
        if sizes and min(sizes) == max(sizes):
            K = sizes[0]
            if codes is None:
                codes, valid = grouping.encode_answers(flat)
            else:
                valid = np.array([answer is not None for answer in flat], dtype=bool)
            codes = codes.reshape(len(sizes), K)
            valid = valid.reshape(len(sizes), K)
            counts = grouping.counts_from_codes(codes, valid).ravel()
            K_array = np.int64(K)
        else:
            group_ids = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
            if codes is None:
                codes, valid = grouping.encode_answers(flat)
            else:
                valid = np.array([answer is not None for answer in flat], dtype=bool)
            counts, K_array = grouping.counts_by_group_codes(codes, valid, group_ids)
            valid = valid.ravel()
        rewards = self._lookup(counts, K_array).ravel()
        values = _policy_list(rewards, valid.ravel(), policy, invalid_value)
        return grouping.split_by_sizes(values, sizes)

    def rewards_by_group(self, answers, group_ids, *, valid=None, invalid: str = "singleton",
                         invalid_value: float | None = None):
        """Map answers to rewards, counting within groups named by explicit ids.

        The batch may be in any order and groups may differ in size: K of a
        group is the number of samples carrying its id.

        Parameters
        ----------
        answers
            A flat sequence of hashable answers (``None`` when unparseable), or
            an integer array / torch tensor of answer codes.
        group_ids
            A flat sequence of hashable group ids (or an array / tensor) of the
            same length.
        valid
            For array input, an optional bool mask; False marks an
            unparseable answer.
        invalid, invalid_value
            Policy for unparseable answers; see the class docstring.

        Returns
        -------
        list of float or None, numpy.ndarray, numpy.ma.MaskedArray or torch.Tensor
            One reward per sample, in input order. List input gives a list;
            array input an array; tensor input a tensor on the same device.
        """
        torch_input = is_torch_tensor(answers)
        policy = _check_policy(invalid, invalid_value, torch_input=torch_input)
        list_input = not (isinstance(answers, np.ndarray) or torch_input)
        if list_input:
            answers = list(answers)
            codes, valid_array = grouping.encode_answers(answers)
        else:
            codes = to_numpy(answers).ravel()
            valid_array = (np.ones(codes.shape, dtype=bool) if valid is None
                           else np.asarray(to_numpy(valid), dtype=bool).ravel())
        ids = grouping.encode_group_ids(group_ids)
        if ids.shape != codes.shape:
            raise InputError(
                f"answers and group_ids differ in length ({codes.size} and {ids.size}); "
                f"give one group id per answer"
            )
        counts, K = grouping.counts_by_group_codes(codes, valid_array, ids)
        rewards = self._lookup(counts, K)
        if list_input:
            return _policy_list(rewards, valid_array, policy, invalid_value)
        rewards = _apply_policy(rewards, valid_array, policy, invalid_value)
        return from_numpy_like(rewards, answers)


def _format_Ks(Ks: Sequence[int]) -> str:
    """Write sorted K values compactly, collapsing runs: ``2..8, 16, 32``."""
    parts = []
    start = previous = Ks[0]
    for K in list(Ks[1:]) + [None]:
        if K is not None and K == previous + 1:
            previous = K
            continue
        parts.append(str(start) if start == previous else f"{start}..{previous}")
        if K is not None:
            start = previous = K
    return ", ".join(parts)


def _as_integers(value, name: str) -> np.ndarray:
    """Return ``value`` as an integer array, accepting floats only when they are whole."""
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.integer):
        return array
    if array.size == 0:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype(np.int64)
    raise InputError(f"{name} must be integers, got dtype {array.dtype} (first value {array.flat[0]!r})")


def _check_policy(invalid: str, invalid_value, torch_input: bool) -> str:
    if invalid not in INVALID_POLICIES:
        raise InputError(f"invalid policy {invalid!r} is unknown; use one of {', '.join(INVALID_POLICIES)}")
    if invalid == "value":
        if invalid_value is None or not np.isfinite(float(invalid_value)):
            raise InputError(
                f"invalid='value' needs a finite invalid_value, got {invalid_value!r}"
            )
    elif invalid_value is not None:
        raise InputError(f"invalid_value={invalid_value!r} is set but invalid={invalid!r}; use invalid='value'")
    if invalid == "skip" and torch_input:
        raise InputError(
            "invalid='skip' cannot mark skipped samples in a torch tensor; use invalid='value' "
            "or 'singleton', or pass numpy arrays to get a masked array"
        )
    return invalid


def _apply_policy(rewards: np.ndarray, valid, policy: str, invalid_value):
    if valid is None or policy == "singleton" or bool(np.all(valid)):
        return rewards
    valid = np.broadcast_to(valid, rewards.shape)
    if policy == "value":
        return np.where(valid, rewards, np.float64(invalid_value))
    return np.ma.MaskedArray(rewards, mask=~valid)


def _policy_list(rewards: np.ndarray, valid: np.ndarray, policy: str, invalid_value) -> list:
    values = rewards.tolist()
    if policy == "singleton" or bool(np.all(valid)):
        return values
    replacement = None if policy == "skip" else float(invalid_value)
    for index in np.flatnonzero(~valid).tolist():
        values[index] = replacement
    return values
