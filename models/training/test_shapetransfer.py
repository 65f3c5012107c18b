"""Checks of the shape transfer (shapetransfer.py).

  /usr/bin/python3 -m unittest models/training/test_shapetransfer.py   (from the repo root, or discover)

Generated small volumes for the field properties; one real case
(totalseg_example, 3 mm, small) onto one LiTS map where ../shared/data is
present (skipped with a message otherwise).
"""
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lsdata as D           # noqa: E402
import shapetransfer as T    # noqa: E402
import synth as SY           # noqa: E402

HAVE_DATA = (os.path.exists(os.path.join(SY.LABELS_DIR, "manifest.json"))
             and os.path.exists(os.path.join(D.DATA_ROOT_DEFAULT, "cases", "totalseg_example", "ct.nii.gz")))


def blob(shape, centre, radii, bump=None):
    """Ellipsoid mask; bump = (centre, radii) of a second ellipsoid added to it."""
    g = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    m = (((g - np.array(centre)[:, None, None, None]) / np.array(radii)[:, None, None, None]) ** 2).sum(0) < 1
    if bump is not None:
        m |= blob(shape, *bump)
    return m


class Field(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shp = (36, 34, 30)
        cls.src = blob(shp, (17, 16, 15), (9, 7, 6))
        # Same centroid region, different shape: flatter, with a lobe.
        cls.tgt = blob(shp, (18, 16, 16), (10, 6, 5), bump=((10, 18, 11), (4, 4, 4)))
        cls.u = T.demons_field(cls.src, cls.tgt)

    def test_zero_field_is_identity(self):
        rng = np.random.default_rng(0)
        vol = rng.normal(size=(9, 8, 7)).astype(np.float32)
        z = np.zeros((3,) + vol.shape, np.float32)
        np.testing.assert_allclose(T.warp(vol, z), vol, atol=1e-6)
        self.assertEqual(float(T.jacobian_det(z).min()), 1.0)

    def test_contract_sampling_with_zero_field_is_lsdata_resampling(self):
        rng = np.random.default_rng(1)
        vol = rng.normal(size=(23, 19, 11)).astype(np.float32) * 100
        sp = (1.7, 2.2, 3.1)
        want = D.resample_to(vol, D.downsample_coords(vol.shape, sp))
        z = np.zeros((3,) + want.shape, np.float32)
        np.testing.assert_allclose(T.sample_contract(vol, sp, z), want, atol=1e-3)

    def test_translation_field_moves_content(self):
        vol = np.zeros((12, 12, 12), np.float32)
        vol[5, 6, 7] = 1
        u = np.zeros((3,) + vol.shape, np.float32)
        u[0] = 2.0   # output x samples x + 2: content moves by -2 along i
        self.assertEqual(tuple(np.argwhere(T.warp(vol, u, cval=0.0) == 1)[0]), (3, 6, 7))

    def test_field_is_smooth_and_invertible(self):
        u = self.u
        self.assertGreater(np.abs(u).max(), 0.5, "the livers differ; the field must move something")
        det = T.jacobian_det(u)
        self.assertGreater(det.min(), 0.0)
        # Smooth: neighbouring displacements differ by far less than a voxel.
        for a in range(3):
            for b in range(3):
                self.assertLess(np.abs(np.diff(u[a], axis=b)).max(), 0.5)
        # Invertible: the fixed-point inverse converges (exact on the grid one
        # way) and composes to the identity the other way up to trilinear
        # interpolation error (a tenth of a voxel).
        v = T.invert(u)
        inner = (slice(None),) + (slice(4, -4),) * 3
        self.assertLess(np.abs(T.compose(v, u)[inner]).max(), 1e-3)
        self.assertLess(np.abs(T.compose(u, v)[inner]).max(), 0.1)

    def test_overlap_with_target_increases(self):
        before = D.dice(self.src, self.tgt)
        after = D.dice(T.warp(self.src.astype(np.float32), self.u) > 0.5, self.tgt)
        self.assertGreater(after, before + 0.05, (before, after))

    def test_folding_field_is_scaled_until_det_positive(self):
        # A strong compressive swirl folds; limit_fold must shrink it.
        g = T.identity_grid((20, 20, 20))
        r = np.sqrt(((g[:2] - 10) ** 2).sum(0))
        u = np.zeros_like(g)
        u[0] = 6 * np.exp(-(r / 3) ** 2)
        self.assertLess(T.jacobian_det(u).min(), 0.0)
        w, alpha, dmin = T.limit_fold(u, 0.3)
        self.assertTrue(0 < alpha < 1)
        self.assertGreaterEqual(dmin, 0.3)
        self.assertGreaterEqual(T.jacobian_det(w).min(), 0.3)

    def test_alignment_matches_centroid_and_extent(self):
        shp = (30, 30, 30)
        src = blob(shp, (12, 15, 16), (8, 5, 6))
        tgt = blob(shp, (18, 14, 12), (4, 10, 3)).astype(np.float32)
        al, scale = T.align_target(src, tgt)
        m = al > 0.5
        np.testing.assert_allclose(np.argwhere(m).mean(0), np.argwhere(src).mean(0), atol=0.5)
        np.testing.assert_allclose(np.argwhere(m).std(0), np.argwhere(src).std(0), rtol=0.1)


@unittest.skipUnless(HAVE_DATA, f"{D.DATA_ROOT_DEFAULT} absent: real cases and label maps are read at run time")
class RealCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cache = tempfile.mkdtemp(prefix="shape_test_")
        cls.hu, cls.lab, cls.info = T.transfer("totalseg_example", "lits_010", 3, cache_dir=cls.cache)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cache, ignore_errors=True)

    def test_output_label_is_the_warped_source_label(self):
        ct, lb, sp = T.load_case("totalseg_example")
        u = self.info["field"]
        np.testing.assert_allclose(T.sample_contract(lb, sp, u), self.lab, atol=1e-6)
        np.testing.assert_allclose(T.sample_contract(ct, sp, u), self.hu, atol=1e-3)
        # And the image did move: not the plain 5 mm resampling.
        z = np.zeros_like(u)
        self.assertGreater(np.abs(T.sample_contract(ct, sp, z) - self.hu).max(), 50)

    def test_real_transfer_is_invertible_and_closer_to_target(self):
        i = self.info
        self.assertGreater(i["min_det_j"], 0.0)
        self.assertGreater(T.jacobian_det(i["field"]).min(), 0.0)
        self.assertGreater(i["dice_deformed"], i["dice_affine"] + 0.03, i)
        self.assertEqual(self.hu.shape, self.lab.shape)
        self.assertTrue(0.0 <= self.lab.min() and self.lab.max() <= 1.0)
        # Liver volume stays plausible (the source's, reshaped): within 40 %.
        _, lb, sp = T.load_case("totalseg_example")
        z = np.zeros((3,) + self.lab.shape, np.float32)
        v0 = T.sample_contract(lb, sp, z).sum()
        self.assertLess(abs(self.lab.sum() / v0 - 1), 0.4)

    def test_same_patient_target_is_refused(self):
        with self.assertRaises(ValueError) as e:
            T.transfer("ircad_p01", "ircad_p01", 0, cache_dir=self.cache)
        self.assertIn("same patient", str(e.exception))
        with self.assertRaises(ValueError):
            T.transfer("chaos_ct01", "ircad_p07", 0, cache_dir=self.cache, holdouts=["ircad_p07"])
        names = {r["case"] for r in T.targets_for("ircad_p07")}
        self.assertNotIn("ircad_p07", names)
        self.assertIn("ircad_p01", names)

    def test_shape_bank_crops_come_from_training_sources_onto_allowed_targets(self):
        cases = D.find_cases(names=["totalseg_example", "chaos_ct01"])
        logs = []
        bk = T.build_shape_bank(cases, ["ircad_p07"], 8, 5, self.cache, "t", recipe=2, per_volume=4,
                                log=logs.append)
        self.assertEqual(bk["x"].shape, (8, 32, 64, 64))
        self.assertEqual(bk["y"].shape, bk["x"].shape)
        self.assertEqual(bk["hn"].shape, bk["x"].shape)
        self.assertEqual(len(bk["shape_pairs"]), 2)
        for pair, c, w in zip(np.repeat(bk["shape_pairs"], 4), bk["case"], bk["w"]):
            src, tgt = str(pair).split("<-")
            self.assertEqual(src, cases[c][0])
            self.assertEqual(w, cases[c][3])          # the source case's weight (0.5 for totalseg_example)
            self.assertNotIn(tgt, ("ircad_p07",))     # never the held-out case's patient
        self.assertTrue((bk["shape_min_det"] > 0).all())
        self.assertGreater(bk["y"].max(), 200)       # liver in the crops
        self.assertGreater(float(bk["x"].astype(np.float32).std()), 0.05)   # image content, not a constant
        again = T.build_shape_bank(cases, ["ircad_p07"], 8, 5, self.cache, "t", recipe=2, per_volume=4)
        np.testing.assert_array_equal(again["x"], bk["x"])   # cached
        with self.assertRaises(ValueError):
            T.build_shape_bank(cases, ["chaos_ct01"], 8, 5, self.cache, "u", recipe=2)


if __name__ == "__main__":
    unittest.main()
