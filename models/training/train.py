"""LiverSeg training driver: teacher → cached teacher logits → GTAN (growing
assistant distilled from the teacher, students distilled from the current
assistant) or the ablation baselines, resumable from checkpoints.

Usage (what `make models` runs):
  /usr/bin/python3 models/training/train.py release            # train (resumes) + export
  /usr/bin/python3 models/training/train.py release --tiny     # end-to-end smoke test
  /usr/bin/python3 models/training/train.py fold --holdout ircad_p07 --modes nokd,gtan
  /usr/bin/python3 models/training/train.py cv --threads 1         # 4-fold CV, resumable
  /usr/bin/python3 models/training/train.py cv --tiny              # its smoke test
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lsdata as D   # noqa: E402
import bank as B     # noqa: E402
import nets as N     # noqa: E402

SEED = 20261125
# Where the nets train: the CPU here; `--device cuda` (or auto) on a GPU
# machine. Bank building, cached logits' storage and evaluation stay numpy.
DEV = torch.device("cpu")
KD_T = 3.0
KD_LAMBDA = 0.5


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ---- losses ---------------------------------------------------------------
# Extra CE weight of background 10–40 mm from the liver (banks of recipe ≥ 2
# carry that map). 0 = off: the A/B in models/README.md found weight 2 no
# better (30k student, fold ircad_p07: Dice 0.646 with it, 0.675 without).
HARDNEG_W = 0.0


def seg_loss(z, y, w, hn=None):
    """Soft-target CE (per-sample weight) + soft Dice on the liver channel.
    hn (recipe 2): hard-negative map; those voxels' CE counts 1 + HARDNEG_W
    times (the held-out false positives were neighbouring tissue 10–30 mm
    below/medial of the liver, see models/README.md)."""
    logp = F.log_softmax(z, 1)
    t = torch.stack([1 - y, y], 1)
    ce = -(t * logp).sum(1)
    if hn is not None and HARDNEG_W > 0:
        ce = ce * (1 + HARDNEG_W * hn)
    ce = ce.mean(dim=(1, 2, 3))
    ce = (ce * w).sum() / w.sum()
    p = logp[:, 1].exp()
    inter = (p * y).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + y.sum() + 1)
    return ce + dice


def kd_loss(z, d_t, T=KD_T):
    """Hinton KD for two classes: T² · KL(p_t^T ‖ p_s^T) per voxel, mean.
    d_t is the teacher's logit difference (liver − background)."""
    d_s = (z[:, 1] - z[:, 0]) / T
    d_t = d_t / T
    pt = torch.sigmoid(d_t)
    kl = pt * (F.logsigmoid(d_t) - F.logsigmoid(d_s)) + (1 - pt) * (F.logsigmoid(-d_t) - F.logsigmoid(-d_s))
    return T * T * kl.mean()


def batch(bk, step, bs, seed, teacher_d=None):
    """The batch of a step: a pure function of (bank, seed, step), so a
    resumed run sees exactly the data an uninterrupted one would."""
    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(bk["x"]), bs)
    x = torch.from_numpy(bk["x"][idx].astype(np.float32))[:, None]
    y = torch.from_numpy(bk["y"][idx].astype(np.float32) / 255.0)
    w = torch.from_numpy(bk["w"][idx])
    d = None if teacher_d is None else torch.from_numpy(teacher_d[idx].astype(np.float32))
    hn = torch.from_numpy(bk["hn"][idx].astype(np.float32)) if "hn" in bk else None
    mv = lambda t: None if t is None else t.to(DEV)  # noqa: E731
    return mv(x), mv(y), mv(w), mv(d), mv(hn)


# ---- validation on low-res whole volumes ----------------------------------
class Validator:
    def __init__(self, preps):
        self.items = []
        for name, (hu, lab, sp) in preps.items():
            x, shp = D.preprocess_lowres(hu)
            self.items.append((name, torch.from_numpy(x)[None, None], shp, lab > 0.5))

    @torch.no_grad()
    def __call__(self, net):
        net.eval()
        out = {}
        for name, x, shp, ref in self.items:
            z = net(x.to(DEV))[0].cpu().numpy()
            p = D.logits_to_prob(z)[: shp[2], : shp[1], : shp[0]].transpose(2, 1, 0)
            out[name] = float(D.dice(p > 0.5, ref))
        net.train()
        return out


# ---- generic resumable stage ------------------------------------------------
class Stage:
    """Holds named models + optimisers, checkpoints them atomically every
    `every_s` seconds, and logs to a CSV."""

    def __init__(self, run_dir, name, every_s=180):
        self.dir = run_dir
        self.name = name
        self.ckpt = os.path.join(run_dir, f"{name}.pt")
        self.csv = os.path.join(run_dir, f"{name}_log.csv")
        self.every_s = every_s
        self.last = time.time()

    def load(self):
        if os.path.exists(self.ckpt):
            return torch.load(self.ckpt, map_location=DEV)
        return None

    def save(self, state):
        atomic_save(state, self.ckpt)
        self.last = time.time()

    def due(self):
        return time.time() - self.last > self.every_s

    def logrow(self, row):
        # Validation rows have more columns: they go to their own file so
        # each CSV has one header.
        path = self.csv.replace("_log.csv", "_val.csv") if any(k.startswith("dice_") for k in row) else self.csv
        new = not os.path.exists(path)
        with open(path, "a", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(row.keys()))
            if new:
                wr.writeheader()
            wr.writerow(row)


def lr_at(step, budget, base):
    warm = 30
    if step < warm:
        return base * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, budget - warm))
    return base * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * t)))


