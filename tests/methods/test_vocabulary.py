"""One hyperparameter vocabulary, the libraries' own: names, aliases, maps, checks, exports.

Every expectation is written out here (the TrainingArguments / peft field names are the
libraries' documented ones), not computed by the code under test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweepfirst.errors import SpecError
from sweepfirst.methods import complete_hyperparameters, get_method
from sweepfirst.spec import load_workflow, validate_workflow
from sweepfirst.sweep_config import sweep_config_for
from sweepfirst.vocabulary import resolve

REPO = Path(__file__).resolve().parents[2]


def design(sweep: dict[str, Any], *, method: str = "lora", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"sweep": {"method": "grid", **sweep}}
    if "peft" in extra:
        spec["peft"] = extra.pop("peft")
    return {"name": "vocab", "model": "bundled-minilm", "tasks": ["mrpc"],
            "methods": {method: spec}, "wandb": {"mode": "disabled"}, **extra}


def test_aliases_map_to_the_library_names_in_every_proposal() -> None:
    workflow = validate_workflow(design({"parameters": {
        "lr": {"values": [1e-5, 3e-5]}, "batch_size": {"value": 16}, "epochs": {"value": 2},
        "wd": {"value": 0.01}, "warmup": {"value": 0.1}, "r": {"values": [4, 8]},
        "grad_accum": {"value": 2}, "scheduler": {"value": "cosine"},
    }}), source="w")
    config = sweep_config_for(workflow, "mrpc", "lora")
    assert [p.name for p in config.parameters] == [
        "gradient_accumulation_steps", "learning_rate", "lora_r", "lr_scheduler_type",
        "num_train_epochs", "per_device_train_batch_size", "warmup_ratio", "weight_decay",
    ]
    assert dict(config.renamed)["batch_size"] == "per_device_train_batch_size"
    assert config.total_trials == 4


def test_any_training_argument_that_changes_training_is_a_knob() -> None:
    method = get_method("full_finetune")
    names = ["adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "label_smoothing_factor",
             "optim", "max_steps", "lr_scheduler_type", "gradient_accumulation_steps", "warmup_steps",
             "neftune_noise_alpha", "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"]
    resolution = method.resolve(names, where="w")
    assert {w: k.category for w, k in resolution.knobs.items()} == {
        **{n: "training" for n in names[:11]},
        **{n: "model_config" for n in names[11:]},
    }


def test_fields_sweepfirst_owns_are_accepted_and_listed_as_ignored() -> None:
    names = ["output_dir", "logging_steps", "report_to", "do_train", "eval_steps", "save_strategy",
             "evaluation_strategy", "overwrite_output_dir", "seed", "dataset_name", "max_seq_length"]
    resolution = get_method("lora").resolve(names, where="w")
    assert not resolution.knobs
    assert resolution.ignored["output_dir"] == "set by sweepfirst"
    assert resolution.ignored["max_seq_length"] == "set by data.max_seq_length"
    assert set(resolution.ignored) == set(names)


def test_every_unknown_name_in_one_sentence_with_the_sweep_files_path(tmp_path: Path) -> None:
    sweep_file = tmp_path / "my_sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({"method": "grid", "parameters": {
        "learning_rte": {"value": 1e-5}, "bacth_size": {"value": 8}, "gamma": {"value": 0.9},
        "lora_r": {"value": 8},
    }}))
    workflow = tmp_path / "w.yaml"
    workflow.write_text(yaml.safe_dump(design({"parameters": {"lr": {"value": 1e-4}}})))
    with pytest.raises(SpecError) as caught:
        load_workflow(workflow, sweep_files={"full_finetune": sweep_file})
    message = caught.value.message
    assert str(sweep_file) in message and "\n" not in message
    assert "4 names are not" in message
    assert "learning_rte (did you mean learning_rate?)" in message
    assert "bacth_size (did you mean batch_size?)" in message
    assert "lora_r (a peft setting; full_finetune has no adapter)" in message
    assert "gamma" in message and "parameter_names" in message


def test_a_workflow_parameter_names_map_renames_or_ignores() -> None:
    workflow = validate_workflow(design(
        {"parameters": {"my_lr": {"values": [1e-4, 2e-4]}, "shuffle": {"value": False}},
         "metric": {"name": "target_test/f1", "goal": "maximize"}},
        parameter_names={"my_lr": "learning_rate", "shuffle": None, "target_test/f1": "eval_f1"},
    ), source="w")
    config = sweep_config_for(workflow, "mrpc", "lora")
    assert [p.name for p in config.parameters] == ["learning_rate"]
    assert config.metric is not None and config.metric.name == "eval_f1"
    assert ("shuffle", "mapped away by the workflow's parameter_names") in config.ignored


def test_fp16_in_a_sweep_sets_training_precision_and_leaves_the_space() -> None:
    workflow = validate_workflow(design({"parameters": {"fp16": {"value": 1}, "lr": {"value": 1e-4}}}), source="w")
    assert workflow.training.precision == "fp16"
    assert [p.name for p in sweep_config_for(workflow, "mrpc", "lora").parameters] == ["learning_rate"]
    with pytest.raises(SpecError, match="precision is one setting of the whole workflow"):
        validate_workflow(design({"parameters": {"bf16": {"values": [0, 1]}}}), source="w")
    with pytest.raises(SpecError, match="asks for bf16 but training.precision is fp32"):
        validate_workflow(design({"parameters": {"bf16": {"value": True}}}, training={"precision": "fp32"}), source="w")


def test_model_name_or_path_must_be_the_workflows_model() -> None:
    same = design({"parameters": {"model_name_or_path": {"value": "sentence-transformers/all-MiniLM-L6-v2"}}})
    assert validate_workflow(same, source="w").model == "bundled-minilm"
    with pytest.raises(SpecError) as caught:
        validate_workflow(design({"parameters": {"model_name_or_path": {"value": "facebook/opt-1.3b"}}}), source="w")
    assert "'facebook/opt-1.3b' but the workflow trains 'bundled-minilm'" in caught.value.message
    assert "parameter_names: {model_name_or_path: null}" in caught.value.message


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"lr_scheduler_type": {"value": "cosin"}}, "'cosin' (did you mean 'cosine'?)"),
        ({"gradient_accumulation_steps": {"value": 0}}, "must be a whole number of at least 1"),
        ({"lora_dropout": {"min": 0.1, "max": 1.5}}, "lora_dropout must be a number in [0, 1)"),
        ({"learning_rate": {"values": ["1e-5", -1.0]}}, "learning_rate must be a number above 0"),
        ({"use_dora": {"value": "yes"}}, "use_dora must be true or false"),
    ],
)
def test_values_are_checked_against_the_libraries_types(parameters: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_workflow(design({"method": "random", "run_cap": 2, "parameters": parameters}), source="w")
    assert message in caught.value.message


def test_text_numbers_in_a_workflows_own_space_are_numbers() -> None:
    # The leftover of item 3: `1e-5` in the workflow file itself (PyYAML reads it as text).
    raw = yaml.safe_load("""
