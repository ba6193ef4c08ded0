"""Two real GRPOTrainer steps on CPU with alftc's reward function.

The model is a 2-layer Llama with hidden size 16, randomly initialised from a
config, and the tokenizer is a word-level vocabulary built in memory, so no
weights or data are downloaded.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")

from alftc.adapters.trl import AlftcReward  # noqa: E402
from alftc.runtime import TableFile  # noqa: E402
from alftc.runtime.testing import make_document, plugin_row  # noqa: E402

WORDS = ["a", "b", "c", "what", "is", "?"]
NUM_GENERATIONS = 4


def first_word(text: str):
    """Answer = first word of the completion; an empty completion is unparseable."""
    words = text.split()
    return words[0] if words else None


class RecordingReward(AlftcReward):
    """AlftcReward that keeps every call's prompts, answers and rewards."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def __call__(self, prompts, completions, **kwargs):
        rewards = super().__call__(prompts, completions, **kwargs)
        self.calls.append((list(prompts), [first_word(c) for c in completions], list(rewards)))
        return rewards


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(["<pad>", "<eos>", "<unk>"] + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def build_model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


@pytest.mark.slow
def test_grpo_two_steps_with_alftc_reward(tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = build_tokenizer()
    model = build_model(tokenizer)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    estimator = TableFile(make_document([plugin_row(NUM_GENERATIONS)])).select("kl", "plugin")
    reward = RecordingReward(estimator, NUM_GENERATIONS, extractor=first_word)
    dataset = datasets.Dataset.from_dict({"prompt": ["what is a ?", "what is b ?", "what is c ?", "a b c ?"]})

    config = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=NUM_GENERATIONS,
        num_generations=NUM_GENERATIONS,
        max_completion_length=3,
        max_steps=2,
        learning_rate=0.05,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        seed=0,
        temperature=1.0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()

    # Every call saw whole groups of one prompt each.
    assert reward.calls, "the reward function was never called"
    for prompts, answers, rewards in reward.calls:
        assert len(prompts) % NUM_GENERATIONS == 0
        for start in range(0, len(prompts), NUM_GENERATIONS):
            assert len(set(prompts[start:start + NUM_GENERATIONS])) == 1

            # Rewards equal the table lookup at an independently counted c.
            group = answers[start:start + NUM_GENERATIONS]
            counts = Counter(a for a in group if a is not None)
            for answer, value in zip(group, rewards[start:start + NUM_GENERATIONS]):
                c = 1 if answer is None else counts[answer]
                assert value == pytest.approx(math.log(c / NUM_GENERATIONS))

    # The logged reward mean is finite.
    logged = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    assert logged
    assert all(math.isfinite(value) for value in logged)

    # Training moved the parameters.
    changed = [
        name for name, p in trainer.model.named_parameters() if not torch.equal(p.detach().cpu(), before[name])
    ]
    assert changed
