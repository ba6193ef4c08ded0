"""verl reward manager on a hand-built DataProto (CPU, no Ray cluster)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")
protocol = pytest.importorskip("verl.protocol", reason="verl is installed with --no-deps; see docs/runtime.md")

from alftc.adapters.verl import AlftcRewardManager, compute_score, group_rewards, register_with_verl  # noqa: E402
from alftc.runtime import TableFile  # noqa: E402
from alftc.runtime.testing import make_document, plugin_row  # noqa: E402

VOCAB = ["<pad>", "<eos>", "<unk>", "\\boxed{4}", "\\boxed{5}", "\\boxed{6}", "so", "hmm"]


class WordTokenizer:
    """Decodes ids to space-joined words, dropping pad and eos like skip_special_tokens."""

    def decode(self, ids, skip_special_tokens=True):
        words = [VOCAB[int(i)] for i in ids]
        if skip_special_tokens:
            words = [w for w in words if w not in ("<pad>", "<eos>")]
        return " ".join(words)


def build_batch():
    """Two uids of 4 rollouts each, with right-padded responses of different lengths."""
    responses = [
        ["so", "\\boxed{4}"], ["\\boxed{4}"], ["hmm"], ["so", "\\boxed{5}"],
        ["\\boxed{6}"], ["\\boxed{6}"], ["so", "\\boxed{6}"], ["\\boxed{4}", "<eos>"],
    ]
    uids = np.array(["u1"] * 4 + ["u2"] * 4, dtype=object)
    prompt_length, response_length = 3, 3
    prompts = torch.full((8, prompt_length), VOCAB.index("so"))
    response_ids = torch.zeros((8, response_length), dtype=torch.long)
    attention = torch.zeros((8, prompt_length + response_length), dtype=torch.long)
    attention[:, :prompt_length] = 1
    for i, words in enumerate(responses):
        response_ids[i, : len(words)] = torch.tensor([VOCAB.index(w) for w in words])
        attention[i, prompt_length : prompt_length + len(words)] = 1
    data = protocol.DataProto.from_dict(
        tensors={"prompts": prompts, "responses": response_ids, "attention_mask": attention},
        non_tensors={"uid": uids, "data_source": np.array(["toy"] * 8, dtype=object)},
    )
    return data, responses


@pytest.fixture(scope="module")
def estimator():
    return TableFile(make_document([plugin_row(K) for K in (2, 3, 4)])).select("kl", "plugin")


def test_manager_rewards_at_last_token(estimator):
    data, responses = build_batch()
    manager = AlftcRewardManager(WordTokenizer(), 0, None, table=estimator)
    rewards = manager(data)
    assert rewards.shape == data.batch["responses"].shape
    assert rewards.dtype == torch.float32

    # Group u1 answers: 4, 4, None, 5; group u2: 6, 6, 6, 4 (eos not counted in length).
    expected = [math.log(2 / 4), math.log(2 / 4), math.log(1 / 4), math.log(1 / 4),
                math.log(3 / 4), math.log(3 / 4), math.log(3 / 4), math.log(1 / 4)]
    lengths = [len(words) for words in responses]
    for i, (length, value) in enumerate(zip(lengths, expected)):
        assert rewards[i, length - 1].item() == pytest.approx(value, rel=1e-6)
        assert torch.count_nonzero(rewards[i]).item() <= 1


def test_manager_shuffled_uids_same_rewards(estimator):
    data, _ = build_batch()
    manager = AlftcRewardManager(WordTokenizer(), 0, None, table=estimator)
    reference = manager(data)
    permutation = np.random.default_rng(3).permutation(len(data))
    shuffled = data.select_idxs(permutation)
    assert list(shuffled.non_tensor_batch["uid"]) != list(data.non_tensor_batch["uid"])
    torch.testing.assert_close(manager(shuffled), reference[torch.as_tensor(permutation)])


def test_manager_return_dict_has_pred(estimator):
    data, _ = build_batch()
    result = AlftcRewardManager(WordTokenizer(), 0, None, table=estimator)(data, return_dict=True)
    assert result["reward_extra_info"]["pred"][:4] == ["4", "4", "", "5"]
    assert len(result["reward_extra_info"]["score"]) == 8


def test_manager_requires_uid(estimator):
    data, _ = build_batch()
    data.non_tensor_batch.pop("uid")
    with pytest.raises(ValueError, match="uid"):
        AlftcRewardManager(WordTokenizer(), 0, None, table=estimator)(data)


def test_manager_rejects_skip(estimator):
    with pytest.raises(ValueError, match="skip"):
        AlftcRewardManager(WordTokenizer(), table=estimator, invalid="skip")


def test_register_with_verl():
    from verl.workers.reward_manager.registry import get_reward_manager_cls

    register_with_verl("alftc-test")
    assert get_reward_manager_cls("alftc-test") is AlftcRewardManager


def test_compute_score_returns_pred():
    result = compute_score("toy", "so \\boxed{1,000}.", "1000")
    assert result == {"score": 1.0, "pred": "1000"}
    assert compute_score("toy", "no answer", "3") == {"score": 0.0, "pred": ""}


def test_group_rewards_order_free(estimator):
    answers = ["4", "5", "4", None, "4", "4"]
    uids = ["a", "b", "a", "b", "b", "a"]
    rewards = group_rewards(estimator, answers, uids)
    counts = {uid: Counter(a for a, u in zip(answers, uids) if u == uid and a is not None) for uid in set(uids)}
    for answer, uid, value in zip(answers, uids, rewards):
        c = 1 if answer is None else counts[uid][answer]
        K = uids.count(uid)
        assert value == pytest.approx(math.log(c / K))
