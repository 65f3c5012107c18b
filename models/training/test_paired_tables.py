"""paired_tables.ablation: every arm side by side on the pairs all finished."""
import unittest

import paired_tables as P


def summary(net_runs):
    """A cv_paired.json shape: {net: {arm: {job: dice}}} with HD95 and volume
    error derived from the Dice so every figure is distinct."""
    return {"nets": {net: {"arms": {arm: {"runs": {j: {"dice": d, "hd95_mm": 100 * (1 - d), "volume_error_pct": -10 * d}
                                                    for j, d in jobs.items()}}
                                    for arm, jobs in arms.items()}}
                     for net, arms in net_runs.items()}}


class Ablation(unittest.TestCase):
    def test_common_pairs_only(self):
        first = summary({"teacher": {"real": {"a/s1": 0.80, "b/s1": 0.90, "c/s1": 0.70},
                                     "synth": {"a/s1": 0.84, "b/s1": 0.88, "c/s1": 0.99}}})
        # The shape run lacks c/s1: it and its real and synth rows stay out.
        second = summary({"teacher": {"shape": {"a/s1": 0.82, "b/s1": 0.93}}})
        rows = P.ablation([first, second]).splitlines()
        self.assertEqual(len(rows), 3)
        cells = [c.strip() for c in rows[2].strip("|").split("|")]
        self.assertEqual(cells[:2], ["teacher", "2"])
        self.assertEqual(cells[2], "0.850 / 15.0 / 8.5")     # real on a, b
        self.assertEqual(cells[3], "0.860 / 14.0 / 8.6")     # synth on a, b
        self.assertEqual(cells[4], "0.875 / 12.5 / 8.8")     # shape
        self.assertEqual(cells[5], "+0.010 (1/2)")          # +0.04, −0.02
        self.assertEqual(cells[6], "+0.025 (2/2)")          # +0.02, +0.03

    def test_no_real_arm(self):
        self.assertIn("no real arm", P.ablation([summary({"teacher": {"shape": {"a/s1": 0.9}}})]))


if __name__ == "__main__":
    unittest.main()
