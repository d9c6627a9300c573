"""A finished job's model is kept atomically: the adapter alone for LoRA (plus merged weights on
request), and reloading the adapter gives exactly the merged model."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification

from sweepfirst.drift.models import find_saved_model, load_tuned_model
from sweepfirst.tasks import get_task
from sweepfirst.training.final_model import publish_model, save_final_model
from sweepfirst.training.hyperparameters import parse_hyperparameters
from sweepfirst.training.models import apply_lora


def _trained_lora(tiny_bert_dir: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir), num_labels=2)
    params = parse_hyperparameters("lora", {"learning_rate": 1e-3, "per_device_train_batch_size": 8,
                                            "num_train_epochs": 1, "lora_r": 4, "lora_alpha": 8})
    model = apply_lora(base, params)
    with torch.no_grad():  # stand-in for training: non-zero B, so the adapter changes W
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    return model


def test_lora_keeps_the_adapter_and_on_request_the_merged_weights(tmp_path: Path, tiny_bert_dir: Path) -> None:
    model = _trained_lora(tiny_bert_dir)
    record = save_final_model(model, tmp_path, merged=True)
    assert record["kind"] == "adapter" and record["path"] == "final_model"
    assert (tmp_path / "final_model" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "final_model" / "model.safetensors").exists()
    merged = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "final_model_merged"))
    saved = find_saved_model(tmp_path)
    assert saved is not None and saved.kind == "adapter" and saved.sha256 == record["sha256"]
    rebuilt = load_tuned_model(saved, str(tiny_bert_dir), get_task("mrpc"))
    expected = merged.state_dict()
    for name, value in rebuilt.state_dict().items():
        assert torch.allclose(value, expected[name], atol=1e-6), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final_model", "final_model_merged"]  # no staging left


def test_publishing_again_replaces_the_old_copy_whole(tmp_path: Path, tiny_bert_dir: Path) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir), num_labels=2)
    folder = tmp_path / "final_model"
    publish_model(model, folder)
    (folder / "stale.txt").write_text("from an earlier attempt")
    publish_model(model, folder)
    assert not (folder / "stale.txt").exists() and (folder / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final_model"]
