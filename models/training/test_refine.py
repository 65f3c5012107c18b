"""Tests of the edge refinement reference (refine.py). The Go side is held to
it voxel for voxel on a real case by inference/python_parity_test.go; these
check what it does on scans whose true edge is known."""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lsdata as D    # noqa: E402
import refine as R    # noqa: E402


def ball_scan(n=56, r=20.0, grow=0.0, liver=120.0, around=-100.0, noise=10.0, seed=7):
    """HU of a noisy "liver" ball in a surrounding tissue, the true ball, and
    the ball grown (or shrunk) by grow voxels: a misplaced network edge."""
    rng = np.random.default_rng(seed)
    c = (n - 1) / 2
    i, j, k = np.meshgrid(*[np.arange(n)] * 3, indexing="ij")
    d = np.sqrt((i - c) ** 2 + (j - c) ** 2 + (k - c) ** 2)
    truth = d <= r
    hu = np.where(truth, liver, around) + noise * rng.standard_normal(truth.shape)
    return np.round(hu).astype(np.int16), truth.astype(np.uint8), (d <= r + grow).astype(np.uint8)


class Refine(unittest.TestCase):
    sp = (2.0, 2.0, 2.0)   # band 2 voxels, core 5 voxels in

    def test_moves_outline_onto_edge(self):
        for grow, around in [(2, -100.0), (-1, -100.0), (2, 40.0)]:
            with self.subTest(grow=grow, around=around):
                hu, truth, mask = ball_scan(grow=grow, around=around)
                before = D.dice(mask, truth)
                out, st = R.refine(hu, mask, self.sp)
                after = D.dice(out, truth)
                self.assertTrue(st["changed"], st)
                self.assertGreater(after, before)
                self.assertGreater(after, 0.98)
                self.assertAlmostEqual(st["liver_median_hu"], 120, delta=3)

    def test_keeps_voxels_beyond_the_band(self):
        hu, _, mask = ball_scan(noise=5.0, seed=3)
        c = 27
        hu[c + 6:c + 13, c - 3:c + 4, c - 3:c + 4] = 20   # dark, 8 mm inside the edge
        out, st = R.refine(hu, mask, self.sp)
        self.assertTrue(st["changed"])
        self.assertEqual(out[c + 12, c, c], 1)

    def test_small_or_empty_mask_unchanged(self):
        hu, _, mask = ball_scan(n=24, r=4.0, noise=5.0, seed=1)   # no 10 mm core
        out, st = R.refine(hu, mask, (1.0, 1.0, 1.0))
        self.assertFalse(st["changed"])
        np.testing.assert_array_equal(out, mask)
        out, st = R.refine(hu, np.zeros_like(mask), (1.0, 1.0, 1.0))
        self.assertFalse(st["changed"])
        self.assertFalse(out.any())

    def test_float_hu_rounded_as_the_app_loads_it(self):
        hu, _, mask = ball_scan(grow=2)
        a, _ = R.refine(hu, mask, self.sp)
        b, _ = R.refine(hu.astype(np.float32) + 0.2, mask, self.sp)
        np.testing.assert_array_equal(a, b)


class PairedRefined(unittest.TestCase):
    """refine.py --table: arm − real of the refined outline on shared (fold, seed) pairs only."""

    def test_pairs_and_differences(self):
        def row(model, case, dice, variant="raw_b3_k3_hi4_s1"):
            return {"model": model, "case": case, "variant": variant, "dice": dice, "hd95_mm": 20 * dice,
                    "volume_error_pct": -20 * dice}
        rows = [row("cv/a/real_s1/teacher", "a", 0.80), row("cv/a/shape_s1/teacher", "a", 0.85),
                row("cv/b/real_s1/teacher", "b", 0.90), row("cv/b/shape_s1/teacher", "b", 0.88),
                row("cv/c/real_s2/teacher", "c", 0.70),                       # no shape partner
                row("cv/a/shape_s1/teacher", "partial", 0.99),                # not the held-out fold case
                row("cv/b/shape_s2/teacher", "b", 0.99),                      # no real partner
                row("cv/a/shape_s1/teacher", "a", 0.10, variant="net")]       # another variant
        lines = R.paired_refined(rows).splitlines()
        self.assertEqual(len(lines), 3)
        cells = [c.strip() for c in lines[2].strip("|").split("|")]
        self.assertEqual(cells[:3], ["teacher", "shape", "2"])
        self.assertEqual(cells[3], "+0.015 (-0.020…+0.050)")
        self.assertEqual(cells[4], "1/2")
        self.assertEqual(cells[5], "+0.3")
        self.assertEqual(cells[6], "+0.3")


class KeptRows(unittest.TestCase):
    """refine.py keeps pairs scored before (finished nets do not change) and
    scores only the rest, carries pairs whose nets are not here, and keeps
    nothing scored under another variant set or temperature."""

    def results(self, pairs, variants=None, temperature=None):
        variants = dict(R.VARIANTS) if variants is None else variants
        rows = [{"model": m, "case": c, "variant": v, "dice": 0.9} for m, c in pairs for v in variants]
        return {"variants": variants, "temperature": D.SOFT_TEMPERATURE if temperature is None else temperature,
                "rows": rows}

    def test_keeps_complete_pairs_only(self):
        jobs = [("cv/a/real_s1/teacher", "p", "a", True), ("cv/a/real_s1/teacher", "p", "partial", True),
                ("cv/b/real_s1/teacher", "q", "b", True)]
        old = self.results([("cv/a/real_s1/teacher", "a"), ("cv/b/real_s1/teacher", "b")])
        # One pair lost a variant: it is scored again.
        old["rows"] = [r for r in old["rows"] if not (r["case"] == "b" and r["variant"] != "net")]
        rows, kept = R.kept_rows(jobs, old)
        self.assertEqual(kept, {("cv/a/real_s1/teacher", "a")})
        self.assertEqual(len(rows), len(R.VARIANTS))

    def test_pairs_without_their_nets_are_carried(self):
        # The run folder of cv/a is gone (another machine): its scores stay;
        # the nets found (cv/b) are scored, or kept when scored before.
        jobs = [("cv/b/shape_s1/teacher", "q", "b", True)]
        old = self.results([("cv/a/real_s1/teacher", "a"), ("cv/b/shape_s1/teacher", "b")])
        rows, kept = R.kept_rows(jobs, old)
        self.assertEqual(kept, {("cv/b/shape_s1/teacher", "b")})
        self.assertEqual(len(rows), 2 * len(R.VARIANTS))
        rows, kept = R.kept_rows(jobs, old, rescore=True)
        self.assertEqual(kept, set())
        self.assertEqual({(r["model"], r["case"]) for r in rows}, {("cv/a/real_s1/teacher", "a")})

    def test_other_settings_keep_nothing(self):
        jobs = [("cv/a/real_s1/teacher", "p", "a", True)]
        pairs = [("cv/a/real_s1/teacher", "a")]
        self.assertEqual(R.kept_rows(jobs, self.results(pairs, temperature=1.0))[1], set())
        self.assertEqual(R.kept_rows(jobs, self.results(pairs, variants={"net": None}))[1], set())
        self.assertEqual(R.kept_rows([], self.results(pairs, temperature=1.0))[0], [])


if __name__ == "__main__":
    unittest.main()
