"""Training steps: losses, the batch of a step, validation, and the two
resumable stage trainers (one net, or GTAN's growing assistant with its
online-distilled students). Every stage trains for a fixed step budget.

The settings come in a config.Config (device, hard-negative weight); the
numbers depend only on (bank, seed, step budget), not on the machine's
load or when a run was interrupted."""
import time

import numpy as np
import torch
import torch.nn.functional as F

import lsdata as D
import nets as N
from config import KD_LAMBDA, KD_T
from runfiles import Stage, log


# ---- losses ---------------------------------------------------------------
def seg_loss(z, y, w, hn=None, hardneg_w=0.0):
    """Soft-target CE (per-sample weight) + soft Dice on the liver channel.
    hn (recipe >= 2 banks): hard-negative map; those voxels' CE counts
    1 + hardneg_w times (the held-out false positives were neighbouring
    tissue 10-30 mm below/medial of the liver, see models/README.md; the A/B
    there found weight 2 no better, so the default is 0 = off)."""
    logp = F.log_softmax(z, 1)
    t = torch.stack([1 - y, y], 1)
    ce = -(t * logp).sum(1)
    if hn is not None and hardneg_w > 0:
        ce = ce * (1 + hardneg_w * hn)
    ce = ce.mean(dim=(1, 2, 3))
    ce = (ce * w).sum() / w.sum()
    p = logp[:, 1].exp()
    inter = (p * y).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + y.sum() + 1)
    return ce + dice


def kd_loss(z, d_t, T=KD_T):
    """Hinton KD for two classes: T^2 * KL(p_t^T || p_s^T) per voxel, mean.
    d_t is the teacher's logit difference (liver - background)."""
    d_s = (z[:, 1] - z[:, 0]) / T
    d_t = d_t / T
    pt = torch.sigmoid(d_t)
    kl = pt * (F.logsigmoid(d_t) - F.logsigmoid(d_s)) + (1 - pt) * (F.logsigmoid(-d_t) - F.logsigmoid(-d_s))
    return T * T * kl.mean()


def batch(bk, step, bs, seed, teacher_d=None, device="cpu"):
    """The batch of a step: a pure function of (bank, seed, step), so a
    resumed run sees exactly the data an uninterrupted one would."""
    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(bk["x"]), bs)
    x = torch.from_numpy(bk["x"][idx].astype(np.float32))[:, None]
    y = torch.from_numpy(bk["y"][idx].astype(np.float32) / 255.0)
    w = torch.from_numpy(bk["w"][idx])
    d = None if teacher_d is None else torch.from_numpy(teacher_d[idx].astype(np.float32))
    hn = torch.from_numpy(bk["hn"][idx].astype(np.float32)) if "hn" in bk else None
    mv = lambda t: None if t is None else t.to(device)  # noqa: E731
    return mv(x), mv(y), mv(w), mv(d), mv(hn)


def lr_at(step, budget, base):
    """30-step linear warm-up, then cosine to 5 % of base at the budget."""
    warm = 30
    if step < warm:
        return base * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, budget - warm))
    return base * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * t)))


# ---- validation on low-res whole volumes ----------------------------------
class Validator:
    """Dice of a net on whole validation volumes at the low (training)
    resolution: a cheap progress figure for the logs, not the evaluation
    (evaluation.py does that on the original grid)."""

    def __init__(self, preps, device):
        self.device = device
        self.items = []
        for name, (hu, lab, sp) in preps.items():
            x, shp = D.preprocess_lowres(hu)
            self.items.append((name, torch.from_numpy(x)[None, None], shp, lab > 0.5))

    @torch.no_grad()
    def __call__(self, net):
        net.eval()
        out = {}
        for name, x, shp, ref in self.items:
            z = net(x.to(self.device))[0].cpu().numpy()
            p = D.logits_to_prob(z)[: shp[2], : shp[1], : shp[0]].transpose(2, 1, 0)
            out[name] = float(D.dice(p > 0.5, ref))
        net.train()
        return out


# ---- the stage trainers ------------------------------------------------------
def train_single(cfg, run_dir, stage_name, arch, bk, validator, steps, bs, lr, seed, teacher_d=None,
                 val_every=100):
    """Trains one net (architecture arch) on the bank for steps steps,
    optionally with KD from cached teacher logits teacher_d; resumes from
    and checkpoints to <run_dir>/<stage_name>.pt. Returns (net, state)."""
    dev = cfg.dev
    stg = Stage(run_dir, stage_name, dev)
    st = stg.load()
    torch.manual_seed(seed)
    net = N.build(arch).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-5)
    if st is None:
        st = {"step": 0, "budget": steps, "elapsed_s": 0.0, "cfg": arch, "done": False}
    else:
        net.load_state_dict(st["model"])
        if st["done"]:
            # A finished stage may come back without its optimiser (a lent
            # machine's results are stripped to fit the transfer).
            return net, st
        opt.load_state_dict(st["opt"])
        log(f"{stage_name}: resumed at step {st['step']}/{st['budget']}")
    if st["done"]:
        return net, st
    t0, e0 = time.time(), st["elapsed_s"]
    net.train()
    while st["step"] < st["budget"]:
        s = st["step"]
        for g in opt.param_groups:
            g["lr"] = lr_at(s, st["budget"], lr)
        x, y, w, d, hn = batch(bk, s, bs, seed, teacher_d, dev)
        z = net(x)
        loss = seg_loss(z, y, w, hn, cfg.hardneg_w)
        if d is not None:
            loss = (1 - KD_LAMBDA) * loss + KD_LAMBDA * kd_loss(z, d)
        opt.zero_grad()
        loss.backward()
        opt.step()
        st["step"] += 1
        st["elapsed_s"] = e0 + time.time() - t0
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


