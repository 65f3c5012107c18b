"""Checks of the label-driven synthesis (synth.py).

  /usr/bin/python3 -m unittest discover -s models/training -p 'test_*.py'

The tests that read ../shared/data/labels skip with a message where it is
absent; the rest use small generated volumes.
"""
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth as S   # noqa: E402

HAVE_LABELS = os.path.exists(os.path.join(S.LABELS_DIR, "manifest.json"))
STATS = {"a": {"liver_median": 120.0, "liver_sd": 18.0, "fat_mode": -95.0, "soft_mode": 50.0}}


def toy_liver(shape=(40, 40, 40)):
    """A canonical (i→L, j→P, k→S) liver-like mask: bulk high and to the
    patient's right (low i), a tip low and further right."""
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    dome = ((i - 15) / 12) ** 2 + ((j - 20) / 12) ** 2 + ((k - 27) / 9) ** 2 < 1
    tip = ((i - 9) / 5) ** 2 + ((j - 20) / 6) ** 2 + ((k - 14) / 7) ** 2 < 1
    left = ((i - 28) / 8) ** 2 + ((j - 16) / 6) ** 2 + ((k - 29) / 4) ** 2 < 1
    return dome | tip | left


class FlipCheck(unittest.TestCase):
    def test_upright_and_flipped(self):
        m = toy_liver()
        self.assertFalse(S.check_flip(m, (1.0, 1.0, 1.0)))
        self.assertTrue(S.check_flip(m[:, :, ::-1], (1.0, 1.0, 1.0)))

    def test_empty(self):
        self.assertFalse(S.check_flip(np.zeros((5, 5, 5), bool), (1.0, 1.0, 1.0)))


@unittest.skipUnless(HAVE_LABELS, f"{S.LABELS_DIR} absent: the label maps are read at run time")
class LabelMaps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.man = S.manifest()
        cls.recs = {r["case"]: r for r in cls.man["cases"]}
        cls.cache = tempfile.mkdtemp(prefix="synth_test_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cache, ignore_errors=True)

    def test_leaking_maps_leave_their_fold(self):
        all_maps = {r["case"] for r in S.eligible([], self.man)}
        self.assertEqual(len(all_maps), 143)
        for h in ("ircad_p01", "ircad_p07"):
            got = {r["case"] for r in S.eligible([h], self.man)}
            self.assertEqual(all_maps - got, {h})
        self.assertEqual({r["case"] for r in S.eligible(["chaos_ct01"], self.man)}, all_maps)

    def test_suspect_lits_map_is_flipped_and_others_not(self):
        m = S.prep_map(self.recs["lits_074"], self.cache)
        self.assertTrue(bool(m["flipped"]))
        m = S.prep_map(self.recs["lits_010"], self.cache)
        self.assertFalse(bool(m["flipped"]))

    def test_synthetic_volume(self):
        for name in ("lits_010", "ircad_p05"):
            rng = np.random.default_rng(5)
            hu, lab, info = S.synth_volume(self.recs[name], self.cache, rng, STATS)
            self.assertEqual(hu.shape, lab.shape)
            self.assertTrue(np.isfinite(hu).all())
            self.assertGreaterEqual(lab.min(), 0.0)
            self.assertLessEqual(lab.max(), 1.0)
            # The liver (from the map) is soft tissue, the outside is air.
            liver = np.median(hu[lab > 0.9])
            self.assertTrue(-100 < liver < 300, (name, liver))
            self.assertLess(np.median(hu[0, 0, :]), -500, name)
            # The target's volume is the map's liver volume (±10 %: 5 mm
            # trilinear sampling of the native mask).
            ml = float(lab.sum()) * 125 / 1000
            self.assertAlmostEqual(ml / self.recs[name]["liver_ml"], 1.0, delta=0.1)
            self.assertIn(info["phase"], S.PHASE_P)


if __name__ == "__main__":
    unittest.main()
