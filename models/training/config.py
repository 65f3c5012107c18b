"""What a training run is: the recipe's constants and the run's configuration.

Config is built once from the command line (train.py: Config.from_args) and
passed down; no training module reads or changes a setting through a global.
cv_config, paired_config and release_config are the dicts a run pins in its
config.json and writes into every result: a resumed run must produce the
same dict (test_config.py holds them to the pre-refactor code's).
"""
import dataclasses
import sys

import torch

import lsdata as D

SEED = 20261125
KD_T = 3.0
KD_LAMBDA = 0.5
LR = 2e-3

# GTAN: the assistant starts near the 30k student and grows to this width.
ASSISTANT_START = {"widths": [6, 10, 12, 18], "stem_stride": 2, "nconv": 2}
ASSISTANT_FINAL = [18, 30, 36, 54]
GROW_FRAC = (0.1, 0.25, 0.4)   # GTAN growth events, as fractions of the stage's step budget

STUDENTS = ("student", "student100k")
VARIANTS = ("nokd", "kd", "fta", "gtan")
PAIRED_NETS = ["teacher"] + [f"{k}_{v}" for k in STUDENTS for v in ("nokd", "kd")]
EXTRA_EVAL = ["totalseg_s0009_partial"]
ANATOMY = ("real", "synth", "shape")   # paired arms: real bank, + label-driven synthesis, + shape transfer

# Release profiles: bank size, teacher and GTAN step budgets, growth steps
# (None: at GROW_FRAC of the GTAN budget), batch. Step budgets only: no
# wall-clock caps, so the models do not depend on machine load.
PROFILES = {
    # recipe 1, the first release's bank and growth steps, with its capped
    # run's reached step counts as budgets (teacher 1,085, GTAN 696): the
    # recipe, not a bit-exact rerun (that run's wall-clock caps re-estimated
    # its budget, and hence its cosine schedule, while it ran).
    "release": dict(bank=480, t_steps=1085, g_steps=696, grow=[150, 350, 550], bs=2),
    # recipe >= 2: the CV's protocol with larger budgets (teacher 2x, GTAN
    # 4/3x the CV's 1,500 steps) and a bank a third larger for four cases
    # instead of three.
    "release_r2": dict(bank=1280, t_steps=3000, g_steps=2000, grow=None, bs=2),
    "tiny": dict(bank=12, t_steps=6, g_steps=8, grow=[2, 4, 6], bs=1),
}


def grow_steps(frac, steps):
    """GTAN growth steps at fractions frac of a budget of steps."""
    return sorted({max(1, int(round(f * steps))) for f in frac})


def _csv(s):
    return tuple(x for x in s.split(",") if x)


@dataclasses.dataclass(frozen=True)
class Config:
    """One run's settings (defaults = train.py's command-line defaults, on the CPU)."""
    mode: str = "release"
    tiny: bool = False
    threads: int = 2
    device: str = "cpu"          # resolved: "cpu" or "cuda[:n]", never "auto"
    recipe: int = 2
    hardneg_w: float = 0.0       # extra CE weight of background 10-40 mm from the liver (0 = off)
    teacher_steps: int = 1500
    steps: int = 1800
    bank: int = 960
    folds: tuple = tuple(D.RELEASE_CASES)   # as typed (cv_config pins args.folds.split(","))
    holdout: str = None
    ablate: tuple = ("student",)
    export: bool = True
    ship: tuple = (("student", "kd"), ("student100k", "kd"))
    variants: tuple = ()
    anatomy: tuple = ("real",)
    seeds: int = 2
    synth_bank: int = 960
    allow_env_change: bool = False
    train_only: bool = False     # paired mode: train the jobs' nets, evaluate later (another machine)
    jobs: tuple = ()             # paired mode: only these "fold/arm/s<seed>" jobs (empty = all)
    command: str = "train.py release"

    @classmethod
    def from_args(cls, args, argv=None):
        """Checks the arguments (a typo must not surface hours later) and
        resolves --device auto. Exits with a message on a bad value."""
        ship = []
        for kv in _csv(args.ship):
            k, _, v = kv.partition("=")
            if k not in STUDENTS or v not in ("gtan", "nokd", "kd"):
                sys.exit(f"train.py: --ship {kv!r}: want student=V or student100k=V with V one of gtan, nokd, kd")
            ship.append((k, v))
        variants = _csv(args.variants)
        for v in sorted(set(variants) - {"nokd", "kd"}):
            sys.exit(f"train.py: --variants {v!r}: release trains nokd and kd students (gtan comes with the GTAN stage)")
        anatomy = _csv(args.anatomy)
        for a in anatomy:
            if a not in ANATOMY:
                sys.exit(f"train.py: --anatomy {a!r}: want real, synth and/or shape")
        if "shape" in anatomy and args.mode != "paired":
            sys.exit("train.py: --anatomy shape is for paired mode (the shape arm is not evaluated for a release yet)")
        for k in _csv(args.ablate):
            if k not in STUDENTS:
                sys.exit(f"train.py: --ablate {k!r}: want student and/or student100k")
        if args.mode == "fold" and not args.holdout:
            sys.exit("train.py fold: --holdout CASE is required")
        if args.mode != "fold" and args.holdout:
            sys.exit(f"train.py {args.mode}: --holdout is for fold mode (cv and paired hold out each of --folds)")
        if args.device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            device = args.device
        return cls(mode=args.mode, tiny=args.tiny, threads=args.threads, device=device, recipe=args.recipe,
                   hardneg_w=float(args.hardneg_w), teacher_steps=args.teacher_steps, steps=args.steps,
                   bank=args.bank, folds=tuple(args.folds.split(",")), holdout=args.holdout,
                   ablate=_csv(args.ablate), export=not args.no_export, ship=tuple(ship), variants=variants,
                   anatomy=anatomy, seeds=args.seeds, synth_bank=args.synth_bank,
                   allow_env_change=args.allow_env_change, train_only=args.train_only, jobs=_csv(args.jobs),
                   command=" ".join(["train.py"] + list(sys.argv[1:] if argv is None else argv)))

    @property
    def dev(self):
        return torch.device(self.device)

    def ship_map(self):
        return dict(self.ship)


