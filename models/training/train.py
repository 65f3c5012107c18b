"""LiverSeg training driver: the command line and its four modes, each one
plan of the same pipeline (pipeline.py: teacher -> cached teacher logits ->
GTAN / fixed assistant -> students by variant, fixed step budgets,
resumable from checkpoints).

Usage (what `make models` runs):
  /usr/bin/python3 models/training/train.py release            # train (resumes) + export
  /usr/bin/python3 models/training/train.py release --tiny     # end-to-end smoke test
  /usr/bin/python3 models/training/train.py fold --holdout ircad_p07 --ablate student,student100k
  /usr/bin/python3 models/training/train.py cv --threads 1     # 4-fold CV, resumable
  /usr/bin/python3 models/training/train.py cv --tiny          # its smoke test
  /usr/bin/python3 models/training/train.py paired ...         # real vs real + synthetic anatomy

Every run folder pins its configuration (config.json) and the environment
it trains under (environment.json: python, torch, numpy, scipy, device,
threads, determinism, git commit); a resume under a different one exits
unless --allow-env-change. torch runs with deterministic algorithms.
"""
import argparse
import fcntl
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bank as B            # noqa: E402
import environment as ENV   # noqa: E402
import export               # noqa: E402
import lsdata as D          # noqa: E402
import nets as N            # noqa: E402
import parity               # noqa: E402
import synth as S           # noqa: E402
import shapetransfer as ST  # noqa: E402
from config import (EXTRA_EVAL, GROW_FRAC, SEED, STUDENTS, Config, cv_config, fold_config,  # noqa: E402
                    grow_steps, paired_config, release_config)
from engine import Validator   # noqa: E402
from evaluation import evaluate   # noqa: E402
from pipeline import Plan, load_family, train_family   # noqa: E402
from runfiles import atomic_json, log, pin_config   # noqa: E402

CACHE_DIR = os.path.join(HERE, "cache")
RUNS_DIR = os.path.join(HERE, "runs")


def build_parser():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["release", "fold", "cv", "paired"])
    ap.add_argument("--tiny", action="store_true", help="smoke test: a few steps, separate run dir")
    ap.add_argument("--holdout", default=None, help="fold mode: case held out for validation")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--ablate", default="student",
                    help="fold mode: comma-separated student names also trained without KD and with plain teacher KD, "
                         "for as many steps as the GTAN students")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when torch sees a GPU)")
    ap.add_argument("--recipe", type=int, default=2, choices=[1, 2, 3],
                    help="data/loss recipe (1 = the first release models'; 2 = near-liver crops, hard-negative "
                         "loss weight, contrast-phase augmentation; 3 = 2 without the phase augmentation)")
    ap.add_argument("--teacher-steps", type=int, default=1500, help="cv, fold and paired modes: teacher step budget")
    ap.add_argument("--steps", type=int, default=1800,
                    help="cv, fold and paired modes: step budget of EVERY assistant/student variant")
    ap.add_argument("--bank", type=int, default=960, help="cv, fold and paired modes: augmented crops per fold")
    ap.add_argument("--folds", default=",".join(D.RELEASE_CASES), help="cv and paired modes: held-out cases, in order")
    ap.add_argument("--ship", default="student=kd,student100k=kd",
                    help="release mode: which variant of each student is exported "
                         "(gtan, nokd or kd); the default is the CV's pick (models/README.md)")
    ap.add_argument("--variants", default="",
                    help="release mode: extra student variants to train besides GTAN (nokd,kd); "
                         "those named in --ship are always trained")
    ap.add_argument("--anatomy", default="real",
                    help="paired mode: arms to train (real, synth, shape; a run with shape has its own folder and pairs with the real arm of the first run); release mode: 'synth' adds as many synthetic crops "
                         "from ../shared/data/labels (synth.py) as the real bank has")
    ap.add_argument("--seeds", type=int, default=2, help="paired mode: seeds per fold (SEED, SEED+1, ...)")
    ap.add_argument("--synth-bank", type=int, default=960, help="paired mode: synthetic crops added per fold")
    ap.add_argument("--hardneg-w", type=float, default=0.0,
                    help="extra CE weight of background 10-40 mm from the liver (recipe >= 2 banks; 0 = off)")
    ap.add_argument("--train-only", action="store_true",
                    help="paired mode: train the nets and stop before the evaluation (a machine without the cases' "
                         "full-resolution CT; a later run without it evaluates them, job.json says where they trained)")
    ap.add_argument("--jobs", default="", help="paired mode: only these jobs, comma-separated fold/arm/s<seed>")
    ap.add_argument("--allow-env-change", action="store_true",
                    help="resume a run recorded under a different environment (python, torch, numpy, scipy, device, "
                         "threads); the change is recorded in the run's environment.json")
    return ap


