"""Attempt causes, launch options and what analysis chose from.

- jobs: failures / losses / interrupts counted apart (only failures count toward max_attempts),
  the poison guard's loss_point / losses_at_point / max_losses_at_point, and progress_step.
  Jobs recorded before this revision start with every counter at 0: their old ``attempts`` mixed
  causes, so none of it is charged to the code.
- runs.launch: how the run was started (data folder, artifacts, workers), for `resume`.
- selections: trials_planned / trials_used / lost_trials ("chosen from k of n planned trials").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JOB_COUNTERS = ("failures", "losses", "interrupts", "losses_at_point")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in _JOB_COUNTERS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("loss_point", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_losses_at_point", sa.Integer(), nullable=False, server_default="3"))
        batch.add_column(sa.Column("progress_step", sa.Integer(), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("launch", sa.JSON(), nullable=True))
    with op.batch_alter_table("selections") as batch:
        batch.add_column(sa.Column("trials_planned", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trials_used", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lost_trials", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("selections") as batch:
        for name in ("lost_trials", "trials_used", "trials_planned"):
            batch.drop_column(name)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("launch")
    with op.batch_alter_table("jobs") as batch:
        for name in ("progress_step", "max_losses_at_point", "loss_point", *_JOB_COUNTERS):
            batch.drop_column(name)
