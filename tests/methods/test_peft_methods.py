"""Any peft method, and head_only: what each one trains, built on a tiny real BERT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sweepfirst.methods import complete_hyperparameters, get_method
from sweepfirst.tasks import get_task
from sweepfirst.training.hyperparameters import parse_hyperparameters


def build(tiny_bert_dir: Path, name: str, peft: dict[str, Any] | None = None, **values: Any) -> Any:
    from sweepfirst.training.models import build_model

    method = get_method(name, peft)
    hyperparameters = complete_hyperparameters(method, values)
    params = parse_hyperparameters(name, hyperparameters, peft=peft)
    return build_model(str(tiny_bert_dir), get_task("mrpc"), name, params, seed=0)


def trainable(model: Any) -> list[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def test_head_only_trains_the_classifier_and_nothing_of_the_encoder(tiny_bert_dir: Path) -> None:
    model = build(tiny_bert_dir, "head_only")
    names = trainable(model)
    # BertForSequenceClassification: the encoder is `bert` (embeddings, layers, pooler).
    assert names == ["classifier.weight", "classifier.bias"]
    assert all(not p.requires_grad for p in model.bert.parameters())


@pytest.mark.parametrize(
    ("name", "peft", "values", "adapter_marker"),
    [
        ("lora", None, {"lora_r": 4}, "lora_A"),
        ("dora", {"peft_type": "LORA", "use_dora": True}, {"r": 4}, "lora_magnitude_vector"),
        ("rslora", {"peft_type": "LORA", "use_rslora": True, "target_modules": ["query", "key", "value"]}, {}, "key.lora_A"),
        ("ia3", {"peft_type": "IA3"}, {}, "ia3_l"),
        ("adalora", {"peft_type": "ADALORA", "total_step": 10}, {"init_r": 6, "target_r": 2}, "lora_E"),
        ("loha", {"peft_type": "LOHA", "target_modules": ["query", "value"]}, {"r": 4, "alpha": 8}, "hada_w1_a"),
        ("lokr", {"peft_type": "LOKR", "target_modules": ["query", "value"]}, {"r": 4}, "lokr_w1"),
        ("prompt", {"peft_type": "PROMPT_TUNING"}, {"num_virtual_tokens": 5}, "prompt_encoder"),
    ],
)
def test_any_peft_method_from_its_config_trains_its_adapter_and_the_head(
    tiny_bert_dir: Path, name: str, peft: dict[str, Any] | None, values: dict[str, Any], adapter_marker: str
) -> None:
    import torch
    from peft import PeftModel

    model = build(tiny_bert_dir, name, peft, **values)
    assert isinstance(model, PeftModel)
    names = trainable(model)
    assert any(adapter_marker in n for n in names), names
    assert any("classifier" in n for n in names)
    total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for n, p in model.named_parameters() if p.requires_grad) < total
    # The config peft built is the definition plus the swept fields.
    config = model.peft_config["default"]
    for key, value in {**(peft or {}), **values}.items():
        if key != "peft_type":
            expected = set(value) if isinstance(value, list) else value
            got = getattr(config, "r" if key == "lora_r" else key)
            assert (set(got) if isinstance(got, (list, set)) else got) == expected, key
    # One training step runs: a forward pass with labels, a backward pass into the adapter.
    batch = {"input_ids": torch.randint(5, 100, (2, 12)), "attention_mask": torch.ones(2, 12, dtype=torch.long),
             "labels": torch.tensor([0, 1])}
    loss = model(**batch).loss
    loss.backward()
    assert any(p.grad is not None for n, p in model.named_parameters() if p.requires_grad and adapter_marker in n)


def test_a_peft_method_the_architecture_cannot_run_is_refused_when_built(tiny_bert_dir: Path) -> None:
    from sweepfirst.errors import ModelError

    # transformers 5's BERT takes no past key values, which prefix tuning needs.
    with pytest.raises(ModelError, match=r"peft's PREFIX_TUNING \(prefix\) cannot run on .*use PROMPT_TUNING"):
        build(tiny_bert_dir, "prefix", {"peft_type": "PREFIX_TUNING"}, num_virtual_tokens=5)


def test_model_config_dropouts_are_set_and_unknown_ones_refused(tiny_bert_dir: Path) -> None:
    from sweepfirst.errors import ModelError

    model = build(tiny_bert_dir, "full_finetune", hidden_dropout_prob=0.3, classifier_dropout=0.2)
    assert model.config.hidden_dropout_prob == 0.3 and model.config.classifier_dropout == 0.2
    assert model.dropout.p == 0.2
    with pytest.raises(ModelError, match="has no summary_first_dropout; its dropouts are attention_probs_dropout_prob"):
        build(tiny_bert_dir, "full_finetune", summary_first_dropout=0.1)
