"""Evaluation of a net with the app's full pipeline (the contract's
preprocessing, softmax at the card's temperature, resampling to the
original grid, postprocessing) on a case's ORIGINAL canonical grid:
Dice, HD95 and volume error. Used by training (fold, CV and paired results),
export (model cards) and the diagnosis scripts."""
import time

import numpy as np
import torch

import lsdata as D

_case_cache = {}


def load_case(name, ct, lb):
    """Canonical HU, binary liver label and spacing of a case (cached per process)."""
    if name not in _case_cache:
        hu, sp = D.load_nifti_canonical(ct)
        lab, _ = D.load_nifti_canonical(lb)
        _case_cache[name] = (hu, (lab >= 1).astype(np.uint8), sp)
    return _case_cache[name]


_prep_cache = {}


@torch.no_grad()
def segment(net, hu, sp, temperature=1.0):
    """Full app pipeline on a canonical HU array; returns (mask, prob_low).
    temperature: the card's output.temperature (1 = plain softmax; the CVs
    evaluate at 1, the shipped cards at D.SOFT_TEMPERATURE)."""
    key = (id(hu), hu.shape)
    if key not in _prep_cache:
        _prep_cache[key] = D.preprocess(hu, sp)
    x, shp = _prep_cache[key]
    net.eval()
    dev = next(net.parameters()).device
    z = net(torch.from_numpy(x)[None, None].to(dev))[0].cpu().numpy()
    p = D.logits_to_prob(z, temperature)[: shp[2], : shp[1], : shp[0]].transpose(2, 1, 0)
    return D.postprocess(p, hu.shape, sp), p


def evaluate(net, cases, trained_on, temperature=1.0):
    """{case: {dice, hd95_mm, volume_error_pct, held_out, seconds}} for the
    cases (lsdata.find_cases tuples); held_out = not in trained_on."""
    res = {}
    for name, ct, lb, _ in cases:
        hu, lab, sp = load_case(name, ct, lb)
        t = time.time()
        m, _ = segment(net, hu, sp, temperature)
        res[name] = {"dice": round(float(D.dice(m, lab)), 4), "hd95_mm": round(D.hd95(m, lab, sp), 2),
                     "volume_error_pct": round(float(D.volume_error_pct(m, lab)), 2),
                     "held_out": name not in trained_on, "seconds": round(time.time() - t, 1)}
    return res
