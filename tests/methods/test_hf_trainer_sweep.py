"""A W&B sweep YAML written for an HF Trainer script runs unchanged: sweep -> analysis -> production.

The swept values are read back from what the Trainer and peft saved in each job's checkpoint
(``training_args.bin``: the TrainingArguments the Trainer ran with; ``adapter_config.json``: the
LoRA config peft built), not from sweepfirst's own records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

#: As researchers write them for `wandb agent` + an HF example script: aliases, `1e-4` numbers
#: that PyYAML reads as text, `eval/accuracy`, Trainer fields sweepfirst sets itself, no run_cap.
SWEEP = """
program: run_glue.py
project: mrpc-lora
entity: someone
method: random
metric:
  name: eval/accuracy
  goal: maximize
parameters:
  model_name_or_path:
    value: {model}
  batch_size:
    values: [4, 8]
  lr:
    values: [1e-3, 3e-3]
  epochs:
    value: 1
  gradient_accumulation_steps:
    values: [1, 2]
  lr_scheduler_type:
    values: [cosine, constant_with_warmup]
  warmup_ratio:
    value: 1e-1
  r:
    value: 4
  lora_alpha:
    value: 8
  output_dir:
    value: /tmp/test-glue
  logging_steps:
    value: 10
  report_to:
    value: wandb
  do_train:
    value: 1
command:
  - ${{env}}
  - python
  - run_glue.py
  - ${{args}}
"""


def saved_arguments(job_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The TrainingArguments the Trainer saved, and peft's adapter config, from the last checkpoint."""
    import torch

    (checkpoint,) = sorted(job_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[-1:]
    args = torch.load(checkpoint / "training_args.bin", weights_only=False)
    adapter = json.loads((checkpoint / "adapter_config.json").read_text())
    return args, adapter


def test_an_hf_trainer_wandb_sweep_runs_and_the_trainer_used_its_values(
    tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path, engine_workflow_dict: Any
) -> None:
    tiny_workflow_dict = engine_workflow_dict
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP.format(model=tiny_bert_dir))
    assert yaml.safe_load(sweep.read_text())["parameters"]["lr"]["values"] == ["1e-3", "3e-3"]  # text
    workflow = tiny_workflow_dict(tiny_bert_dir, drift=False, **{
        "seeds.production": [42], "training.keep_checkpoints": True, "training.save_final_model": False,
        "data.max_train_samples": 40, "data.max_eval_samples": 16})
    workflow["methods"] = {"lora": workflow["methods"]["lora"]}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(workflow))
    state = tmp_path / "state"
    result = CliRunner().invoke(app, [
        "run", str(tmp_path / "w.yaml"), "--sweep-config", str(sweep), "--run-cap", "2", "--in-process",
        "--state-dir", str(state), "--data-dir", str(tiny_glue_dir)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert ("methods.lora.sweep.program, methods.lora.sweep.command, methods.lora.sweep.entity, "
            "methods.lora.sweep.project have no effect here") in output
    assert ("lora's sweep parameters with no effect here: do_train, logging_steps, output_dir, report_to "
            "(set by sweepfirst); model_name_or_path (the workflow's model)") in output
    assert "chosen from 2 of 2 planned trials; budget 2 trials; spent 2 trials" in output
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        assert run.phase == Phase.COMPLETED.value
        jobs = job_store.list_jobs(session, run.id)
        chosen = run_store.selections(session, run.id)[("mrpc", "lora")]
    sweep_jobs = [j for j in jobs if j.phase == JobPhase.SWEEP.value]
    production = [j for j in jobs if j.phase == JobPhase.PRODUCTION.value]
    assert len(sweep_jobs) == 2 and len(production) == 1  # --run-cap 2
    assert production[0].hyperparameters == chosen.hyperparameters
    for job in [*sweep_jobs, *production]:
        values = job.hyperparameters
        # Canonical names, the YAML's text numbers as numbers, inside the sweep's space.
        assert values["per_device_train_batch_size"] in (4, 8) and values["learning_rate"] in (1e-3, 3e-3)
        assert values["gradient_accumulation_steps"] in (1, 2)
        assert values["lr_scheduler_type"] in ("cosine", "constant_with_warmup")
        assert (values["warmup_ratio"], values["num_train_epochs"], values["lora_r"], values["lora_alpha"]) == (0.1, 1, 4, 8)
        assert not {"batch_size", "lr", "epochs", "r", "output_dir", "model_name_or_path"} & set(values)
        args, adapter = saved_arguments(ctx.job_dir(job.output_dir))
        assert args.per_device_train_batch_size == values["per_device_train_batch_size"]
        assert args.learning_rate == values["learning_rate"]
        assert args.gradient_accumulation_steps == values["gradient_accumulation_steps"]
        assert str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)) == values["lr_scheduler_type"]
        assert args.warmup_steps == 0.1 and args.num_train_epochs == 1
        assert args.output_dir == str(ctx.job_dir(job.output_dir))  # sweepfirst's, not /tmp/test-glue
        assert adapter["peft_type"] == "LORA" and adapter["r"] == 4 and adapter["lora_alpha"] == 8
        # The Trainer's step count follows the accumulation: 36 examples held in for the sweep
        # (40 - 4 held out: max_train_samples caps after the split) or 40 for production.
        record = json.loads((ctx.job_dir(job.output_dir) / "metrics.json").read_text())
        batches = -(-record["num_train_examples"] // values["per_device_train_batch_size"])
        accumulation = values["gradient_accumulation_steps"]
        assert record["global_step"] == batches // accumulation + (batches % accumulation > 0)
    shell = (ctx.run_dir(run.name) / "optimal_hyperparams.sh").read_text()
    for name in ("LR", "BS", "WU", "EPOCHS", "R", "ALPHA", "GRADIENT_ACCUMULATION_STEPS", "LR_SCHEDULER_TYPE"):
        assert f"export MRPC_LORA_{name}=" in shell, name