def fix_budget(st, steps_nominal, cap_s, t0, step0):
    """Sets the stage's step budget from the measured speed and the remaining
    wall-clock cap (at 20 steps into this run, then every 100 steps while less
    than 70% is done), so the cosine schedule ends near the cap."""
    if cap_s is None:
        return
    done = st["step"] - step0
    if done < 20 or (st.get("budget_fixed") and (done % 100 != 0 or st["step"] > 0.7 * st["budget"])):
        return
    per = (time.time() - t0) / done
    left = cap_s - (time.time() - t0)
    feasible = st["step"] + int(left / per)
    nb = int(max(st["step"] + 1, min(steps_nominal, feasible)))
    if nb != st["budget"]:
        log(f"budget set to {nb} steps ({per:.2f} s/step, cap {cap_s:.0f}s)")
    st["budget"] = nb
    st["budget_fixed"] = True


def train_single(run_dir, stage_name, cfg, bk, validator, steps, bs, lr, cap_s, seed,
                 teacher_d=None, val_every=100):
    """Trains one net on the bank (optionally with cached-teacher KD)."""
    stg = Stage(run_dir, stage_name)
    st = stg.load()
    torch.manual_seed(seed)
    net = N.build(cfg).to(DEV)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-5)
    if st is None:
        st = {"step": 0, "budget": steps, "budget_fixed": False, "elapsed_s": 0.0, "cfg": cfg, "done": False}
    else:
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        log(f"{stage_name}: resumed at step {st['step']}/{st['budget']}")
    if st["done"]:
        return net, st
    t0, step0, e0 = time.time(), st["step"], st["elapsed_s"]
    net.train()
    while st["step"] < st["budget"]:
        if cap_s is not None and time.time() - t0 > cap_s:
            log(f"{stage_name}: time cap reached at step {st['step']}")
            break
        s = st["step"]
        for g in opt.param_groups:
            g["lr"] = lr_at(s, st["budget"], lr)
        x, y, w, d, hn = batch(bk, s, bs, seed, teacher_d)
        z = net(x)
        loss = seg_loss(z, y, w, hn)
        if d is not None:
            loss = (1 - KD_LAMBDA) * loss + KD_LAMBDA * kd_loss(z, d)
        opt.zero_grad()
        loss.backward()
        opt.step()
        st["step"] += 1
        st["elapsed_s"] = e0 + time.time() - t0
        fix_budget(st, steps, cap_s, t0, step0)
        row = {"step": st["step"], "loss": f"{loss.item():.4f}", "lr": f"{lr_at(s, st['budget'], lr):.2e}",
               "elapsed_s": f"{st['elapsed_s']:.0f}"}
        if st["step"] % val_every == 0 or st["step"] == st["budget"]:
            v = validator(net)
            row.update({f"dice_{k}": f"{vv:.4f}" for k, vv in v.items()})
            log(f"{stage_name} step {st['step']}/{st['budget']} loss {loss.item():.4f} val {v}")
        if st["step"] % 10 == 0 or "dice_" in " ".join(row):
            stg.logrow(row)
        if stg.due():
            st.update(model=net.state_dict(), opt=opt.state_dict())
            stg.save(st)
    st["done"] = st["step"] >= st["budget"]
    st.update(model=net.state_dict(), opt=opt.state_dict())
    stg.save(st)
    return net, st


def teacher_logits(run_dir, tag, teacher, tstep, bk):
    return cached_logits(os.path.join(run_dir, f"teacher_logits_{tag}.npz"), teacher, tstep, bk)


@torch.no_grad()
def cached_logits(p, teacher, tstep, bk):
    """A (frozen) net's logit difference on every bank crop, float16, cached
    in p and recomputed when the net's step changed."""
    if os.path.exists(p):
        z = np.load(p)
        if int(z["step"]) == tstep:
            return z["d"]
    teacher.eval()
    out = np.zeros(bk["x"].shape, np.float16)
    for i in range(0, len(out), 4):
        x = torch.from_numpy(bk["x"][i:i + 4].astype(np.float32))[:, None]
        z = teacher(x.to(DEV))
        out[i:i + 4] = (z[:, 1] - z[:, 0]).cpu().numpy().astype(np.float16)
    tmp = p + ".tmp.npz"
    np.savez(tmp, d=out, step=tstep)
    os.replace(tmp, p)
    return out


def grow_widths(start, final, k, n):
    """k-th of n growth stages, linear in width from start to final."""
    return [int(round(s + (f - s) * k / n)) for s, f in zip(start, final)]


