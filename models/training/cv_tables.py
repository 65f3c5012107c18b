"""Renders the cross-validation tables of models/README.md from
results/cv.json (written by `train.py cv` after every finished fold).

    /usr/bin/python3 models/training/cv_tables.py                 # models/training/results/cv.json
    /usr/bin/python3 models/training/cv_tables.py --cv PATH/cv.json

Prints Markdown: the ablation table (per student size: no-KD, teacher KD,
fixed-assistant KD, GTAN; Dice mean ± SD over the finished folds, with the
range), a model summary (Dice, HD95, volume error, mean ± SD) and the
per-model, per-held-out-case figures. It says how many folds are in, so a
partial CV is never mistaken for a finished one.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = [("nokd", "no KD"), ("kd", "KD (teacher)"), ("fta", "fixed-TA KD"), ("gtan", "GTAN")]
STUDENTS = ["student", "student100k"]
ORDER = ["teacher", "assistant_gtan", "assistant_fta"] + [f"{s}_{v}" for s in STUDENTS for v, _ in VARIANTS]


def pm(stat, fmt):
    """'mean ± sd (min–max)'; a single fold has no spread."""
    if stat["n"] == 1:
        return fmt.format(stat["mean"])
    sd = fmt.replace("+", "")  # a spread has no sign
    return (fmt + " ± " + sd + " (" + fmt + " to " + fmt + ")").format(stat["mean"], stat["sd"], stat["min"], stat["max"])


def render(cv):
    out = []
    cfg = cv["config"]
    folds = cv["folds_done"]
    status = "complete" if cv["complete"] else f"PARTIAL: {len(folds)} of {len(cfg['folds'])} folds"
    out.append(f"CV recipe {cfg['recipe']}, teacher {cfg['teacher_steps']} steps, every assistant/student variant "
               f"{cfg['steps']} steps, batch {cfg['bs']}, bank {cfg['bank']} crops, seed {cfg['seed']} — "
               f"{status} (held out{'' if cv['complete'] else ' so far'}: {', '.join(folds) or 'none'}).")
    out.append("")
    models = cv["models"]
    out.append("**Ablation** (Dice on the held-out case's original grid, mean ± SD over folds (min to max)):")
    out.append("")
    out.append("| student | params | " + " | ".join(lbl for _, lbl in VARIANTS) + " |")
    out.append("|---|---|" + "---|" * len(VARIANTS))
    for s in STUDENTS:
        cells = []
        params = None
        for v, _ in VARIANTS:
            m = models.get(f"{s}_{v}")
            cells.append(pm(m["dice"], "{:.3f}") if m else "—")
            params = params or (m and m["params"])
        out.append(f"| {s} | {params:,} | " + " | ".join(cells) + " |" if params else f"| {s} | — | " + " | ".join(cells) + " |")
    out.append("")
    out.append("**Distillation gain, paired by fold** (Dice of the variant minus Dice of the no-KD student of the "
               "same size on the same held-out case; mean ± SD (min to max); folds where it helped):")
    out.append("")
    out.append("| student | " + " | ".join(lbl for v, lbl in VARIANTS if v != "nokd") + " |")
    out.append("|---|" + "---|" * (len(VARIANTS) - 1))
    for s in STUDENTS:
        base = models.get(f"{s}_nokd")
        cells = []
        for v, _ in VARIANTS:
            if v == "nokd":
                continue
            m = models.get(f"{s}_{v}")
            common = [h for h in folds if base and m and h in base["per_case"] and h in m["per_case"]]
            if not common:
                cells.append("—")
                continue
            d = [m["per_case"][h]["dice"] - base["per_case"][h]["dice"] for h in common]
            mean = sum(d) / len(d)
            cell = f"{mean:+.3f}"
            if len(d) > 1:
                sd = (sum((x - mean) ** 2 for x in d) / (len(d) - 1)) ** 0.5
                cell += f" ± {sd:.3f} ({min(d):+.3f} to {max(d):+.3f})"
            cells.append(cell + f"; {sum(x > 0 for x in d)}/{len(d)}")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("**Per model** (mean ± SD over folds (min to max)):")
    out.append("")
    out.append("| model | params | steps | Dice | HD95 (mm) | volume error (%) |")
    out.append("|---|---|---|---|---|---|")
    for name in [n for n in ORDER if n in models] + [n for n in models if n not in ORDER]:
        m = models[name]
        steps = sorted({c["steps"] for c in m["per_case"].values()})
        out.append(f"| {name} | {m['params']:,} | {'/'.join(map(str, steps))} | {pm(m['dice'], '{:.3f}')} | "
                   f"{pm(m['hd95_mm'], '{:.1f}')} | {pm(m['volume_error_pct'], '{:+.1f}')} |")
    out.append("")
    out.append("**Per model, per held-out case** (Dice / HD95 mm / volume error):")
    out.append("")
    out.append("| model | " + " | ".join(folds) + " |")
    out.append("|---|" + "---|" * len(folds))
    for name in [n for n in ORDER if n in models] + [n for n in models if n not in ORDER]:
        pc = models[name]["per_case"]
        cells = [f"{pc[h]['dice']:.3f} / {pc[h]['hd95_mm']:.1f} / {pc[h]['volume_error_pct']:+.1f} %" if h in pc else "—"
                 for h in folds]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cv", default=os.path.join(HERE, "results", "cv.json"))
    a = ap.parse_args()
    try:
        cv = json.load(open(a.cv))
    except FileNotFoundError:
        sys.exit(f"cv_tables: {a.cv}: no CV summary yet (train.py cv writes it after each finished fold)")
    print(render(cv))


if __name__ == "__main__":
    main()
