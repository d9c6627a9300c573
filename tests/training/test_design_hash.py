"""A run recorded by an earlier release is still the same design after fields were added."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweepfirst.spec import Workflow

# The bundled workflows as release 0.5 shipped them (commit 4d6c5e6, before budgets, peft blocks,
# parameter_names and drift existed), and the spec hashes that release recorded for them. They are
# copies, not workflows/: a bundled workflow may change its design in a later release (the
# quickstart did, to use ASHA), but a file a user kept from 0.5 must keep its hash.
WORKFLOWS = Path(__file__).resolve().parent / "release_0_5"
RECORDED = {"quickstart": "336a8c5e0a00c9e8", "default": "b92b45f2972662d8", "smoke": "90fc6e0788383e7d"}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_workflows_of_the_previous_release_keep_the_hash_it_recorded(name: str) -> None:
    workflow = Workflow.model_validate(yaml.safe_load((WORKFLOWS / f"{name}.yaml").read_text()))
    assert workflow.spec_hash() == RECORDED[name]


def test_a_new_field_set_away_from_its_default_is_a_different_design() -> None:
    raw = yaml.safe_load((WORKFLOWS / "quickstart.yaml").read_text())
    assert Workflow.model_validate({**raw, "drift": False}).spec_hash() != RECORDED["quickstart"]
    assert Workflow.model_validate({**raw, "drift": True}).spec_hash() == RECORDED["quickstart"]
    raw["training"] = {**raw["training"], "save_final_model": False}
    assert Workflow.model_validate(raw).spec_hash() != RECORDED["quickstart"]
