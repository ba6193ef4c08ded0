"""Tests of alftc.runtime: loading, lookup, grouping, None policy, torch in and out."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alftc.errors import InputError
from alftc.runtime import (
    CountRangeError,
    TableFile,
    TableFormatError,
    TableLookupError,
    counts_from_codes,
    load_table,
)
from alftc.runtime import grouping
from alftc.runtime.format import document_checksum
from alftc.runtime.testing import make_document, plugin_row, ustat_beta2_row, write_table

KS = (2, 3, 4, 5, 8, 16, 40)


def table_rows():
    rows = [plugin_row(K) for K in KS]
    rows += [ustat_beta2_row(K) for K in KS]
    rows += [plugin_row(K, b=2) for K in KS]
    return rows


@pytest.fixture(scope="module")
def table():
    return TableFile(make_document(table_rows()))


@pytest.fixture(scope="module")
def plugin(table):
    return table.select(family="kl", method="plugin")


@pytest.fixture(scope="module")
def ustat(table):
    return table.select(family="beta:2", method="ustat")


def brute_counts(group):
    """Count matches by comparing every pair; None matches nothing."""
    return [1 if a is None else sum(1 for b in group if b is not None and b == a) for a in group]


# ---- hand-worked groups -------------------------------------------------

def test_hand_worked_group_plugin(plugin):
    r = plugin.values(4)
    assert plugin.rewards([["a", "a", "b", "c"]]) == [[r[1], r[1], r[0], r[0]]]
    assert r[1] == pytest.approx(math.log(2 / 4))
    assert r[0] == pytest.approx(math.log(1 / 4))


def test_hand_worked_group_ustat(ustat):
    # r_4[c] = (c-1)/3 - 1: c = 2 gives -2/3, c = 1 gives -1.
    rewards = ustat.rewards([["a", "a", "b", "c"]])[0]
    assert rewards == pytest.approx([-2 / 3, -2 / 3, -1, -1])


def test_hand_worked_codes_and_counts(ustat):
    codes = np.array([[7, 7, 3, 9], [1, 1, 1, 1]])
    expected = np.array([[-2 / 3, -2 / 3, -1, -1], [0, 0, 0, 0]])
    np.testing.assert_allclose(ustat.rewards_from_codes(codes), expected)
    np.testing.assert_allclose(ustat.rewards_from_counts([[2, 2, 1, 1], [4, 4, 4, 4]], 4), expected)


def test_hand_worked_by_group_reordered(ustat):
    # Group "p" = [a, a, b, c] and group "q" = [x, x, x] interleaved.
    answers = ["x", "a", "b", "x", "a", "c", "x"]
    ids = ["q", "p", "p", "q", "p", "p", "q"]
    rewards = ustat.rewards_by_group(answers, ids)
    assert rewards == pytest.approx([0, -2 / 3, -1, 0, -2 / 3, -1, 0])


def test_variable_group_sizes(plugin):
    groups = [["a", "a"], ["a", "b", "a"], ["z"] * 5]
    rewards = plugin.rewards(groups)
    assert rewards[0] == pytest.approx([0.0, 0.0])
    assert rewards[1] == pytest.approx([math.log(2 / 3), math.log(1 / 3), math.log(2 / 3)])
    assert rewards[2] == pytest.approx([0.0] * 5)


# ---- None policy ----------------------------------------------------------

def test_none_singleton_counts_towards_K(plugin):
    rewards = plugin.rewards([["a", None, None, "a"]])[0]
    assert rewards == pytest.approx([math.log(2 / 4), math.log(1 / 4), math.log(1 / 4), math.log(2 / 4)])


def test_none_skip_returns_none(plugin):
    rewards = plugin.rewards([["a", None, "a", "b"]], invalid="skip")[0]
    assert rewards[1] is None
    assert rewards[0] == pytest.approx(math.log(2 / 4))


def test_none_value_policy(plugin):
    rewards = plugin.rewards([["a", None, "a", "b"]], invalid="value", invalid_value=-5.0)[0]
    assert rewards[1] == -5.0
    assert rewards[3] == pytest.approx(math.log(1 / 4))


def test_skip_on_arrays_gives_masked_array(plugin):
    codes = np.array([[1, 1, 2, 3]])
    valid = np.array([[True, True, True, False]])
    result = plugin.rewards_from_codes(codes, valid, invalid="skip")
    assert isinstance(result, np.ma.MaskedArray)
    assert result.mask.tolist() == [[False, False, False, True]]
    assert not np.isnan(result.data).any()


def test_invalid_policy_errors(plugin):
    with pytest.raises(InputError, match="unknown"):
        plugin.rewards([["a"] * 4], invalid="drop")
    with pytest.raises(InputError, match="finite invalid_value"):
        plugin.rewards([["a"] * 4], invalid="value")
    with pytest.raises(InputError, match="finite invalid_value"):
        plugin.rewards([["a"] * 4], invalid="value", invalid_value=float("nan"))
    with pytest.raises(InputError, match="invalid='value'"):
        plugin.rewards([["a"] * 4], invalid_value=1.0)


# ---- lookup errors --------------------------------------------------------

def test_missing_K_lists_available_and_build_command(plugin):
    with pytest.raises(TableLookupError) as info:
        plugin.rewards_from_counts([1, 2], 6)
    message = str(info.value)
    assert "K = 6" in message
    assert "2..5, 8, 16, 40" in message
    assert "alftc build --K 6 --family kl --method plugin" in message


def test_missing_K_in_group_list(plugin):
    with pytest.raises(TableLookupError, match="K = 7"):
        plugin.rewards([["a"] * 7])


def test_count_out_of_range_names_value(plugin):
    with pytest.raises(CountRangeError, match="count 5 is outside 1..K = 4"):
        plugin.rewards_from_counts([1, 5], 4)
    with pytest.raises(CountRangeError, match="count 0"):
        plugin.rewards_from_counts(np.array([0, 1]), 4)
    with pytest.raises(CountRangeError, match="count 3 at index"):
        plugin.rewards_from_counts(np.array([2, 3]), np.array([2, 2]))


def test_non_integer_counts_rejected(plugin):
    with pytest.raises(InputError, match="integers"):
        plugin.rewards_from_counts(np.array([1.5]), 4)
    np.testing.assert_allclose(plugin.rewards_from_counts(np.array([2.0]), 4), [math.log(0.5)])


def test_unknown_family_method_variant(table):
    with pytest.raises(TableLookupError, match="available families: beta:2, kl"):
        table.select(family="beta:3", method="plugin")
    with pytest.raises(TableLookupError, match="available methods: plugin"):
        table.select(family="kl", method="aqp")
    with pytest.raises(TableLookupError, match="available variants: default"):
        table.select(family="kl", method="plugin", variant="rho=1")


def test_family_names_compare_exactly(table):
    assert table.select(family="beta:2.0", method="ustat") is table.select(family="beta:4/2", method="ustat")
    assert table.select(family="beta:1", method="plugin").family == "kl"


def test_mixed_K_lookup(plugin):
    counts = np.array([1, 2, 3, 16])
    K = np.array([2, 2, 5, 16])
    expected = np.log(counts / K)
    np.testing.assert_allclose(plugin.rewards_from_counts(counts, K), expected)


def test_table_listing(table):
    assert ("kl", "plugin", "default") in table.choices()
    assert len(table.keys) == 3 * len(KS)
    assert str(table.keys[0]) == "beta:2/plugin/default/K=2"


def test_estimator_pickles(plugin):
    copy = pickle.loads(pickle.dumps(plugin))
    np.testing.assert_array_equal(copy.values(16), plugin.values(16))


# ---- loading and corruption ----------------------------------------------

@pytest.mark.parametrize("suffix", [".json", ".h5"])
def test_load_round_trip(tmp_path, suffix):
    path = write_table(tmp_path / f"t{suffix}", table_rows())
    loaded = load_table(path)
    np.testing.assert_allclose(
        loaded.select("beta:2", "ustat").values(5), [(c - 1) / 4 - 1 for c in range(1, 6)]
    )


@pytest.mark.parametrize("suffix", [".json", ".h5"])
def test_truncated_file_rejected(tmp_path, suffix):
    path = write_table(tmp_path / f"t{suffix}", table_rows())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TableFormatError):
        load_table(path)


def flip_value_byte(path, data: bytes, suffix: str) -> bytes:
    """Flip one bit inside a stored float64 value, so only the checksum can catch it."""
    raw = bytearray(data)
    if suffix == ".json":
        needle = json.dumps(math.log(1 / 40)).encode()
        position = raw.index(needle) + len(needle) - 2
        raw[position] = ord("1") if raw[position] != ord("1") else ord("2")
    else:
        needle = np.float64(math.log(1 / 40)).tobytes()
        position = bytes(raw).index(needle) + 3
        raw[position] ^= 0x01
    return bytes(raw)


@pytest.mark.parametrize("suffix", [".json", ".h5"])
def test_flipped_byte_rejected(tmp_path, suffix):
    path = write_table(tmp_path / f"t{suffix}", table_rows())
    path.write_bytes(flip_value_byte(path, path.read_bytes(), suffix))
    with pytest.raises(TableFormatError, match="checksum mismatch"):
        load_table(path)


def test_newer_schema_rejected(tmp_path):
    document = make_document(table_rows())
    document["schema_version"] = 99
    document["checksum"]["value"] = document_checksum(document)
    path = tmp_path / "new.json"
    path.write_text(json.dumps(document))
    with pytest.raises(TableFormatError, match="upgrade alftc"):
        load_table(path)


def test_missing_file(tmp_path):
    with pytest.raises(TableFormatError, match="not found"):
        load_table(tmp_path / "absent.json")


def test_non_finite_value_rejected():
    document = make_document([plugin_row(4)])
    with pytest.raises(TableFormatError):
        # A non-finite value cannot even be checksummed as canonical JSON.
        document["rows"][0]["values"][0] = float("-inf")
        TableFile(document)
    from alftc.runtime.table import Estimator

    with pytest.raises(TableFormatError, match="non-finite"):
        Estimator("kl", "plugin", "default", {2: [0.0, float("nan")]})


def test_duplicate_row_rejected():
    document = make_document([plugin_row(4), plugin_row(4)])
    with pytest.raises(TableFormatError, match="twice"):
        TableFile(document)


# ---- import weight ---------------------------------------------------------

def test_import_loads_no_heavy_modules():
    code = (
        "import sys, alftc.runtime, alftc.runtime.extract\n"
        "heavy = {'mpmath', 'cvxpy', 'h5py', 'scipy', 'click', 'torch'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_json_load_loads_no_heavy_modules(tmp_path):
    path = write_table(tmp_path / "t.json", table_rows())
    code = (
        "import sys\n"
        "from alftc.runtime import load_table\n"
        f"load_table({str(path)!r}).select('kl', 'plugin').rewards([['a', 'a', 'b', 'c']])\n"
        "heavy = {'mpmath', 'cvxpy', 'h5py', 'scipy', 'click', 'torch'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---- counting kernels and property tests ----------------------------------

@pytest.mark.parametrize("K", [1, 2, 16, 33, 255, 256, 300])
def test_code_kernels_match_brute_force(K):
    rng = np.random.default_rng(K)
    codes = rng.integers(0, max(2, K // 3), size=(50, K))
    valid = rng.random((50, K)) > 0.2
    counts = counts_from_codes(codes, valid)
    for row, mask, got in zip(codes, valid, counts):
        group = [int(code) if ok else None for code, ok in zip(row, mask)]
        assert got.tolist() == brute_counts(group)


def test_sentinels_near_int64_min():
    low = np.iinfo(np.int64).min
    codes = np.array([[low, low, low + 1, 5]], dtype=np.int64)
    valid = np.array([[True, True, False, True]])
    assert counts_from_codes(codes, valid).tolist() == [[2, 2, 1, 1]]


answers_strategy = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "1", "1.0"]), st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.lists(answers_strategy, min_size=1, max_size=8), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_counts_match_brute_force(groups, seed):
    rows = [plugin_row(K) for K in range(1, 9)]
    estimator = TableFile(make_document(rows)).select("kl", "plugin")

    # Grouped lists, one group per inner list (variable K).
    rewards = estimator.rewards(groups)
    for group, got in zip(groups, rewards):
        K = len(group)
        expected = [math.log(c / K) for c in brute_counts(group)]
        assert got == pytest.approx(expected)
        assert all(math.isfinite(value) for value in got)

    # The same samples shuffled, grouped by explicit ids.
    flat = [(index, answer) for index, group in enumerate(groups) for answer in group]
    order = np.random.default_rng(seed).permutation(len(flat))
    shuffled = [flat[i] for i in order]
    by_id = estimator.rewards_by_group([a for _, a in shuffled], [f"g{i}" for i, _ in shuffled])
    expected_flat = [value for group in rewards for value in group]
    assert by_id == pytest.approx([expected_flat[i] for i in order])


@settings(max_examples=100, deadline=None)
@given(
    codes=st.lists(st.lists(st.integers(-3, 3), min_size=5, max_size=5), min_size=1, max_size=10),
    invalid=st.lists(st.booleans(), min_size=50, max_size=50),
)
def test_property_code_path_matches_list_path(codes, invalid):
    estimator = TableFile(make_document([plugin_row(5)])).select("kl", "plugin")
    codes = np.array(codes)
    valid = ~np.array(invalid[: codes.size]).reshape(codes.shape)
    from_codes = estimator.rewards_from_codes(codes, valid)
    groups = [[int(c) if ok else None for c, ok in zip(row, mask)] for row, mask in zip(codes, valid)]
    assert np.all(np.isfinite(from_codes))
    np.testing.assert_allclose(from_codes, np.array(estimator.rewards(groups)))
    by_group = estimator.rewards_by_group(codes.ravel(), np.repeat(np.arange(len(codes)), 5), valid=valid.ravel())
    np.testing.assert_allclose(by_group, from_codes.ravel())


def test_numeric_answers_compare_by_equality(plugin):
    # 1 and 1.0 are equal in Python, so they count together; "1" is a different answer.
    assert grouping.encode_answers([1, 1.0, "1", None])[0].tolist()[:2] == [1, 1]
    assert plugin.rewards([[1, 1.0, "1", None]])[0][0] == pytest.approx(math.log(2 / 4))


def test_unhashable_answer_rejected(plugin):
    with pytest.raises(InputError, match="hashable"):
        plugin.rewards([[["a"], ["a"]]])


def test_group_as_string_rejected(plugin):
    with pytest.raises(InputError, match="list of answers"):
        plugin.rewards(["abcd"])


def test_equivalence_callable(plugin):
    def same_number(a, b):
        return float(a) == float(b)

    rewards = plugin.rewards([["1", "1.0", "2", None]], equivalent=same_number)[0]
    assert rewards == pytest.approx([math.log(2 / 4), math.log(2 / 4), math.log(1 / 4), math.log(1 / 4)])


def test_by_group_length_mismatch(plugin):
    with pytest.raises(InputError, match="differ in length"):
        plugin.rewards_by_group(["a", "b"], [0])


# ---- torch ----------------------------------------------------------------

def test_torch_in_and_out(plugin):
    torch = pytest.importorskip("torch")
    codes = torch.tensor([[1, 1, 2, 3]])
    rewards = plugin.rewards_from_codes(codes)
    assert isinstance(rewards, torch.Tensor)
    assert rewards.device == codes.device
    assert torch.allclose(rewards, torch.log(torch.tensor([[0.5, 0.5, 0.25, 0.25]], dtype=torch.float64)))

    counts = torch.tensor([2, 1])
    assert isinstance(plugin.rewards_from_counts(counts, 4), torch.Tensor)
    by_group = plugin.rewards_by_group(torch.tensor([5, 5, 6]), torch.tensor([0, 0, 0]))
    assert isinstance(by_group, torch.Tensor)
    with pytest.raises(InputError, match="torch tensor"):
        plugin.rewards_from_codes(codes, invalid="skip")