def train_gtan(run_dir, stage_name, acfg0, afinal, students, bk, teacher_d, validator,
               steps, grow_at, bs, lr, cap_s, seed, val_every=100):
    """GTAN: assistant (starts near the student, widened by Net2Wider at the
    steps in grow_at) distilled from the cached teacher; each student is
    distilled from the current assistant, online, on the same batch."""
    stg = Stage(run_dir, stage_name)
    st = stg.load()
    torch.manual_seed(seed)
    asst = N.build(acfg0).to(DEV)
    snets = {k: N.build(c).to(DEV) for k, c in students.items()}
    if st is None:
        st = {"step": 0, "budget": steps, "budget_fixed": False, "elapsed_s": 0.0, "done": False,
              "acfg": acfg0, "grown": 0, "growth_log": []}
    else:
        asst = N.build(st["acfg"]).to(DEV)
        asst.load_state_dict(st["asst"])
        for k in snets:
            snets[k].load_state_dict(st["students"][k])
        log(f"{stage_name}: resumed at step {st['step']}/{st['budget']}, assistant {st['acfg']['widths']}")
    aopt = torch.optim.AdamW(asst.parameters(), lr=lr, weight_decay=1e-5)
    sopt = {k: torch.optim.AdamW(n.parameters(), lr=lr, weight_decay=1e-5) for k, n in snets.items()}
    if "aopt" in st:
        aopt.load_state_dict(st["aopt"])
        for k in sopt:
            sopt[k].load_state_dict(st["sopt"][k])
    if st["done"]:
        return asst, snets, st
    t0, step0, e0 = time.time(), st["step"], st["elapsed_s"]
    while st["step"] < st["budget"]:
        if cap_s is not None and time.time() - t0 > cap_s:
            log(f"{stage_name}: time cap reached at step {st['step']}")
            break
        s = st["step"]
        if st["grown"] < len(grow_at) and s >= grow_at[st["grown"]]:
            st["grown"] += 1
            nw = grow_widths(acfg0["widths"], afinal, st["grown"], len(grow_at))
            # Seeded per growth event, so a resumed run grows exactly as an
            # uninterrupted one would.
            asst = N.net2wider(asst.cpu(), nw, np.random.default_rng([seed, 7, st["grown"]])).to(DEV)
            st["acfg"] = dict(acfg0, widths=nw)
            aopt = torch.optim.AdamW(asst.parameters(), lr=lr, weight_decay=1e-5)
            st["growth_log"].append({"step": s, "widths": nw, "params": N.count_params(asst)})
            log(f"{stage_name}: assistant grown to {nw} ({N.count_params(asst)} params) at step {s}")
        lr_s = lr_at(s, st["budget"], lr)
        for o in [aopt] + list(sopt.values()):
            for g in o.param_groups:
                g["lr"] = lr_s
        x, y, w, d, hn = batch(bk, s, bs, seed, teacher_d)
        za = asst(x)
        la = (1 - KD_LAMBDA) * seg_loss(za, y, w, hn) + KD_LAMBDA * kd_loss(za, d)
        aopt.zero_grad()
        la.backward()
        aopt.step()
        da = (za[:, 1] - za[:, 0]).detach()
        row = {"step": s + 1, "loss_assistant": f"{la.item():.4f}"}
        for k, n in snets.items():
            zs = n(x)
            ls = (1 - KD_LAMBDA) * seg_loss(zs, y, w, hn) + KD_LAMBDA * kd_loss(zs, da)
            sopt[k].zero_grad()
            ls.backward()
            sopt[k].step()
            row[f"loss_{k}"] = f"{ls.item():.4f}"
        st["step"] += 1
        st["elapsed_s"] = e0 + time.time() - t0
        row["elapsed_s"] = f"{st['elapsed_s']:.0f}"
        fix_budget(st, steps, cap_s, t0, step0)
        if st["step"] % val_every == 0 or st["step"] == st["budget"]:
            for k, n in [("assistant", asst)] + list(snets.items()):
                v = validator(n)
                row.update({f"dice_{k}_{c}": f"{vv:.4f}" for c, vv in v.items()})
                log(f"{stage_name} step {st['step']}/{st['budget']} {k} val {v}")
            stg.logrow(row)
        elif st["step"] % 10 == 0:
            stg.logrow(row)
        if stg.due():
            _gtan_state(st, asst, snets, aopt, sopt)
            stg.save(st)
    st["done"] = st["step"] >= st["budget"]
    _gtan_state(st, asst, snets, aopt, sopt)
    stg.save(st)
    return asst, snets, st


def _gtan_state(st, asst, snets, aopt, sopt):
    st.update(asst=asst.state_dict(), aopt=aopt.state_dict(),
              students={k: n.state_dict() for k, n in snets.items()},
              sopt={k: o.state_dict() for k, o in sopt.items()})


# ---- configuration -----------------------------------------------------------
ASSISTANT_START = {"widths": [6, 10, 12, 18], "stem_stride": 2, "nconv": 2}
ASSISTANT_FINAL = [18, 30, 36, 54]

PROFILES = {
    # name: bank size, teacher steps/cap, gtan steps/cap, growth steps, batch
    # recipe 1: the first release (wall-clock caps, absolute growth steps).
    "release": dict(bank=480, t_steps=4000, t_cap=2700, g_steps=3000, g_cap=2700, grow=[150, 350, 550], bs=2),
    # recipe ≥ 2: the CV's protocol with larger budgets (teacher 2×, GTAN
    # 4/3× the CV's 1,500 steps; set so the run fits a session on this busy
    # 2-core machine) and a bank a third larger for four cases instead of
    # three; fixed step budgets (no caps, so the result does not depend on
    # machine load), growth at GROW_FRAC.
    "release_r2": dict(bank=1280, t_steps=3000, t_cap=None, g_steps=2000, g_cap=None, grow=None, bs=2),
    "tiny": dict(bank=12, t_steps=6, t_cap=None, g_steps=8, g_cap=None, grow=[2, 4, 6], bs=1),
}


# ---- leave-one-case-out cross-validation -----------------------------------
STUDENTS = ("student", "student100k")
VARIANTS = ("nokd", "kd", "fta", "gtan")
GROW_FRAC = (0.1, 0.25, 0.4)   # GTAN growth events, as fractions of the stage's step budget


