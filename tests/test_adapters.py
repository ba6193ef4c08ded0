"""Tests of the TRL and OpenRLHF adapters and of answer extraction, without training."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from alftc.adapters import completion_text, resolve_estimator
from alftc.adapters.openrlhf import group_rewards_2d, make_reward_func
from alftc.adapters.trl import AlftcReward, GroupSplitError
from alftc.errors import InputError
from alftc.runtime import TableFile, TableLookupError
from alftc.runtime.extract import extract_answer, extract_answer_phrase, extract_boxed, normalize_answer
from alftc.runtime.testing import make_document, plugin_row, ustat_beta2_row, write_table


@pytest.fixture(scope="module")
def table():
    return TableFile(make_document([plugin_row(K) for K in (2, 3, 4)] + [ustat_beta2_row(4)]))


def log_ratio(c, K):
    return math.log(c / K)


# ---- extraction ----------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{42}.", "42"),
        ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("nested \\boxed{\\sqrt{x^{2}}}", "\\sqrt{x^{2}}"),
        ("\\boxed{1,234,567}", "1234567"),
        ("\\boxed{(1,2)}", "(1,2)"),
        ("\\boxed{\\text{(B)}}", "(B)"),
        ("\\boxed 7 is it", "7"),
        ("\\fbox{3}", "3"),
        ("The answer is $5.0$.", "5"),
        ("Final answer: 0.50", "0.5"),
        ("the answer is  x + 1 \nand more", "x+1"),
        ("\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}"),
        ("\\boxed{90^\\circ}", "90"),
        ("\\boxed{-0.0}", "0"),
        ("no answer here", None),
        ("unclosed \\boxed{12", None),
        ("\\boxed{ }", None),
    ],
)
def test_extract_answer_cases(text, expected):
    assert extract_answer(text) == expected


def test_extract_parts():
    assert extract_boxed("a \\boxed{x} b \\boxed{y}") == "y"
    assert extract_boxed("no box") is None
    assert extract_answer_phrase("The answer is 3\nbecause") == "3"
    assert normalize_answer(None) is None
    assert normalize_answer("X") == "X"
    assert extract_answer(None) is None


# ---- TRL reward function -----------------------------------------------------------

def test_trl_reward_plain_completions(table):
    reward = AlftcReward(table, 4, family="kl", method="plugin")
    completions = ["\\boxed{1}", "\\boxed{1}", "\\boxed{2}", "nothing"]
    rewards = reward(prompts=["p"] * 4, completions=completions, completion_ids=None)
    assert rewards == pytest.approx([log_ratio(2, 4), log_ratio(2, 4), log_ratio(1, 4), log_ratio(1, 4)])


def test_trl_reward_conversational_completions(table):
    reward = AlftcReward(table, 2, family="kl", method="plugin")
    prompt = [{"role": "user", "content": "2+2?"}]
    completions = [
        [{"role": "assistant", "content": "The answer is 4."}],
        [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed{4}"}]}],
    ]
    assert reward([prompt, prompt], completions) == pytest.approx([0.0, 0.0])


def test_trl_reward_skip_policy(table):
    reward = AlftcReward(table, 4, family="kl", method="plugin", invalid="skip")
    rewards = reward(["p"] * 4, ["\\boxed{1}", "x", "\\boxed{1}", "\\boxed{1}"])
    assert rewards[1] is None
    assert rewards[0] == pytest.approx(log_ratio(3, 4))


def test_trl_reward_partial_group_explains_batch_rule(table):
    reward = AlftcReward(table, 4, family="kl", method="plugin")
    with pytest.raises(GroupSplitError, match="per_device_train_batch_size \\* steps_per_generation"):
        reward(["p"] * 6, ["\\boxed{1}"] * 6)


def test_trl_reward_mixed_prompts_in_chunk(table):
    reward = AlftcReward(table, 2, family="kl", method="plugin")
    with pytest.raises(GroupSplitError, match="do not share one prompt"):
        reward(["p", "q", "q", "q"], ["\\boxed{1}"] * 4)


def test_trl_reward_missing_K_fails_at_setup(table):
    with pytest.raises(TableLookupError, match="K = 8"):
        AlftcReward(table, 8, family="kl", method="plugin")


def test_trl_reward_needs_family_and_method(table):
    with pytest.raises(InputError, match="kl/plugin/default"):
        AlftcReward(table, 4)


def test_trl_reward_pickles_and_has_name(tmp_path):
    path = write_table(tmp_path / "t.json", [plugin_row(4)])
    reward = AlftcReward(str(path), 4, family="kl", method="plugin")
    assert reward.__name__ == "alftc_kl_plugin_default"
    copy = pickle.loads(pickle.dumps(reward))
    completions = ["\\boxed{1}"] * 4
    assert copy(["p"] * 4, completions) == reward(["p"] * 4, completions)


def test_trl_reward_logs_unparseable_fraction(table):
    logged = {}
    reward = AlftcReward(table, 2, family="kl", method="plugin")
    reward(["p", "p"], ["\\boxed{1}", "?"], log_metric=lambda name, value: logged.update({name: value}))
    assert logged == {"alftc_kl_plugin_default/unparseable_fraction": 0.5}


def test_trl_reward_gather_without_distributed(table):
    pytest.importorskip("torch")
    reward = AlftcReward(table, 2, family="kl", method="plugin", gather=True)
    assert reward(["p", "p"], ["\\boxed{1}", "\\boxed{1}"]) == pytest.approx([0.0, 0.0])


def test_completion_text_rejects_other_types():
    with pytest.raises(InputError, match="string or a list"):
        completion_text(42)
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"


def test_resolve_estimator_rejects_family_with_estimator(table):
    estimator = table.select("kl", "plugin")
    assert resolve_estimator(estimator) is estimator
    with pytest.raises(InputError, match="already the estimator"):
        resolve_estimator(estimator, family="kl")


# ---- OpenRLHF ---------------------------------------------------------------------

def test_openrlhf_group_rewards_2d_lists_and_codes(table):
    estimator = table.select("beta:2", "ustat")
    from_lists = group_rewards_2d(estimator, [["a", "a", "b", None]])
    from_codes = group_rewards_2d(estimator, np.array([[3, 3, 1, 2]]))
    np.testing.assert_allclose(from_lists, [[-2 / 3, -2 / 3, -1, -1]])
    np.testing.assert_allclose(from_codes, from_lists)


def test_openrlhf_group_rewards_2d_extractor_and_ragged(table):
    estimator = table.select("kl", "plugin")
    rewards = group_rewards_2d(estimator, [["\\boxed{1}", "\\boxed{1}"]], extractor=extract_answer)
    np.testing.assert_allclose(rewards, [[0.0, 0.0]])
    with pytest.raises(InputError, match="group sizes differ"):
        group_rewards_2d(estimator, [["a", "b"], ["a"]])
    masked = group_rewards_2d(estimator, [["a", None]], invalid="skip")
    assert masked.mask.tolist() == [[False, True]]


def test_openrlhf_reward_func_groups_by_prompt(table):
    pytest.importorskip("torch")
    func = make_reward_func(table, family="kl", method="plugin")
    prompts = ["Q1 ", "Q2 ", "Q1 ", "Q2 ", "Q1 "]
    responses = ["\\boxed{1}", "\\boxed{2}", "\\boxed{1}", "\\boxed{3}", "\\boxed{9}"]
    result = func([p + r for p, r in zip(prompts, responses)], prompts, [None] * 5)
    expected = [log_ratio(2, 3), log_ratio(1, 2), log_ratio(2, 3), log_ratio(1, 2), log_ratio(1, 3)]
    assert result["rewards"].tolist() == pytest.approx(expected, rel=1e-6)


def test_trl_example_help_lists_table_flag():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "trl_grpo.py"
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=True)
    assert "--table" in result.stdout
    assert "--num-generations" in result.stdout