name: t
model: bundled-minilm
tasks: [mrpc]
methods:
  full_finetune:
    sweep:
      method: random
      run_cap: 2
      parameters:
        learning_rate: {distribution: log_uniform_values, min: 1e-5, max: 5e-5}
        weight_decay: {values: [0, 1e-2]}
        adam_epsilon: {value: 1e-8}
""")
    config = sweep_config_for(validate_workflow(raw, source="t"), "mrpc", "full_finetune")
    by_name = {p.name: p for p in config.parameters}
    assert (by_name["learning_rate"].min, by_name["learning_rate"].max) == (1e-5, 5e-5)
    assert by_name["weight_decay"].values == (0, 0.01) and by_name["adam_epsilon"].value == 1e-8


def test_peft_fields_belong_to_the_methods_own_peft_type() -> None:
    dora = get_method("dora", {"peft_type": "LORA", "use_dora": True})
    assert {w: k.target for w, k in dora.resolve(["r", "lora_alpha", "target_modules", "use_rslora"], where="w").knobs.items()} == {
        "r": "r", "lora_alpha": "lora_alpha", "target_modules": "target_modules", "use_rslora": "use_rslora"}
    assert dora.resolve(["r"], where="w").knobs["r"].name == "lora_r"  # the seed's export name
    ia3 = get_method("ia3", {"peft_type": "IA3"})
    assert ia3.resolve(["feedforward_modules"], where="w").knobs["feedforward_modules"].category == "peft"
    with pytest.raises(SpecError, match="a peft IA3 setting: lora_dropout"):
        resolve(["lora_dropout"], peft_type="IA3", method="ia3", where="w")
    loha = get_method("loha", {"peft_type": "LOHA"})
    assert loha.resolve(["lora_rank", "alpha"], where="w").knobs["lora_rank"].target == "r"
    with pytest.raises(SpecError, match="not a field of peft's LORA config"):
        get_method("dora", {"peft_type": "LORA", "learning_rate": 1e-4})
    with pytest.raises(SpecError, match="which the installed peft does not know"):
        get_method("x", {"peft_type": "LORAX"})
    with pytest.raises(SpecError, match="define it by its peft config"):
        get_method("dora")


def test_completed_hyperparameters_keep_the_seeds_baseline_and_names() -> None:
    assert complete_hyperparameters(get_method("lora"), {"lr": 3e-4, "bs": 16.0}) == {
        "learning_rate": 3e-4, "per_device_train_batch_size": 16, "num_train_epochs": 3,
        "warmup_ratio": 0.0, "lora_r": 8, "lora_alpha": 8, "lora_dropout": 0.0}
    assert complete_hyperparameters(get_method("head_only"), {})["learning_rate"] == 1e-3


def test_exports_carry_every_swept_name_with_the_seeds_variable_names(tmp_path: Path) -> None:
    from sweepfirst.analysis.exports import read_optimal_config, write_exports
    from sweepfirst.store.models import Selection

    hyperparameters = {"learning_rate": 1e-4, "per_device_train_batch_size": 16, "warmup_ratio": 0.1,
                       "num_train_epochs": 2, "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
                       "gradient_accumulation_steps": 2, "lr_scheduler_type": "cosine",
                       "target_modules": ["query", "value"]}
    selection = Selection(task="mrpc", method="dora", hyperparameters=hyperparameters, metric="eval_accuracy",
                          score=0.7, metrics={"eval_accuracy": 0.7, "sweep_budget": {"budget": "4 trials"}},
                          split="train_holdout", source="sweep")
    write_exports({("mrpc", "dora"): selection}, tmp_path, run_name="r")
    shell = (tmp_path / "optimal_hyperparams.sh").read_text()
    for line in ("export MRPC_DORA_LR=0.0001", "export MRPC_DORA_BS=16", "export MRPC_DORA_WU=0.1",
                 "export MRPC_DORA_EPOCHS=2", "export MRPC_DORA_R=8", "export MRPC_DORA_ALPHA=16",
                 "export MRPC_DORA_DROPOUT=0.05", "export MRPC_DORA_GRADIENT_ACCUMULATION_STEPS=2",
                 "export MRPC_DORA_LR_SCHEDULER_TYPE=cosine",
                 """export MRPC_DORA_TARGET_MODULES='["query", "value"]'"""):
        assert line in shell.splitlines(), line
    chosen = read_optimal_config(tmp_path / "optimal_hyperparameters.yaml", {"dora": {"peft_type": "LORA", "use_dora": True}})
    assert chosen[0].hyperparameters["gradient_accumulation_steps"] == 2


def test_validating_a_rich_workflow_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from sweepfirst.spec import validate_workflow\n"
        "validate_workflow({'name': 'w', 'model': 'bundled-minilm', 'tasks': ['mrpc'], 'methods': {"
        "'dora': {'peft': {'peft_type': 'LORA', 'use_dora': True}, 'sweep': {'method': 'grid', 'parameters': {"
        "'lr': {'values': [1e-4]}, 'gradient_accumulation_steps': {'value': 2}, 'optim': {'value': 'adamw_torch'},"
        "'hidden_dropout_prob': {'value': 0.2}, 'r': {'value': 8}}}}}}, source='w')\n"
        "print(','.join(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_tasks_and_methods_narrow_validation_and_a_bare_sweep_file_is_the_one_methods(tmp_path: Path) -> None:
    # eval_f1 is MRPC's; SST-2 reports only accuracy. With --tasks mrpc, SST-2 is not checked.
    raw = design({"metric": {"name": "eval/f1", "goal": "maximize"}, "parameters": {"lr": {"value": 1e-4}}})
    raw["tasks"] = ["mrpc", "sst2"]
    raw["methods"]["full_finetune"] = {"sweep": {"method": "grid", "parameters": {"lr": {"value": 1e-4}}}}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match="which task sst2 does not report"):
        load_workflow(path)
    assert load_workflow(path, tasks=["mrpc"]).tasks == ["mrpc"]
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"method": "grid", "parameters": {"epochs": {"values": [1, 2]}}}))
    from sweepfirst.spec import parse_sweep_config_options

    files = parse_sweep_config_options([str(sweep)])
    with pytest.raises(SpecError, match="names no method and the workflow has full_finetune, lora"):
        load_workflow(path, sweep_files=files, tasks=["mrpc"])
    narrowed = load_workflow(path, sweep_files=files, tasks=["mrpc"], methods=["full_finetune"])
    assert narrowed.methods["full_finetune"].sweep_file == str(sweep)
    assert sweep_config_for(narrowed, "mrpc", "full_finetune").total_trials == 2
