"""How fine-tuning changed the model: representational similarity (CKA) to the base model per
layer, and per weight matrix the relative change, the effective rank of the update and the
intruder dimensions of Shuttleworth et al. (2024).

`cka` and `weights` are pure linear algebra (numpy / torch); `representations` and `models` load
models (torch, transformers, peft) and are imported only by the jobs that need them; `compare`
summarises across production seeds with `sweepfirst.analysis.statistics`.
"""
