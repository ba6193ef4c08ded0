"""Train with TRL's GRPOTrainer and an alftc group-count reward.

The table file travels with the job: by default the script reads
``tables/alftc-tables.json`` relative to the repository this script sits in,
and ``--table`` points elsewhere (copy the file next to your job script on a
cluster). Nothing reads the table from the network.

Example::

    python examples/trl_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct \\
        --dataset prompts.jsonl --family kl --method aqp --num-generations 8

``--dataset`` is a JSON Lines file with a ``prompt`` field per line. The model
is whatever ``--model`` names for ``from_pretrained`` (a local directory or a
hub id your environment can reach).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "tables" / "alftc-tables.json"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="GRPO with an alftc group-count reward.")
    parser.add_argument("--model", required=True, help="model name or local directory for from_pretrained")
    parser.add_argument("--dataset", required=True, type=Path, help="JSON Lines file with a 'prompt' field")
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE, help="alftc table file (.json or .h5)")
    parser.add_argument("--family", default="kl", help="table family: kl or beta:B")
    parser.add_argument("--method", default="aqp", help="table method: ustat, plugin, remez or aqp")
    parser.add_argument("--variant", default="default", help="table variant, e.g. default or rho=1")
    parser.add_argument("--num-generations", type=int, default=8, help="group size K")
    parser.add_argument("--per-device-batch-size", type=int, default=8,
                        help="completions per device per step; keep it a multiple of --num-generations")
    parser.add_argument("--max-completion-length", type=int, default=512, help="tokens per completion")
    parser.add_argument("--max-steps", type=int, default=100, help="optimizer steps")
    parser.add_argument("--output-dir", type=Path, default=Path("grpo-alftc"), help="checkpoint directory")
    parser.add_argument("--invalid", default="singleton", choices=["singleton", "skip", "value"],
                        help="reward policy for completions without a parseable answer")
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()

    from datasets import load_dataset
    from trl import GRPOConfig, GRPOTrainer

    from alftc.adapters.trl import AlftcReward
    from alftc.runtime import load_table

    # Load and check the table before any model work, so a missing K fails fast.
    table = load_table(arguments.table)
    reward = AlftcReward(
        table,
        arguments.num_generations,
        family=arguments.family,
        method=arguments.method,
        variant=arguments.variant,
        invalid=arguments.invalid,
    )

    dataset = load_dataset("json", data_files=str(arguments.dataset), split="train")
    config = GRPOConfig(
        output_dir=str(arguments.output_dir),
        num_generations=arguments.num_generations,
        per_device_train_batch_size=arguments.per_device_batch_size,
        max_completion_length=arguments.max_completion_length,
        max_steps=arguments.max_steps,
        logging_steps=1,
    )
    trainer = GRPOTrainer(model=arguments.model, reward_funcs=[reward], args=config, train_dataset=dataset)
    trainer.train()


if __name__ == "__main__":
    main()
