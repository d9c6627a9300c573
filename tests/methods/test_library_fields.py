"""sweepfirst/library_fields.py is what the installed transformers and peft say."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_generated_field_lists_match_the_installed_libraries() -> None:
    from sweepfirst.library_fields_gen import generate

    assert (REPO / "sweepfirst" / "library_fields.py").read_text() == generate(), (
        "transformers or peft changed: run `python -m sweepfirst.library_fields_gen --write` and "
        "review the vocabulary's lists"
    )


def test_the_field_lists_know_what_the_docs_name() -> None:
    from sweepfirst.library_fields import PEFT_CONFIGS, TRAINING_ARGUMENTS

    # TrainingArguments (transformers 5 docs): no warmup_ratio; warmup_steps takes a ratio too.
    assert {"learning_rate", "gradient_accumulation_steps", "lr_scheduler_type", "max_grad_norm",
            "adam_epsilon", "label_smoothing_factor", "optim", "warmup_steps"} <= set(TRAINING_ARGUMENTS)
    assert "warmup_ratio" not in TRAINING_ARGUMENTS
    assert "cosine" in TRAINING_ARGUMENTS["lr_scheduler_type"][1]
    assert {"r", "lora_alpha", "lora_dropout", "use_dora", "use_rslora", "target_modules"} <= set(PEFT_CONFIGS["LORA"])
    assert {"target_modules", "feedforward_modules"} <= set(PEFT_CONFIGS["IA3"])
    assert "task_type" not in PEFT_CONFIGS["LORA"] and "peft_type" not in PEFT_CONFIGS["LORA"]
