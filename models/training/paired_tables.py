"""Renders the paired CV (real-only vs real + new anatomy) from
results/paired/cv_paired.json (rewritten by `train.py paired` after every
finished job; the shape-transfer arm's run: --cv results/paired_shape/cv_paired.json). Says how many jobs are in, so a partial table is never
mistaken for a finished one. --ablation puts every arm of both runs side by
side on the (fold, seed) pairs that all of them finished.

    /usr/bin/python3 models/training/paired_tables.py [--cv PATH] [--ablation]
"""
import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = [("dice", "Dice", "{:.3f}"), ("hd95_mm", "HD95 (mm)", "{:.1f}"), ("volume_error_pct", "volume error (%)", "{:+.1f}"),
        ("abs_volume_error_pct", "abs. volume error (%)", "{:.1f}")]


def pm(st, fmt):
    if st is None:
        return "—"
    if st["n"] == 1:
        return fmt.format(st["mean"]) + " (n=1)"
    sd = fmt.replace("+", "")
    return (fmt + " ± " + sd + " (" + fmt + " to " + fmt + ", n={})").format(
        st["mean"], st["sd"], st["min"], st["max"], st["n"])


def render(cv):
    cfg = cv["config"]
    out = [f"Paired CV: arms {cfg['arms']}, seeds {cfg['seeds']}, teacher {cfg['teacher_steps']} steps, every student "
           f"{cfg['steps']} steps, real bank {cfg['bank']} crops (+{cfg['synth_bank']} synthetic or shape-transferred in "
           f"the new-anatomy arms) — "
           f"{len(cv['jobs_done'])} of {cv['jobs_total']} jobs done: {', '.join(cv['jobs_done']) or 'none'}.", ""]
    out.append("**Held-out case, per arm** (mean ± SD over finished (fold, seed) runs):")
    out.append("")
    out.append("| net | arm | " + " | ".join(k[1] for k in KEYS) + " | partial case Dice |")
    out.append("|---|---|" + "---|" * (len(KEYS) + 1))
    for net, e in cv["nets"].items():
        for arm, a in e["arms"].items():
            if not a["runs"]:
                continue
            out.append(f"| {net} | {arm} | " + " | ".join(pm(a.get(k), f) for k, _, f in KEYS) +
                       f" | {pm(a.get('partial_dice'), '{:.3f}')} |")
    for arm in [a for a in cv.get("arms_shown", cfg["arms"]) if a != "real"]:
        out.append("")
        out.append(f"**Paired difference {arm} − real** (same fold, same seed; Dice and HD95 on the held-out case, "
                   "Dice on totalseg_s0009_partial):")
        out.append("")
        out.append("| net | Δ Dice | Δ HD95 (mm) | Δ volume error (pp) | Δ partial Dice | pairs |")
        out.append("|---|---|---|---|---|---|")
        for net, e in cv["nets"].items():
            # cv_paired.json written before the shape arm has only "paired" (synth − real).
            p = e["vs_real"].get(arm) if "vs_real" in e else e["paired"]
            if not p:
                continue
            out.append(f"| {net} | {pm(p.get('dice'), '{:+.3f}')} | {pm(p.get('hd95_mm'), '{:+.1f}')} | "
                       f"{pm(p.get('volume_error_pct'), '{:+.1f}')} | {pm(p.get('partial_dice'), '{:+.3f}')} | "
                       f"{', '.join(p['dice']['pairs'])} |")
    out.append("")
    out.append("**Per run** (Dice / HD95 mm / volume error %):")
    out.append("")
    for net, e in cv["nets"].items():
        for arm, a in e["arms"].items():
            if a["runs"]:
                cells = [f"{j}: {r['dice']:.3f} / {r['hd95_mm']:.1f} / {r['volume_error_pct']:+.1f}"
                         for j, r in sorted(a["runs"].items())]
                out.append(f"- {net} {arm}: " + "; ".join(cells))
    return "\n".join(out)


def ablation(cvs):
    """Markdown table: per net, every arm of the given paired-CV summaries on
    the (fold, seed) pairs where all arms finished — mean Dice / HD95 /
    |volume error| of the network's outline, and for each new-anatomy arm its
    mean paired Dice difference from real and in how many pairs it was higher."""
    runs = {}
    for cv in cvs:
        for net, e in cv["nets"].items():
            for arm, a in e["arms"].items():
                runs.setdefault(net, {}).setdefault(arm, {}).update(a["runs"])
    arms = list(dict.fromkeys(a for net in runs.values() for a in net))
    if "real" not in arms:
        return "(no real arm to compare with)"
    new = [a for a in arms if a != "real"]
    out = ["| net | pairs | " + " | ".join(f"{a}: Dice / HD95 / abs. vol. %" for a in arms) + " | " +
           " | ".join(f"{a} − real: Δ Dice (higher in)" for a in new) + " |",
           "|---|---|" + "---|" * (len(arms) + len(new))]
    for net, by in runs.items():
        common = sorted(set.intersection(*(set(by.get(a, {})) for a in arms)))
        if not common:
            continue

        def mean(arm, k, f=lambda v: v):
            return sum(f(by[arm][j][k]) for j in common) / len(common)
        cells = [f"{mean(a, 'dice'):.3f} / {mean(a, 'hd95_mm'):.1f} / {mean(a, 'volume_error_pct', abs):.1f}" for a in arms]
        for a in new:
            d = [by[a][j]["dice"] - by["real"][j]["dice"] for j in common]
            cells.append(f"{sum(d) / len(d):+.3f} ({sum(x > 0 for x in d)}/{len(d)})")
        out.append(f"| {net} | {len(common)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv", default=os.path.join(HERE, "results", "paired", "cv_paired.json"))
    ap.add_argument("--ablation", action="store_true",
                    help="every arm of results/paired and results/paired_shape on the pairs all finished")
    a = ap.parse_args()
    if a.ablation:
        paths = [os.path.join(HERE, "results", d, "cv_paired.json") for d in ("paired", "paired_shape")]
        print(ablation([json.load(open(p)) for p in paths if os.path.exists(p)]))
        return
    if not os.path.exists(a.cv):
        raise SystemExit(f"paired_tables: {a.cv}: no paired CV results yet (no job has finished)")
    print(render(json.load(open(a.cv))))


if __name__ == "__main__":
    main()
