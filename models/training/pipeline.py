"""The one training pipeline of release, fold, CV and paired runs:
teacher -> its cached logits -> (GTAN: growing assistant + students
distilled from it) -> (fixed assistant -> its cached logits) -> students by
variant, every stage with a fixed step budget, every stage resumable.

A Plan says which stages a run trains and with which budgets; the modes in
train.py differ only in their plans, banks and what they do with the nets.
Each stage seeds torch itself and draws its batches as a pure function of
(seed, step), so a stage's result does not depend on the other stages or
their order (only on the logits it distils from)."""
import dataclasses
import os

import nets as N
from config import ASSISTANT_FINAL, ASSISTANT_START, STUDENTS
from engine import train_gtan, train_single
from runfiles import Stage, cached_logits, log


@dataclasses.dataclass(frozen=True)
class Plan:
    teacher_steps: int
    steps: int                 # every assistant and student stage
    bs: int
    lr: float
    seed: int
    val_every: int
    grow: tuple = None         # GTAN growth steps; None = no GTAN stage
    students: tuple = ()       # ((student, variant), ...), variant nokd | kd | fta, trained in this order
    teacher_logits: str = "teacher_logits.npz"   # file name in the run folder


def train_family(cfg, run_dir, plan, bk, validator):
    """Trains the plan's stages in run_dir on bank bk. Returns {name: (net,
    state)} with names teacher, assistant_gtan and <student>_gtan (GTAN),
    assistant_fta (when a student distils from it) and <student>_<variant>."""
    common = dict(bs=plan.bs, lr=plan.lr, seed=plan.seed, val_every=plan.val_every)
    out = {}
    teacher, tst = train_single(cfg, run_dir, "teacher", N.ARCH["teacher"], bk, validator, plan.teacher_steps,
                                **common)
    out["teacher"] = (teacher, tst)
    d = cached_logits(os.path.join(run_dir, plan.teacher_logits), teacher, tst["step"], bk, cfg.dev)
    log(f"teacher logits cached (teacher step {tst['step']})")
    if plan.grow is not None:
        asst, snets, gst = train_gtan(cfg, run_dir, "gtan", ASSISTANT_START, ASSISTANT_FINAL,
                                      {k: N.ARCH[k] for k in STUDENTS}, bk, d, validator, plan.steps,
                                      list(plan.grow), **common)
        out["assistant_gtan"] = (asst, gst)
        out.update({f"{k}_gtan": (n, gst) for k, n in snets.items()})
    da = None
    if any(v == "fta" for _, v in plan.students):
        # Fixed teacher assistant: the GTAN assistant's FINAL architecture,
        # trained from scratch with teacher KD for the same budget, then
        # frozen; the fta students distil from its cached logits.
        acfg = dict(ASSISTANT_START, widths=list(ASSISTANT_FINAL))
        fta, fst = train_single(cfg, run_dir, "assistant_fta", acfg, bk, validator, plan.steps, teacher_d=d,
                                **common)
        out["assistant_fta"] = (fta, fst)
        da = cached_logits(os.path.join(run_dir, "assistant_fta_logits.npz"), fta, fst["step"], bk, cfg.dev)
    for k, v in plan.students:
        dd = {"nokd": None, "kd": d, "fta": da}[v]
        out[f"{k}_{v}"] = train_single(cfg, run_dir, f"{k}_{v}", N.ARCH[k], bk, validator, plan.steps,
                                       teacher_d=dd, **common)
    return out


def load_family(cfg, run_dir, plan):
    """The plan's nets when every stage in run_dir has finished (no bank
    needed: evaluating nets trained elsewhere), else None. GTAN and fixed
    assistant plans are not covered (the paired CV has neither)."""
    if plan.grow is not None or any(v == "fta" for _, v in plan.students):
        return None
    out = {}
    for name in ["teacher"] + [f"{k}_{v}" for k, v in plan.students]:
        st = Stage(run_dir, name, cfg.dev).load()
        if st is None or not st.get("done"):
            return None
        net = N.build(st["cfg"]).to(cfg.dev)
        net.load_state_dict(st["model"])
        out[name] = (net, st)
    return out
