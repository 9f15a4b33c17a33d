"""The papers' training recipes, ``python -m posemods.train --recipe NAME``, and the optimisers they use.

A recipe is a dict of :class:`~posemods.training.config.TrainConfig` fields, applied over the defaults;
any flag given on the command line overrides it. What each paper states:

- KIMNet (section 4.1): "use the Adam optimizer to train the model and the training epoch is set to
  100 ... The learning rate is initialized to 0.005, and the batch size is set to 16 on the Penn
  Action dataset. Because the scale of the Sub-JHMDB dataset is smaller ..., the learning rate and
  batch size are set to 0.001 and 8", "randomly select 5 contiguous frames", "random scaling,
  rotation, and flipping". No schedule is stated: the rate stays constant.
- VREMD (Implementation details): "random rotation [-45, 45], random scale [0.65, 1.35], truncation
  (half body), and flipping", "The number of input frames is set to 3", "trained ... for 20 epochs
  with the backbone frozen. We utilize the AdamW optimizer with an initial learning rate of 2e-3,
  which is then reduced by a factor of ten at the 16th epoch."

The augmentation is :class:`posemods.data.Augmentation`'s: rotation up to 45 degrees, scale
0.65-1.35, flip, and half-body crops with probability ``half_body_prob``: 0.3 for VREMD ("truncation
(half body)"), 0 for KIMNet, which names only "random scaling, rotation, and flipping".

``kimnet-penn`` takes the RPSTN authors' Penn Action pipeline (``pipeline="rpstn"``,
:mod:`posemods.data.rpstn`) where KIMNet says it keeps "consistency with [11, 12]": their clip
sampling (5 contiguous frames, one clip per video and epoch), their crop, their augmentation and
their targets. Where KIMNet's text and their code (github:YHDang/RPSTN f7dcd3e) disagree:

- scaling: KIMNet names "random scaling"; their Penn Action code never scales (``RandomResized`` is
  only in the Sub-JHMDB pipeline; the factor drawn in [0.8, 1.4] is unused). The recipe follows the
  code; ``--pipeline posemods`` gives posemods' augmentation, scaling included.
- optimisation: KIMNet's Adam at 0.005, batch 16, is its own; RPSTN's ``1_train_penn.py`` uses Adam at
  0.0005, batch 8, and a "multi_step" rule that lowers the rate only during epochs 8, 15, 25, 40 and 80
  (``adjust_learning_rate`` starts from the base rate at every call). The recipe keeps KIMNet's.
- epochs: 100 in both ("the training epoch is set to 100 following [12]").

``kimnet-jhmdb`` keeps posemods' pipeline: their Sub-JHMDB code was not checked.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods._shapes import expect_choice

OPTIMIZERS = ("adamw", "adam")
LR_SCHEDULES = ("cosine", "constant", "step")

RECIPES: dict[str, dict] = {
    "kimnet-penn": {
        "model": "kimnet", "variant": "kmm", "preset": "paper", "data": "penn_action", "clip_length": 5,
        "input_size": (256, 256), "optimizer": "adam", "lr": 5e-3, "weight_decay": 0.0, "batch_size": 16,
        "epochs": 100, "lr_schedule": "constant", "warmup_steps": 0, "half_body_prob": 0.0, "pipeline": "rpstn",
    },
    "kimnet-jhmdb": {
        "model": "kimnet", "variant": "kmm", "preset": "paper", "data": "jhmdb", "clip_length": 5,
        "input_size": (256, 256), "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 8,
        "epochs": 100, "lr_schedule": "constant", "warmup_steps": 0, "half_body_prob": 0.0,
    },
    "vremd-posetrack": {
        # The ViT-L backbone stays frozen: VREMD's default (freeze_backbone=True) under the "paper" preset.
        "model": "vremd", "variant": "hkm+bmd", "preset": "paper", "data": "posetrack", "clip_length": 3,
        "optimizer": "adamw", "lr": 2e-3, "epochs": 20, "lr_schedule": "step", "lr_steps": [16],
        "warmup_steps": 0, "half_body_prob": 0.3,
    },
}  # fmt: skip


def recipe_config(name: str) -> dict:
    """The fields recipe ``name`` sets; the model's paper input size when the recipe names none."""
    expect_choice("recipe", name, tuple(RECIPES))
    values = {**RECIPES[name], "recipe": name}
    if "input_size" not in values:
        from posemods.models import get_model_spec  # the registry stands beside the models

        values["input_size"] = tuple(get_model_spec(values["model"]).input_size)
    return values


class StepDecay:
    """Learning-rate factor ``factor ** (number of milestones <= step)``: "reduced by a factor of ten at
    the 16th epoch" is ``StepDecay([16 * steps_per_epoch])``. A class, so LambdaLR saves it."""

    def __init__(self, milestones: list[int], factor: float = 0.1) -> None:
        self.milestones = sorted(int(m) for m in milestones)
        self.factor = float(factor)

    def __call__(self, step: int) -> float:
        return self.factor ** sum(step >= m for m in self.milestones)


class Constant:
    """Learning-rate factor 1 after an optional linear warm-up of ``warmup`` steps."""

    def __init__(self, warmup: int = 0) -> None:
        self.warmup = max(int(warmup), 0)

    def __call__(self, step: int) -> float:
        return (step + 1) / self.warmup if step < self.warmup else 1.0


def build_optimizer(model: nn.Module, config, total_steps: int, steps_per_epoch: int):
    """``(optimizer, schedule)`` for ``config``: its ``optimizer`` over the trainable parameters and the
    LambdaLR factor of its ``lr_schedule``. ``lr_steps`` are epochs as MultiStepLR milestones count
    them (mmpose's and DCPose's ``lr_step``): ``[16]`` divides the rate once 16 epochs are done."""
    from posemods.training.loop import WarmupCosine

    expect_choice("optimizer", config.optimizer, OPTIMIZERS)
    expect_choice("lr_schedule", config.lr_schedule, LR_SCHEDULES)
    # Every parameter, frozen ones too (they get no gradient, so no update): the optimizer state then
    # has the same layout whatever is frozen, and checkpoints resume across such changes.
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.lr_schedule == "cosine":
        schedule = WarmupCosine(config.warmup_steps, total_steps)
    elif config.lr_schedule == "constant":
        schedule = Constant(config.warmup_steps)
    else:
        schedule = StepDecay([epoch * steps_per_epoch for epoch in config.lr_steps])
    return optimizer, schedule
