"""The settings of one suite invocation (what the CLI options set)."""
from dataclasses import dataclass, field
from typing import List, Optional


@dataclass
class SuiteSettings:
    """Options shared by every run of a suite invocation.

    Attributes:
        work_dir (str): Output directory (absolute).
        seeds (list[int]): Seeds; every config runs with each.
        force (bool): Retrain runs whose results exist.
        smoke (bool): Tiny backbone, images and data, 2 iterations.
        epochs (int, optional): Shorten epoch-based schedules to N epochs.
        backbone_width (int, optional): ResNet-18 with W base channels in
            every config.
        pretrained (str, optional): Checkpoint whose ``backbone.`` weights
            initialise the backbone of every run that trains one from its
            config (stage-1 and baseline runs; stage 2 starts from its
            stage 1).
        lr (float, optional): Optimizer learning rate of those runs
            (stage 2's E-step keeps its own).
        data_root (str, optional): ``data_root`` of all datasets.
        in_process (bool): Run the tools in this process.
        threads (int, optional): CPU threads of each run.
        fail_fast (bool): Stop at the first failed run.
        jobs (int): Runs trained at the same time (subprocesses; a stage-2
            run waits for its stage 1).
        cfg_options (dict, optional): Overrides applied to every config.
        reference (str, optional): Name of the config the others are
            compared with (paired bootstrap); must be one of the configs.
        bootstrap (int): Number of bootstrap resamples (0: none).
        confidence (float): Level of the bootstrap intervals.
        bootstrap_seed (int): Seed of the resampling.
    """
    work_dir: str
    seeds: List[int] = field(default_factory=lambda: [0])
    force: bool = False
    smoke: bool = False
    epochs: Optional[int] = None
    backbone_width: Optional[int] = None
    pretrained: Optional[str] = None
    lr: Optional[float] = None
    data_root: Optional[str] = None
    in_process: bool = False
    threads: Optional[int] = None
    fail_fast: bool = False
    jobs: int = 1
    cfg_options: Optional[dict] = None
    reference: Optional[str] = None
    bootstrap: int = 1000
    confidence: float = 0.95
    bootstrap_seed: int = 0

    def describe(self) -> List[str]:
        """Human-readable list of the settings that change the configs."""
        out = []
        if self.smoke:
            out.append('smoke mode (tiny backbone/data, 2 iterations)')
        if self.epochs:
            out.append(f'epoch-based schedules shortened to {self.epochs} '
                       'epochs')
        if self.backbone_width:
            out.append(f'backbone ResNet-18 with {self.backbone_width} base '
                       f'channels ({8 * self.backbone_width}-d features)')
        if self.pretrained:
            out.append(f'backbones initialised from {self.pretrained}')
        if self.lr:
            out.append(f'learning rate {self.lr:g} (stage-1 and baseline '
                       'runs)')
        if self.cfg_options:
            out.append(f'cfg-options {self.cfg_options}')
        if self.threads:
            out.append(f'{self.threads} CPU thread(s) per run')
        if self.jobs > 1:
            out.append(f'{self.jobs} runs at a time')
        return out