def open_run(cfg, env, root, pinned, what):
    """Creates root, pins the configuration and checks/records the environment."""
    os.makedirs(root, exist_ok=True)
    pin_config(root, pinned, what)
    return ENV.check_and_record(root, env, cfg.allow_env_change, log)


def prep(cases):
    return {c[0]: B.prep_case(c[0], c[1], c[2], CACHE_DIR) for c in cases}


def real_bank(cases, n, seed, tag, recipe):
    bk = B.build_bank(cases, n, seed, CACHE_DIR, tag, recipe=recipe)
    if len(bk["x"]) != n:
        # The cache is keyed by tag and recipe only.
        sys.exit(f"train.py: {B.bank_path(CACHE_DIR, tag, recipe)} holds {len(bk['x'])} crops, this run wants {n}: "
                 f"another run used the tag {tag!r}; move the file away")
    return bk


def with_synth(bk, preps, exclude, n, seed, tag, recipe):
    """The real bank plus n synthetic crops (synth.py) from label maps not of
    the cases in exclude. Returns (bank, synthetic bank)."""
    sb = S.build_synth_bank(preps, exclude, n, seed, CACHE_DIR, tag, recipe, log=log)
    return extended(bk, sb), sb


def extended(bk, extra):
    """The bank bk followed by the crops of a generated bank (its fields that bk has)."""
    return {k: np.concatenate([bk[k], extra[k]]) for k in bk}