def cv_config(args):
    """Everything that defines the CV's numbers. A resumed run must match it."""
    if args.tiny:
        return {"recipe": args.recipe, "bank": 12, "teacher_steps": 6, "steps": 8, "bs": 1, "lr": 2e-3,
                "seed": SEED, "kd_T": KD_T, "kd_lambda": KD_LAMBDA, "hardneg_w": HARDNEG_W,
                "grow_frac": list(GROW_FRAC), "folds": args.folds.split(","), "tiny": True}
    return {"recipe": args.recipe, "bank": args.bank, "teacher_steps": args.teacher_steps, "steps": args.steps,
            "bs": 2, "lr": 2e-3, "seed": SEED, "kd_T": KD_T, "kd_lambda": KD_LAMBDA, "hardneg_w": HARDNEG_W,
            "grow_frac": list(GROW_FRAC), "folds": args.folds.split(","), "tiny": False}


def atomic_json(obj, path):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def cv_fold(cfg, root, results_dir, holdout, all_cases, cache_dir, val_every):
    """One leave-one-case-out fold: teacher → cached teacher logits → GTAN
    (growing assistant + both students) → fixed assistant (final width,
    teacher KD) → its cached logits → per student size no-KD, teacher-KD and
    fixed-TA-KD students, every student variant and both assistants with the
    SAME step budget; then everything evaluated on the held-out case's
    original grid. Each stage resumes from its checkpoint; finished stages
    are skipped."""
    import export
    tag = ("tiny_" if cfg["tiny"] else "") + f"cv_{holdout}"
    fold_dir = os.path.join(root, holdout)
    os.makedirs(fold_dir, exist_ok=True)
    train_cases = [c for c in all_cases if c[0] != holdout]
    val_cases = [c for c in all_cases if c[0] == holdout]
    trained_on = [c[0] for c in train_cases]
    log(f"fold {holdout}: train {trained_on}")
    t0 = time.time()
    bk = B.build_bank(train_cases, cfg["bank"], cfg["seed"], cache_dir, tag, recipe=cfg["recipe"])
    log(f"fold {holdout}: bank {bk['x'].shape} ready ({time.time() - t0:.0f} s)")
    preps = {c[0]: B.prep_case(c[0], c[1], c[2], cache_dir) for c in val_cases}
    validator = Validator(preps)
    bs, lr, seed, n = cfg["bs"], cfg["lr"], cfg["seed"], cfg["steps"]
    teacher, tst = train_single(fold_dir, "teacher", N.ARCH["teacher"], bk, validator, cfg["teacher_steps"], bs, lr,
                                None, seed, val_every=val_every)
    d = cached_logits(os.path.join(fold_dir, "teacher_logits.npz"), teacher, tst["step"], bk)
    students = {k: N.ARCH[k] for k in STUDENTS}
    grow = sorted({max(1, int(round(f * n))) for f in cfg["grow_frac"]})
    asst, snets, gst = train_gtan(fold_dir, "gtan", ASSISTANT_START, ASSISTANT_FINAL, students, bk, d, validator,
                                  n, grow, bs, lr, None, seed, val_every=val_every)
    # Fixed teacher assistant: the GTAN assistant's FINAL architecture,
    # trained from scratch with teacher KD for the same budget, then frozen;
    # its logits on the bank are cached and the students distilled from them.
    acfg = dict(ASSISTANT_START, widths=list(ASSISTANT_FINAL))
    fta, fst = train_single(fold_dir, "assistant_fta", acfg, bk, validator, n, bs, lr, None, seed, teacher_d=d,
                            val_every=val_every)
    da = cached_logits(os.path.join(fold_dir, "assistant_fta_logits.npz"), fta, fst["step"], bk)
    nets = {"teacher": (teacher, tst["step"]), "assistant_gtan": (asst, gst["step"]),
            "assistant_fta": (fta, fst["step"])}
    for k in STUDENTS:
        for v, dd in (("nokd", None), ("kd", d), ("fta", da)):
            net, st = train_single(fold_dir, f"{k}_{v}", N.ARCH[k], bk, validator, n, bs, lr, None, seed,
                                   teacher_d=dd, val_every=val_every)
            nets[f"{k}_{v}"] = (net, st["step"])
        nets[f"{k}_gtan"] = (snets[k], gst["step"])
    res = {"holdout": holdout, "train_cases": trained_on, "config": cfg, "models": {}}
    for name, (net, steps) in nets.items():
        ev = export.evaluate(net, val_cases, trained_on)[holdout]
        assert ev["held_out"]
        res["models"][name] = {"params": N.count_params(net), "steps": steps, **ev}
        log(f"fold {holdout} {name}: {ev}")
    res["fold_wall_s_this_run"] = round(time.time() - t0)
    atomic_json(res, os.path.join(results_dir, f"fold_{holdout}.json"))
    return res


def cv_summary(cfg, results_dir):
    """results/cv.json: per model, per held-out case figures and mean ± SD
    (and min–max) over the folds finished so far."""
    folds = {}
    for h in cfg["folds"]:
        p = os.path.join(results_dir, f"fold_{h}.json")
        if os.path.exists(p):
            r = json.load(open(p))
            if r.get("config") == cfg:
                folds[h] = r
    models = {}
    for h, r in folds.items():
        for m, v in r["models"].items():
            models.setdefault(m, {"params": v["params"], "per_case": {}})["per_case"][h] = {
                k: v[k] for k in ("dice", "hd95_mm", "volume_error_pct", "steps")}
    for m, v in models.items():
        for k in ("dice", "hd95_mm", "volume_error_pct"):
            a = np.array([c[k] for c in v["per_case"].values()], np.float64)
            v[k] = {"mean": round(float(a.mean()), 4), "sd": round(float(a.std(ddof=1)), 4) if len(a) > 1 else None,
                    "min": round(float(a.min()), 4), "max": round(float(a.max()), 4), "n": int(len(a))}
    out = {"config": cfg, "folds_done": list(folds), "complete": len(folds) == len(cfg["folds"]),
           "note": "leave-one-case-out; every figure is on the held-out case's ORIGINAL grid; sd = sample SD over folds",
           "models": models}
    atomic_json(out, os.path.join(results_dir, "cv.json"))
    return out