def grow_widths(start, final, k, n):
    """k-th of n growth stages, linear in width from start to final."""
    return [int(round(s + (f - s) * k / n)) for s, f in zip(start, final)]


def train_gtan(cfg, run_dir, stage_name, acfg0, afinal, students, bk, teacher_d, validator, steps, grow_at, bs,
               lr, seed, val_every=100):
    """GTAN: the assistant (starts at acfg0, widened by Net2Wider towards
    widths afinal at the steps in grow_at) is distilled from the cached
    teacher logits; each student ({name: arch}) is distilled from the
    current assistant, online, on the same batch. Returns (assistant,
    {name: student}, state)."""
    dev = cfg.dev
    stg = Stage(run_dir, stage_name, dev)
    st = stg.load()
    torch.manual_seed(seed)
    asst = N.build(acfg0).to(dev)
    snets = {k: N.build(c).to(dev) for k, c in students.items()}
    if st is None:
        st = {"step": 0, "budget": steps, "elapsed_s": 0.0, "done": False, "acfg": acfg0, "grown": 0,
              "growth_log": []}
    else:
        asst = N.build(st["acfg"]).to(dev)
        asst.load_state_dict(st["asst"])
        for k in snets:
            snets[k].load_state_dict(st["students"][k])
        log(f"{stage_name}: resumed at step {st['step']}/{st['budget']}, assistant {st['acfg']['widths']}")
        # Net2Wider draws its symmetry-breaking noise (and the new net's
        # throw-away init) from torch's global generator: restore its state
        # at the checkpoint, so a growth after the resume draws what an
        # uninterrupted run draws. (Checkpoints from before this was saved
        # resume exactly only up to their next growth event.)
        if "torch_rng" in st:
            torch.set_rng_state(st["torch_rng"])
        elif st["grown"] < len(grow_at):
            log(f"{stage_name}: checkpoint without the torch generator state; growth events after the resume "
                f"will differ from an uninterrupted run's")
    aopt = torch.optim.AdamW(asst.parameters(), lr=lr, weight_decay=1e-5)
    sopt = {k: torch.optim.AdamW(n.parameters(), lr=lr, weight_decay=1e-5) for k, n in snets.items()}
    if "aopt" in st:
        aopt.load_state_dict(st["aopt"])
        for k in sopt:
            sopt[k].load_state_dict(st["sopt"][k])
    if st["done"]:
        return asst, snets, st
    t0, e0 = time.time(), st["elapsed_s"]
    while st["step"] < st["budget"]:
        s = st["step"]
        if st["grown"] < len(grow_at) and s >= grow_at[st["grown"]]:
            st["grown"] += 1
            nw = grow_widths(acfg0["widths"], afinal, st["grown"], len(grow_at))
            # The channel map is seeded per growth event and the noise comes
            # from torch's generator, whose state the checkpoint keeps, so a
            # resumed run grows exactly as an uninterrupted one would.
            asst = N.net2wider(asst.cpu(), nw, np.random.default_rng([seed, 7, st["grown"]])).to(dev)
            st["acfg"] = dict(acfg0, widths=nw)
            aopt = torch.optim.AdamW(asst.parameters(), lr=lr, weight_decay=1e-5)
            st["growth_log"].append({"step": s, "widths": nw, "params": N.count_params(asst)})
            log(f"{stage_name}: assistant grown to {nw} ({N.count_params(asst)} params) at step {s}")
        lr_s = lr_at(s, st["budget"], lr)
        for o in [aopt] + list(sopt.values()):
            for g in o.param_groups:
                g["lr"] = lr_s
        x, y, w, d, hn = batch(bk, s, bs, seed, teacher_d, dev)
        za = asst(x)
        la = (1 - KD_LAMBDA) * seg_loss(za, y, w, hn, cfg.hardneg_w) + KD_LAMBDA * kd_loss(za, d)
        aopt.zero_grad()
        la.backward()
        aopt.step()
        da = (za[:, 1] - za[:, 0]).detach()
        row = {"step": s + 1, "loss_assistant": f"{la.item():.4f}"}
        for k, n in snets.items():
            zs = n(x)
            ls = (1 - KD_LAMBDA) * seg_loss(zs, y, w, hn, cfg.hardneg_w) + KD_LAMBDA * kd_loss(zs, da)
            sopt[k].zero_grad()
            ls.backward()
            sopt[k].step()
            row[f"loss_{k}"] = f"{ls.item():.4f}"
        st["step"] += 1
        st["elapsed_s"] = e0 + time.time() - t0
        row["elapsed_s"] = f"{st['elapsed_s']:.0f}"
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
    st.update(asst=asst.state_dict(), aopt=aopt.state_dict(), torch_rng=torch.get_rng_state(),
              students={k: n.state_dict() for k, n in snets.items()},
              sopt={k: o.state_dict() for k, o in sopt.items()})