def cv_config(cfg):
    """Everything that defines the CV's numbers. A resumed run must match it."""
    common = {"lr": LR, "seed": SEED, "kd_T": KD_T, "kd_lambda": KD_LAMBDA, "hardneg_w": cfg.hardneg_w,
              "grow_frac": list(GROW_FRAC), "folds": list(cfg.folds)}
    if cfg.tiny:
        return {"recipe": cfg.recipe, "bank": 12, "teacher_steps": 6, "steps": 8, "bs": 1, **common, "tiny": True}
    return {"recipe": cfg.recipe, "bank": cfg.bank, "teacher_steps": cfg.teacher_steps, "steps": cfg.steps,
            "bs": 2, **common, "tiny": False}


def fold_config(cfg):
    """One held-out fold (fold mode): the CV's budgets, one fold."""
    return dict(cv_config(cfg), kind="fold", folds=[cfg.holdout], ablate=list(cfg.ablate))


def paired_config(cfg):
    """Everything that defines the paired CV's numbers (runs/cv_paired_r<recipe>/config.json)."""
    base = {"kind": "paired", "recipe": cfg.recipe, "lr": LR, "seeds": [SEED + i for i in range(cfg.seeds)],
            "arms": list(cfg.anatomy), "kd_T": KD_T, "kd_lambda": KD_LAMBDA, "hardneg_w": cfg.hardneg_w,
            "folds": list(cfg.folds), "nets": PAIRED_NETS, "extra_eval": EXTRA_EVAL}
    if cfg.tiny:
        return dict(base, bank=12, synth_bank=12, teacher_steps=6, steps=8, bs=1, tiny=True)
    return dict(base, bank=cfg.bank, synth_bank=cfg.synth_bank, teacher_steps=cfg.teacher_steps,
                steps=cfg.steps, bs=2, tiny=False)


def release_config(cfg):
    """The release run's numbers: recipe >= 2 (or --tiny) the CV's protocol
    with the release profile's budgets; recipe 1 the first release's."""
    r2 = cfg.recipe >= 2
    prof = dict(PROFILES["tiny" if cfg.tiny else ("release_r2" if r2 else "release")])
    grow = prof["grow"] if prof["grow"] is not None else grow_steps(GROW_FRAC, prof["g_steps"])
    return {"kind": "release", "recipe": cfg.recipe, "bank": prof["bank"], "teacher_steps": prof["t_steps"],
            "steps": prof["g_steps"], "grow": list(grow), "bs": prof["bs"], "lr": LR, "seed": SEED, "kd_T": KD_T,
            "kd_lambda": KD_LAMBDA, "hardneg_w": cfg.hardneg_w, "synth": "synth" in cfg.anatomy, "tiny": cfg.tiny}