def run_cv(args):
    cfg = cv_config(args)
    name = ("tiny_" if args.tiny else "") + f"cv_r{cfg['recipe']}"
    root = os.path.join(HERE, "runs", name)
    results_dir = os.path.join(root, "results") if args.tiny else os.path.join(HERE, "results")
    cache_dir = os.path.join(HERE, "cache")
    os.makedirs(root, exist_ok=True)
    os.makedirs(results_dir, exist_ok=True)
    cp = os.path.join(root, "config.json")
    if os.path.exists(cp):
        old = json.load(open(cp))
        if old != cfg:
            sys.exit(f"train.py cv: {cp} holds a different configuration:\n{old}\nvs\n{cfg}\n"
                     f"(resume with the same arguments, or move {root} away to start over)")
    else:
        atomic_json(cfg, cp)
    log(f"cv {name}: {cfg}")
    all_cases = D.find_cases()
    known = [c[0] for c in all_cases]
    for h in cfg["folds"]:
        if h not in known:
            sys.exit(f"train.py cv: fold {h!r} is not one of the cases {known}")
    val_every = 2 if args.tiny else 200
    import fcntl
    for h in cfg["folds"]:
        p = os.path.join(results_dir, f"fold_{h}.json")
        if os.path.exists(p) and json.load(open(p)).get("config") == cfg:
            log(f"fold {h}: done ({p})")
            continue
        # One process per fold: a second `train.py cv` with the same arguments
        # (e.g. on the other core, each with --threads 1) skips folds another
        # process is training and takes the next one, so folds run in parallel
        # without ever sharing checkpoints.
        lock = open(os.path.join(root, f"{h}.lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log(f"fold {h}: another process is training it; skipping")
            lock.close()
            continue
        try:
            if os.path.exists(p) and json.load(open(p)).get("config") == cfg:
                log(f"fold {h}: done ({p})")
                continue
            cv_fold(cfg, root, results_dir, h, all_cases, cache_dir, val_every)
        finally:
            lock.close()
        s = cv_summary(cfg, results_dir)
        log(f"cv summary: folds done {s['folds_done']}")
    s = cv_summary(cfg, results_dir)
    log(f"cv finished: {s['folds_done']}")


# ---- paired CV: real-only vs real + new anatomy (issue 15) -------------------
# Per fold, per seed, per arm: teacher, then no-KD and teacher-KD students of
# both sizes at the same step budgets; the two arms differ ONLY in the bank:
# "real" is the fold's real bank, "synth" the same real bank plus as many
# synthetic crops from the label maps (synth.py), so at the same step budget
# half of the synth arm's batches are synthetic. Seed SEED's real arm is the
# earlier CV's configuration (same bank, init and batches) for those nets.
PAIRED_NETS = ["teacher"] + [f"{k}_{v}" for k in STUDENTS for v in ("nokd", "kd")]
EXTRA_EVAL = ["totalseg_s0009_partial"]


def paired_config(args):
    arms = [a for a in args.anatomy.split(",") if a]
    for a in arms:
        if a not in ("real", "synth"):
            sys.exit(f"train.py: --anatomy {a!r}: want real and/or synth")
    base = {"kind": "paired", "recipe": args.recipe, "lr": 2e-3, "seeds": [SEED + i for i in range(args.seeds)],
            "arms": arms, "kd_T": KD_T, "kd_lambda": KD_LAMBDA, "hardneg_w": HARDNEG_W,
            "folds": args.folds.split(","), "nets": PAIRED_NETS, "extra_eval": EXTRA_EVAL}
    if args.tiny:
        return dict(base, bank=12, synth_bank=12, teacher_steps=6, steps=8, bs=1, tiny=True)
    return dict(base, bank=args.bank, synth_bank=args.synth_bank, teacher_steps=args.teacher_steps,
                steps=args.steps, bs=2, tiny=False)


def paired_job(cfg, root, results_dir, holdout, arm, seed, all_cases, cache_dir, val_every):
    import export
    import synth as S
    tag = ("tiny_" if cfg["tiny"] else "") + f"cv_{holdout}" + ("" if seed == SEED else f"_s{seed}")
    job_dir = os.path.join(root, holdout, f"{arm}_s{seed}")
    os.makedirs(job_dir, exist_ok=True)
    train_cases = [c for c in all_cases if c[0] != holdout]
    trained_on = [c[0] for c in train_cases]
    log(f"paired {holdout} {arm} seed {seed}: train {trained_on}")
    t0 = time.time()
    bk = B.build_bank(train_cases, cfg["bank"], seed, cache_dir, tag, recipe=cfg["recipe"])
    info = {"real_crops": int(len(bk["x"]))}
    if arm == "synth":
        preps = {c[0]: B.prep_case(c[0], c[1], c[2], cache_dir) for c in train_cases}
        sb = S.build_synth_bank(preps, [holdout], cfg["synth_bank"], seed, cache_dir, tag, cfg["recipe"], log=log)
        bk = {k: np.concatenate([bk[k], sb[k]]) for k in bk}
        info.update(synth_crops=int(len(sb["x"])), synth_maps_eligible=len(S.eligible([holdout])),
                    synth_volumes=int(len(sb["synth_volumes"])))
    log(f"paired {holdout} {arm} seed {seed}: bank {bk['x'].shape} ({time.time() - t0:.0f} s)")
    val_cases = [c for c in all_cases if c[0] == holdout]
    validator = Validator({c[0]: B.prep_case(c[0], c[1], c[2], cache_dir) for c in val_cases})
    bs, lr, n = cfg["bs"], cfg["lr"], cfg["steps"]
    teacher, tst = train_single(job_dir, "teacher", N.ARCH["teacher"], bk, validator, cfg["teacher_steps"], bs, lr,
                                None, seed, val_every=val_every)
    d = cached_logits(os.path.join(job_dir, "teacher_logits.npz"), teacher, tst["step"], bk)
    nets = {"teacher": (teacher, tst)}
    for k in STUDENTS:
        for v, dd in (("nokd", None), ("kd", d)):
            net, st = train_single(job_dir, f"{k}_{v}", N.ARCH[k], bk, validator, n, bs, lr, None, seed,
                                   teacher_d=dd, val_every=val_every)
            nets[f"{k}_{v}"] = (net, st)
    del bk, d
    extra = D.find_cases(names=cfg["extra_eval"])
    res = {"holdout": holdout, "arm": arm, "seed": seed, "train_cases": trained_on, "config": cfg, "bank": info,
           "models": {}}
    for name, (net, st) in nets.items():
        # Temperature 1 (plain softmax), as every job of this CV so far: the
        # shipped cards' T = 8 came later; both are in models/README.md.
        ev = export.evaluate(net, val_cases + extra, trained_on, 1.0)
        assert ev[holdout]["held_out"]
        res["models"][name] = {"params": N.count_params(net), "steps": st["step"], "train_s": round(st["elapsed_s"]),
                               **ev[holdout], "extra": {e[0]: ev[e[0]] for e in extra}}
        log(f"paired {holdout} {arm} seed {seed} {name}: {ev}")
    res["job_wall_s_this_run"] = round(time.time() - t0)
    atomic_json(res, os.path.join(results_dir, f"fold_{holdout}_{arm}_s{seed}.json"))
    return res


def _stat(a):
    a = np.array(a, np.float64)
    return {"mean": round(float(a.mean()), 4), "sd": round(float(a.std(ddof=1)), 4) if len(a) > 1 else None,
            "min": round(float(a.min()), 4), "max": round(float(a.max()), 4), "n": int(len(a))}


def paired_summary(cfg, results_dir):
    """results/paired/cv_paired.json: per net and arm, the figures of every
    finished (fold, seed) and their mean ± SD; per net, the paired difference
    synth − real over the (fold, seed) pairs where both arms finished."""
    runs = {}
    for h in cfg["folds"]:
        for s in cfg["seeds"]:
            for a in cfg["arms"]:
                p = os.path.join(results_dir, f"fold_{h}_{a}_s{s}.json")
                if os.path.exists(p):
                    r = json.load(open(p))
                    if r.get("config") == cfg:
                        runs[(h, s, a)] = r
    keys = ("dice", "hd95_mm", "volume_error_pct")
    out = {"config": cfg, "jobs_done": [f"{h}/{a}/s{s}" for h, s, a in runs],
           "jobs_total": len(cfg["folds"]) * len(cfg["seeds"]) * len(cfg["arms"]),
           "note": "leave-one-case-out; figures on the held-out case's ORIGINAL grid; sd = sample SD over "
                   "(fold, seed) runs; paired = synth minus real on the same fold and seed",
           "nets": {}}
    for net in cfg["nets"]:
        e = out["nets"][net] = {"arms": {}, "paired": {}}
        for a in cfg["arms"]:
            rows = {f"{h}/s{s}": {k: r["models"][net][k] for k in keys} | {
                "partial_" + k: r["models"][net]["extra"][EXTRA_EVAL[0]][k] for k in keys}
                for (h, s, aa), r in runs.items() if aa == a}
            e["arms"][a] = {"runs": rows}
            if rows:
                e["arms"][a].update({k: _stat([v[k] for v in rows.values()]) for k in keys})
                e["arms"][a]["abs_volume_error_pct"] = _stat([abs(v["volume_error_pct"]) for v in rows.values()])
                e["arms"][a].update({"partial_" + k: _stat([v["partial_" + k] for v in rows.values()]) for k in keys})
        if set(cfg["arms"]) >= {"real", "synth"}:
            both = sorted(set(e["arms"]["real"]["runs"]) & set(e["arms"]["synth"]["runs"]))
            for k in keys + tuple("partial_" + k for k in keys):
                diffs = [e["arms"]["synth"]["runs"][j][k] - e["arms"]["real"]["runs"][j][k] for j in both]
                if diffs:
                    e["paired"][k] = _stat(diffs) | {"pairs": both}
    atomic_json(out, os.path.join(results_dir, "cv_paired.json"))
    return out


def run_paired(args):
    cfg = paired_config(args)
    name = ("tiny_" if args.tiny else "") + f"cv_paired_r{cfg['recipe']}"
    root = os.path.join(HERE, "runs", name)
    results_dir = os.path.join(root, "results") if args.tiny else os.path.join(HERE, "results", "paired")
    cache_dir = os.path.join(HERE, "cache")
    os.makedirs(root, exist_ok=True)
    os.makedirs(results_dir, exist_ok=True)
    cp = os.path.join(root, "config.json")
    if os.path.exists(cp):
        old = json.load(open(cp))
        if old != cfg:
            sys.exit(f"train.py paired: {cp} holds a different configuration:\n{old}\nvs\n{cfg}\n"
                     f"(resume with the same arguments, or move {root} away to start over)")
    else:
        atomic_json(cfg, cp)
    log(f"paired CV {name}: {cfg}")
    all_cases = D.find_cases()
    val_every = 2 if args.tiny else 300
    import fcntl
    # Order: seed by seed, fold by fold, both arms of a fold together, so the
    # paired table fills in pairs.
    for s in cfg["seeds"]:
        for h in cfg["folds"]:
            for a in cfg["arms"]:
                p = os.path.join(results_dir, f"fold_{h}_{a}_s{s}.json")
                done = lambda: os.path.exists(p) and json.load(open(p)).get("config") == cfg  # noqa: E731
                if done():
                    continue
                lock = open(os.path.join(root, f"{h}_{a}_s{s}.lock"), "w")
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    log(f"paired {h} {a} seed {s}: another process is training it; skipping")
                    lock.close()
                    continue
                try:
                    if not done():
                        paired_job(cfg, root, results_dir, h, a, s, all_cases, cache_dir, val_every)
                finally:
                    lock.close()
                sm = paired_summary(cfg, results_dir)
                log(f"paired summary: {len(sm['jobs_done'])}/{sm['jobs_total']} jobs done")
    sm = paired_summary(cfg, results_dir)
    log(f"paired CV finished this pass: {len(sm['jobs_done'])}/{sm['jobs_total']} jobs done")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["release", "fold", "cv", "paired"])
    ap.add_argument("--tiny", action="store_true", help="smoke test: a few steps, separate run dir")
    ap.add_argument("--holdout", default=None, help="fold mode: case held out for validation")
    ap.add_argument("--teacher-cap", type=float, default=None, help="override teacher wall-clock cap (s)")
    ap.add_argument("--gtan-cap", type=float, default=None, help="override GTAN wall-clock cap (s)")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--ablate", default="student",
                    help="fold mode: comma-separated student names also trained without KD and with plain teacher KD, "
                         "for as many steps as the GTAN students got")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when torch sees a GPU)")
    ap.add_argument("--recipe", type=int, default=2, choices=[1, 2, 3],
                    help="cv and release: data/loss recipe (1 = the first release models'; 2 = near-liver crops, hard-negative "
                         "loss weight, contrast-phase augmentation; 3 = 2 without the phase augmentation)")
    ap.add_argument("--teacher-steps", type=int, default=1500, help="cv mode: teacher step budget per fold")
    ap.add_argument("--steps", type=int, default=1800,
                    help="cv mode: step budget of EVERY assistant/student variant per fold")
    ap.add_argument("--bank", type=int, default=960, help="cv mode: augmented crops per fold")
    ap.add_argument("--folds", default=",".join(D.RELEASE_CASES), help="cv mode: held-out cases, in order")
    ap.add_argument("--ship", default="student=kd,student100k=kd",
                    help="release mode (recipe >= 2): which variant of each student is exported "
                         "(gtan, nokd or kd); the default is the CV's pick (models/README.md)")
    ap.add_argument("--variants", default="",
                    help="release mode (recipe >= 2): extra student variants to train besides GTAN (nokd,kd); "
                         "those named in --ship are always trained")
    ap.add_argument("--anatomy", default="real",
                    help="paired mode: arms to train (real,synth); release mode: 'synth' adds as many synthetic crops "
                         "from ../shared/data/labels (synth.py) as the real bank has")
    ap.add_argument("--seeds", type=int, default=2, help="paired mode: seeds per fold (SEED, SEED+1, ...)")
    ap.add_argument("--synth-bank", type=int, default=960, help="paired mode: synthetic crops added per fold")
    ap.add_argument("--hardneg-w", type=float, default=0.0,
                    help="extra CE weight of background 10-40 mm from the liver (recipe >= 2 banks; 0 = off)")
    args = ap.parse_args()
    # Checked before any training: a typo must not surface hours later.
    ship = {}
    for kv in [x for x in args.ship.split(",") if x]:
        k, _, v = kv.partition("=")
        if k not in STUDENTS or v not in ("gtan", "nokd", "kd"):
            sys.exit(f"train.py: --ship {kv!r}: want student=V or student100k=V with V one of gtan, nokd, kd")
        ship[k] = v
    for v in {v for v in args.variants.split(",") if v} - {"nokd", "kd"}:
        sys.exit(f"train.py: --variants {v!r}: release trains nokd and kd students (gtan comes with the GTAN stage)")
    torch.set_num_threads(args.threads)
    global DEV, HARDNEG_W
    HARDNEG_W = args.hardneg_w
    DEV = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if args.device == "auto" else args.device))
    log(f"device {DEV}, {args.threads} CPU threads")
    if args.mode == "cv":
        run_cv(args)
        return
    if args.mode == "paired":
        run_paired(args)
        return
    r2 = args.mode == "release" and args.recipe >= 2
    prof = dict(PROFILES["tiny" if args.tiny else ("release_r2" if r2 else "release")])
    if prof["grow"] is None:
        prof["grow"] = sorted({max(1, int(round(f * prof["g_steps"]))) for f in GROW_FRAC})
    recipe = args.recipe if args.mode == "release" else 1
    if args.teacher_cap is not None:
        prof["t_cap"] = args.teacher_cap
    if args.gtan_cap is not None:
        prof["g_cap"] = args.gtan_cap
    tag = ("tiny_" if args.tiny else "") + (("release" + (f"_r{recipe}" if recipe >= 2 else ""))
                                            if args.mode == "release" else f"fold_{args.holdout}")
    synth_arm = args.mode == "release" and "synth" in args.anatomy.split(",")
    if synth_arm:
        tag += "_synth"   # its own run dir: never resumes a real-only release
    run_dir = os.path.join(HERE, "runs", tag)
    cache_dir = os.path.join(HERE, "cache")
    os.makedirs(run_dir, exist_ok=True)
    all_cases = D.find_cases()
    train_cases = [c for c in all_cases if c[0] != args.holdout]
    val_cases = [c for c in all_cases if c[0] == args.holdout] or train_cases
    log(f"run {tag}: train {[c[0] for c in train_cases]} val {[c[0] for c in val_cases]}")
    t_start = time.time()
    bk = B.build_bank(train_cases, prof["bank"], SEED, cache_dir, tag, recipe=recipe)
    if synth_arm:
        # Real + new anatomy (synth.py): as many synthetic crops as real ones.
        import synth as S
        tp = {c[0]: B.prep_case(c[0], c[1], c[2], cache_dir) for c in train_cases}
        sb = S.build_synth_bank(tp, [], prof["bank"], SEED, cache_dir, tag, recipe, log=log)
        bk = {k: np.concatenate([bk[k], sb[k]]) for k in bk}
    log(f"bank {bk['x'].shape} ready (recipe {recipe})")
    preps = {c[0]: B.prep_case(c[0], c[1], c[2], cache_dir) for c in val_cases}
    validator = Validator(preps)
    val_every = 2 if args.tiny else (300 if r2 else 100)
    teacher, tst = train_single(run_dir, "teacher", N.ARCH["teacher"], bk, validator, prof["t_steps"], prof["bs"],
                                2e-3, prof["t_cap"], SEED, val_every=val_every)
    d = teacher_logits(run_dir, tag, teacher, tst["step"], bk)
    log(f"teacher logits cached (teacher step {tst['step']})")
    students = {"student": N.ARCH["student"], "student100k": N.ARCH["student100k"]}
    asst, snets, gst = train_gtan(run_dir, "gtan", ASSISTANT_START, ASSISTANT_FINAL, students, bk, d, validator,
                                  prof["g_steps"], prof["grow"], prof["bs"], 2e-3, prof["g_cap"], SEED,
                                  val_every=val_every)
    variants = {}
    if r2:
        # Other student variants of the same budget (--variants), so the
        # release can ship the one the CV ranks best (--ship).
        want = [v for v in args.variants.split(",") if v]
        for v in list(ship.values()):
            if v != "gtan" and v not in want:
                want.append(v)
        for k in STUDENTS:
            for v, dd in (("nokd", None), ("kd", d)):
                if v not in want:
                    continue
                _, vst = train_single(run_dir, f"{k}_{v}", N.ARCH[k], bk, validator, prof["g_steps"], prof["bs"],
                                      2e-3, None, SEED, teacher_d=dd, val_every=val_every)
                variants[f"{k}_{v}"] = {kk: vst[kk] for kk in ("step", "budget", "elapsed_s", "done")}
    summary = {"tag": tag, "recipe": recipe, "bank": B.bank_path(cache_dir, tag, recipe),
               "train_cases": [c[0] for c in train_cases], "val_cases": [c[0] for c in val_cases],
               "variants": variants,
               "teacher": {k: tst[k] for k in ("step", "budget", "elapsed_s", "done")},
               "gtan": {k: gst[k] for k in ("step", "budget", "elapsed_s", "done", "growth_log", "acfg")},
               "wall_s": time.time() - t_start}
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log(f"training stages finished: {json.dumps(summary)}")
    if args.mode == "release" and not args.no_export:
        import export
        export.export_all(run_dir, tiny=args.tiny, ship=ship, command=" ".join(["train.py"] + sys.argv[1:]))
        if not args.tiny:
            import parity
            sys.argv = [sys.argv[0]]
            parity.main()
    if args.mode == "fold":
        fold_eval(args, run_dir, tag, bk, d, validator, teacher, asst, snets, tst, gst, prof, val_cases, train_cases)