def lock_or_skip(path, what):
    """An exclusive lock on path, or None when another process holds it: two
    processes with the same command share the jobs without sharing one."""
    lock = open(path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log(f"{what}: another process is training it; skipping")
        lock.close()
        return None
    return lock


def _stat(a):
    a = np.array(a, np.float64)
    return {"mean": round(float(a.mean()), 4), "sd": round(float(a.std(ddof=1)), 4) if len(a) > 1 else None,
            "min": round(float(a.min()), 4), "max": round(float(a.max()), 4), "n": int(len(a))}


# ---- release ------------------------------------------------------------------
def run_release(cfg, env):
    """All cases in training: teacher -> GTAN -> the students' variants named
    in --ship/--variants, then ONNX export, model cards and parity fixtures."""
    rc = release_config(cfg)
    tag = ("tiny_" if cfg.tiny else "") + "release" + (f"_r{cfg.recipe}" if cfg.recipe >= 2 else "")
    if rc["synth"]:
        tag += "_synth"   # its own run dir: never resumes a real-only release
    run_dir = os.path.join(RUNS_DIR, tag)
    env_rec = open_run(cfg, env, run_dir, rc, "release")
    cases = D.find_cases()
    log(f"run {tag}: train and validate on {[c[0] for c in cases]}")
    t_start = time.time()
    bk = real_bank(cases, rc["bank"], SEED, tag, cfg.recipe)
    if rc["synth"]:
        bk, _ = with_synth(bk, prep(cases), [], rc["bank"], SEED, tag, cfg.recipe)
    log(f"bank {bk['x'].shape} ready (recipe {cfg.recipe})")
    validator = Validator(prep(cases), cfg.dev)
    # Student variants of the GTAN stage's budget (--variants, and those
    # named in --ship), so the release can ship the one the CV ranks best.
    want = list(cfg.variants) + [v for v in cfg.ship_map().values() if v != "gtan" and v not in cfg.variants]
    plan = Plan(teacher_steps=rc["teacher_steps"], steps=rc["steps"], bs=rc["bs"], lr=rc["lr"], seed=SEED,
                val_every=2 if cfg.tiny else (300 if cfg.recipe >= 2 else 100), grow=tuple(rc["grow"]),
                students=tuple((k, v) for k in STUDENTS for v in ("nokd", "kd") if v in want),
                teacher_logits=f"teacher_logits_{tag}.npz")
    fam = train_family(cfg, run_dir, plan, bk, validator)
    keys = ("step", "budget", "elapsed_s", "done")
    gst = fam["assistant_gtan"][1]
    summary = {"tag": tag, "recipe": cfg.recipe, "bank": B.bank_path(CACHE_DIR, tag, cfg.recipe),
               "train_cases": [c[0] for c in cases], "val_cases": [c[0] for c in cases],
               "variants": {f"{k}_{v}": {kk: fam[f"{k}_{v}"][1][kk] for kk in keys} for k, v in plan.students},
               "teacher": {k: fam["teacher"][1][k] for k in keys},
               "gtan": {k: gst[k] for k in keys + ("growth_log", "acfg")},
               "wall_s": time.time() - t_start, "config": rc, "environment": env_rec}
    atomic_json(summary, os.path.join(run_dir, "summary.json"))
    log(f"training stages finished: {json.dumps(summary)}")
    if cfg.export:
        export.export_all(run_dir, tiny=cfg.tiny, ship=cfg.ship_map(), command=cfg.command)
        if not cfg.tiny:
            parity.main([])   # models/parity/ from the checkpoints export just saved


# ---- one held-out fold ----------------------------------------------------------
def run_fold(cfg, env):
    """One held-out case with the CV's budgets: teacher, GTAN and, for the
    students in --ablate, no-KD and teacher-KD variants of the same budget;
    every net evaluated on the held-out case's original grid."""
    fc = fold_config(cfg)
    tag = ("tiny_" if cfg.tiny else "") + f"fold_{cfg.holdout}_r{cfg.recipe}"
    run_dir = os.path.join(RUNS_DIR, tag)
    all_cases = D.find_cases()
    val_cases = [c for c in all_cases if c[0] == cfg.holdout]
    if not val_cases:
        sys.exit(f"train.py fold: --holdout {cfg.holdout!r} is not one of the cases {[c[0] for c in all_cases]}")
    env_rec = open_run(cfg, env, run_dir, fc, "fold")
    train_cases = [c for c in all_cases if c[0] != cfg.holdout]
    trained_on = [c[0] for c in train_cases]
    log(f"run {tag}: train {trained_on} val {cfg.holdout}")
    bk = real_bank(train_cases, fc["bank"], SEED, tag, cfg.recipe)
    validator = Validator(prep(val_cases), cfg.dev)
    plan = Plan(teacher_steps=fc["teacher_steps"], steps=fc["steps"], bs=fc["bs"], lr=fc["lr"], seed=SEED,
                val_every=2 if cfg.tiny else 100, grow=tuple(grow_steps(GROW_FRAC, fc["steps"])),
                students=tuple((k, v) for k in cfg.ablate for v in ("nokd", "kd")))
    fam = train_family(cfg, run_dir, plan, bk, validator)
    del bk
    tst, gst = fam["teacher"][1], fam["assistant_gtan"][1]
    res = {"holdout": cfg.holdout, "train_cases": trained_on, "config": fc, "environment": env_rec,
           "teacher_steps": tst["step"], "gtan_steps": gst["step"], "ablation_steps": fc["steps"],
           "teacher_s": round(tst["elapsed_s"]), "gtan_s": round(gst["elapsed_s"]), "models": {}}
    names = {"teacher": "teacher", "assistant_gtan": "assistant"}
    for name, (net, _) in fam.items():
        ev = evaluate(net, val_cases, trained_on)
        res["models"][names.get(name, name)] = {"params": N.count_params(net), **ev}
        log(f"fold {cfg.holdout} {name}: {ev}")
    atomic_json(res, os.path.join(run_dir, "fold_results.json"))
    if not cfg.tiny:
        # results/fold_<case>.json belongs to `cv`; a single fold is "reduced_".
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        atomic_json(res, os.path.join(HERE, "results", f"reduced_{tag}.json"))


# ---- leave-one-case-out cross-validation -----------------------------------
def cv_fold(cfg, cv, root, results_dir, holdout, all_cases, val_every, env_rec):
    """One leave-one-case-out fold: teacher -> cached teacher logits -> GTAN
    (growing assistant + both students) -> fixed assistant (final width,
    teacher KD) -> its cached logits -> per student size no-KD, teacher-KD and
    fixed-TA-KD students, every student variant and both assistants with the
    SAME step budget; then everything evaluated on the held-out case's
    original grid. Each stage resumes from its checkpoint; finished stages
    are skipped."""
    tag = ("tiny_" if cv["tiny"] else "") + f"cv_{holdout}"
    fold_dir = os.path.join(root, holdout)
    os.makedirs(fold_dir, exist_ok=True)
    train_cases = [c for c in all_cases if c[0] != holdout]
    val_cases = [c for c in all_cases if c[0] == holdout]
    trained_on = [c[0] for c in train_cases]
    log(f"fold {holdout}: train {trained_on}")
    t0 = time.time()
    bk = real_bank(train_cases, cv["bank"], cv["seed"], tag, cv["recipe"])
    log(f"fold {holdout}: bank {bk['x'].shape} ready ({time.time() - t0:.0f} s)")
    validator = Validator(prep(val_cases), cfg.dev)
    n = cv["steps"]
    plan = Plan(teacher_steps=cv["teacher_steps"], steps=n, bs=cv["bs"], lr=cv["lr"], seed=cv["seed"],
                val_every=val_every, grow=tuple(grow_steps(cv["grow_frac"], n)),
                students=tuple((k, v) for k in STUDENTS for v in ("nokd", "kd", "fta")))
    fam = train_family(cfg, fold_dir, plan, bk, validator)
    del bk
    order = ["teacher", "assistant_gtan", "assistant_fta"] + [f"{k}_{v}" for k in STUDENTS
                                                              for v in ("nokd", "kd", "fta", "gtan")]
    res = {"holdout": holdout, "train_cases": trained_on, "config": cv, "environment": env_rec, "models": {}}
    for name in order:
        net, st = fam[name]
        ev = evaluate(net, val_cases, trained_on)[holdout]
        assert ev["held_out"]
        res["models"][name] = {"params": N.count_params(net), "steps": st["step"], **ev}
        log(f"fold {holdout} {name}: {ev}")
    res["fold_wall_s_this_run"] = round(time.time() - t0)
    atomic_json(res, os.path.join(results_dir, f"fold_{holdout}.json"))
    return res


def cv_summary(cv, results_dir, env_rec):
    """results/cv.json: per model, per held-out case figures and mean +- SD
    (and min-max) over the folds finished so far."""
    folds = {}
    for h in cv["folds"]:
        p = os.path.join(results_dir, f"fold_{h}.json")
        if os.path.exists(p):
            r = json.load(open(p))
            if r.get("config") == cv:
                folds[h] = r
    models = {}
    for h, r in folds.items():
        for m, v in r["models"].items():
            models.setdefault(m, {"params": v["params"], "per_case": {}})["per_case"][h] = {
                k: v[k] for k in ("dice", "hd95_mm", "volume_error_pct", "steps")}
    for m, v in models.items():
        for k in ("dice", "hd95_mm", "volume_error_pct"):
            v[k] = _stat([c[k] for c in v["per_case"].values()])
    out = {"config": cv, "folds_done": list(folds), "complete": len(folds) == len(cv["folds"]),
           "note": "leave-one-case-out; every figure is on the held-out case's ORIGINAL grid; sd = sample SD over folds",
           "environment": env_rec, "models": models}
    atomic_json(out, os.path.join(results_dir, "cv.json"))
    return out


def run_cv(cfg, env):
    cv = cv_config(cfg)
    name = ("tiny_" if cfg.tiny else "") + f"cv_r{cv['recipe']}"
    root = os.path.join(RUNS_DIR, name)
    results_dir = os.path.join(root, "results") if cfg.tiny else os.path.join(HERE, "results")
    env_rec = open_run(cfg, env, root, cv, "cv")
    os.makedirs(results_dir, exist_ok=True)
    log(f"cv {name}: {cv}")
    all_cases = D.find_cases()
    known = [c[0] for c in all_cases]
    for h in cv["folds"]:
        if h not in known:
            sys.exit(f"train.py cv: fold {h!r} is not one of the cases {known}")
    val_every = 2 if cfg.tiny else 200
    for h in cv["folds"]:
        p = os.path.join(results_dir, f"fold_{h}.json")
        done = lambda: os.path.exists(p) and json.load(open(p)).get("config") == cv  # noqa: E731
        if done():
            log(f"fold {h}: done ({p})")
            continue
        # One process per fold: a second `train.py cv` with the same arguments
        # (e.g. on the other core, each with --threads 1) skips folds another
        # process is training and takes the next one, so folds run in parallel
        # without ever sharing checkpoints.
        lock = lock_or_skip(os.path.join(root, f"{h}.lock"), f"fold {h}")
        if lock is None:
            continue
        try:
            if done():
                log(f"fold {h}: done ({p})")
                continue
            cv_fold(cfg, cv, root, results_dir, h, all_cases, val_every, env_rec)
        finally:
            lock.close()
        s = cv_summary(cv, results_dir, env_rec)
        log(f"cv summary: folds done {s['folds_done']}")
    s = cv_summary(cv, results_dir, env_rec)
    log(f"cv finished: {s['folds_done']}")


# ---- paired CV: real-only vs real + new anatomy (issue 15) -------------------
# Per fold, per seed, per arm: teacher, then no-KD and teacher-KD students of
# both sizes at the same step budgets; the two arms differ ONLY in the bank:
# "real" is the fold's real bank, "synth" the same real bank plus as many
# synthetic crops from the label maps (synth.py), so at the same step budget
# half of the synth arm's batches are synthetic. Seed SEED's real arm is the
# earlier CV's configuration (same bank, init and batches) for those nets.
def paired_job(cfg, pc, root, results_dir, holdout, arm, seed, all_cases, val_every, env_rec):
    tag = ("tiny_" if pc["tiny"] else "") + f"cv_{holdout}" + ("" if seed == SEED else f"_s{seed}")
    job_dir = os.path.join(root, holdout, f"{arm}_s{seed}")
    os.makedirs(job_dir, exist_ok=True)
    train_cases = [c for c in all_cases if c[0] != holdout]
    trained_on = [c[0] for c in train_cases]
    val_cases = [c for c in all_cases if c[0] == holdout]
    plan = Plan(teacher_steps=pc["teacher_steps"], steps=pc["steps"], bs=pc["bs"], lr=pc["lr"], seed=seed,
                val_every=val_every, students=tuple((k, v) for k in STUDENTS for v in ("nokd", "kd")))
    t0 = time.time()
    info_p = os.path.join(job_dir, "job.json")
    nets = load_family(cfg, job_dir, plan)
    if nets is not None and os.path.exists(info_p):
        # Trained already (here, or on a lent GPU machine by --train-only):
        # only the evaluation is left, which needs no bank.
        job = json.load(open(info_p))
        log(f"paired {holdout} {arm} seed {seed}: nets trained on {job['environment'].get('environment', {}).get('device')}, evaluating")
    else:
        log(f"paired {holdout} {arm} seed {seed}: train {trained_on}")
        bk = real_bank(train_cases, pc["bank"], seed, tag, pc["recipe"])
        info = {"real_crops": int(len(bk["x"]))}
        if arm == "synth":
            bk, sb = with_synth(bk, prep(train_cases), [holdout], pc["synth_bank"], seed, tag, pc["recipe"])
            info.update(synth_crops=int(len(sb["x"])), synth_maps_eligible=len(S.eligible([holdout])),
                        synth_volumes=int(len(sb["synth_volumes"])))
            del sb
        elif arm == "shape":
            # The same number of added crops as the synth arm, from the fold's
            # training cases deformed onto other real livers.
            sb = ST.build_shape_bank(train_cases, [holdout], pc["synth_bank"], seed, CACHE_DIR, tag, pc["recipe"],
                                     log=log)
            bk = extended(bk, sb)
            dets = sb["shape_min_det"]
            info.update(shape_crops=int(len(sb["x"])), shape_volumes=int(len(sb["shape_pairs"])),
                        shape_min_det_j={"min": round(float(dets.min()), 3), "median": round(float(np.median(dets)), 3)})
            del sb
        elif arm != "real":
            raise ValueError(f"paired: unknown arm {arm!r}")
        log(f"paired {holdout} {arm} seed {seed}: bank {bk['x'].shape} ({time.time() - t0:.0f} s)")
        validator = Validator(prep(val_cases), cfg.dev)
        nets = train_family(cfg, job_dir, plan, bk, validator)
        del bk
        # What the nets were trained under goes with them: the evaluation
        # may run on another machine.
        job = {"bank": info, "environment": env_rec, "train_wall_s": round(time.time() - t0)}
        atomic_json(job, info_p)
    if cfg.train_only:
        log(f"paired {holdout} {arm} seed {seed}: trained ({time.time() - t0:.0f} s); --train-only: evaluate later")
        return None
    extra = D.find_cases(names=pc["extra_eval"])
    res = {"holdout": holdout, "arm": arm, "seed": seed, "train_cases": trained_on, "config": pc,
           "bank": job["bank"], "environment": job["environment"], "models": {}}
    if job["environment"] != env_rec:
        res["evaluation_environment"] = env_rec
    for name, (net, st) in nets.items():
        # Temperature 1 (plain softmax), as every job of this CV so far: the
        # shipped cards' T = 8 came later; both are in models/README.md.
        ev = evaluate(net, val_cases + extra, trained_on, 1.0)
        assert ev[holdout]["held_out"]
        res["models"][name] = {"params": N.count_params(net), "steps": st["step"], "train_s": round(st["elapsed_s"]),
                               **ev[holdout], "extra": {e[0]: ev[e[0]] for e in extra}}
        log(f"paired {holdout} {arm} seed {seed} {name}: {ev}")
    res["job_wall_s_this_run"] = round(time.time() - t0)
    atomic_json(res, os.path.join(results_dir, f"fold_{holdout}_{arm}_s{seed}.json"))
    return res


def paired_dirs(pc):
    """(run folder, results folder) of a paired CV. The first one (arms real
    and synth) keeps its names; a run with another new-anatomy arm (shape)
    gets its own, so its pinned configuration never mixes with the first's."""
    suffix = "".join("_" + a for a in pc["arms"] if a not in ("real", "synth"))
    root = os.path.join(RUNS_DIR, ("tiny_" if pc["tiny"] else "") + f"cv_paired_r{pc['recipe']}" + suffix)
    results = os.path.join(root, "results") if pc["tiny"] else os.path.join(HERE, "results", "paired" + suffix)
    return root, results


def same_protocol(a, b):
    """Two paired configurations that train identical jobs of an arm both have."""
    return {k: v for k, v in a.items() if k != "arms"} == {k: v for k, v in b.items() if k != "arms"}


def paired_summary(pc, results_dir, env_rec):
    """<results>/cv_paired.json: per net and arm, the figures of every
    finished (fold, seed) and their mean +- SD; per net and new-anatomy arm,
    the paired difference arm - real over the (fold, seed) pairs where both
    finished. A run without the real arm pairs with the first paired CV's
    real-arm results of the same protocol (the same jobs, trained once)."""
    runs = {}
    sources = [(a, results_dir, lambda c: c == pc) for a in pc["arms"]]
    if "real" not in pc["arms"]:
        base = paired_dirs(dict(pc, arms=["real", "synth"]))[1]
        sources.insert(0, ("real", base, lambda c: c is not None and same_protocol(c, pc)))
    for h in pc["folds"]:
        for s in pc["seeds"]:
            for a, d, ok in sources:
                p = os.path.join(d, f"fold_{h}_{a}_s{s}.json")
                if os.path.exists(p):
                    with open(p) as f:
                        r = json.load(f)
                    if ok(r.get("config")):
                        runs[(h, s, a)] = r
    arms = [a for a, _, _ in sources]
    keys = ("dice", "hd95_mm", "volume_error_pct")
    out = {"config": pc, "arms_shown": arms, "jobs_done": [f"{h}/{a}/s{s}" for h, s, a in runs if a in pc["arms"]],
           "jobs_total": len(pc["folds"]) * len(pc["seeds"]) * len(pc["arms"]),
           "note": "leave-one-case-out; figures on the held-out case's ORIGINAL grid; sd = sample SD over "
                   "(fold, seed) runs; paired = new-anatomy arm minus real on the same fold and seed"
                   + ("" if "real" in pc["arms"] else f"; real arm from {os.path.relpath(sources[0][1], HERE)}"),
           "environment": env_rec, "nets": {}}
    for net in pc["nets"]:
        e = out["nets"][net] = {"arms": {}, "paired": {}, "vs_real": {}}
        for a in arms:
            rows = {f"{h}/s{s}": {k: r["models"][net][k] for k in keys} | {
                "partial_" + k: r["models"][net]["extra"][EXTRA_EVAL[0]][k] for k in keys}
                for (h, s, aa), r in runs.items() if aa == a}
            e["arms"][a] = {"runs": rows}
            if rows:
                e["arms"][a].update({k: _stat([v[k] for v in rows.values()]) for k in keys})
                e["arms"][a]["abs_volume_error_pct"] = _stat([abs(v["volume_error_pct"]) for v in rows.values()])
                e["arms"][a].update({"partial_" + k: _stat([v["partial_" + k] for v in rows.values()]) for k in keys})
        for a in arms:
            if a == "real" or "real" not in e["arms"]:
                continue
            both = sorted(set(e["arms"]["real"]["runs"]) & set(e["arms"][a]["runs"]))
            d = e["vs_real"][a] = {}
            for k in keys + tuple("partial_" + k for k in keys):
                diffs = [e["arms"][a]["runs"][j][k] - e["arms"]["real"]["runs"][j][k] for j in both]
                if diffs:
                    d[k] = _stat(diffs) | {"pairs": both}
        # "paired": the first new-anatomy arm's differences (synth in the first run).
        new = [a for a in arms if a != "real"]
        if new:
            e["paired"] = e["vs_real"].get(new[0], {})
    atomic_json(out, os.path.join(results_dir, "cv_paired.json"))
    return out


def run_paired(cfg, env):
    pc = paired_config(cfg)
    root, results_dir = paired_dirs(pc)
    name = os.path.basename(root)
    env_rec = open_run(cfg, env, root, pc, "paired")
    os.makedirs(results_dir, exist_ok=True)
    log(f"paired CV {name}: {pc}")
    all_cases = D.find_cases()
    val_every = 2 if cfg.tiny else 300
    # Order: seed by seed, fold by fold, both arms of a fold together, so the
    # paired table fills in pairs.
    for s in pc["seeds"]:
        for h in pc["folds"]:
            for a in pc["arms"]:
                if cfg.jobs and f"{h}/{a}/s{s}" not in cfg.jobs:
                    continue
                p = os.path.join(results_dir, f"fold_{h}_{a}_s{s}.json")
                done = lambda: os.path.exists(p) and json.load(open(p)).get("config") == pc  # noqa: E731
                if done():
                    continue
                lock = lock_or_skip(os.path.join(root, f"{h}_{a}_s{s}.lock"), f"paired {h} {a} seed {s}")
                if lock is None:
                    continue
                try:
                    if not done():
                        paired_job(cfg, pc, root, results_dir, h, a, s, all_cases, val_every, env_rec)
                finally:
                    lock.close()
                sm = paired_summary(pc, results_dir, env_rec)
                log(f"paired summary: {len(sm['jobs_done'])}/{sm['jobs_total']} jobs done")
    sm = paired_summary(pc, results_dir, env_rec)
    log(f"paired CV finished this pass: {len(sm['jobs_done'])}/{sm['jobs_total']} jobs done")


MODES = {"release": run_release, "fold": run_fold, "cv": run_cv, "paired": run_paired}


def main(argv=None):
    args = build_parser().parse_args(argv)
    cfg = Config.from_args(args, argv)
    torch.set_num_threads(cfg.threads)
    ENV.set_determinism(cfg.device)
    env = ENV.current(cfg.device)
    log(f"device {cfg.device}, {cfg.threads} CPU threads, deterministic algorithms "
        f"({'strict' if cfg.dev.type == 'cpu' else 'warn only'}), commit {env['git_commit']}")
    MODES[cfg.mode](cfg, env)


if __name__ == "__main__":
    main()