def fold_eval(args, run_dir, tag, bk, d, validator, teacher, asst, snets, tst, gst, prof, val_cases, train_cases):
    """Ablation students on the same bank and step count as the GTAN students,
    then every net evaluated on the held-out case on its ORIGINAL grid."""
    import export
    nets = {"teacher": teacher, "assistant": asst}
    nets.update({f"{k}_gtan": n for k, n in snets.items()})
    steps = gst["step"]
    val_every = 2 if args.tiny else 100
    for k in [a for a in args.ablate.split(",") if a]:
        n0, _ = train_single(run_dir, f"{k}_nokd", N.ARCH[k], bk, validator, steps, prof["bs"], 2e-3, None, SEED,
                             val_every=val_every)
        n1, _ = train_single(run_dir, f"{k}_kd", N.ARCH[k], bk, validator, steps, prof["bs"], 2e-3, None, SEED,
                             teacher_d=d, val_every=val_every)
        nets[f"{k}_nokd"], nets[f"{k}_kd"] = n0, n1
    trained_on = [c[0] for c in train_cases]
    res = {"holdout": args.holdout, "train_cases": trained_on, "teacher_steps": tst["step"],
           "gtan_steps": gst["step"], "ablation_steps": steps, "teacher_s": round(tst["elapsed_s"]),
           "gtan_s": round(gst["elapsed_s"]), "models": {}}
    for name, n in nets.items():
        ev = export.evaluate(n, val_cases, trained_on)
        res["models"][name] = {"params": N.count_params(n), **ev}
        log(f"fold {args.holdout} {name}: {ev}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    # results/fold_<case>.json belongs to `cv`; this single reduced fold is "reduced_".
    for p in (os.path.join(run_dir, "fold_results.json"), os.path.join(HERE, "results", f"reduced_{tag}.json")):
        with open(p + ".tmp", "w") as f:
            json.dump(res, f, indent=1)
        os.replace(p + ".tmp", p)


if __name__ == "__main__":
    main()
