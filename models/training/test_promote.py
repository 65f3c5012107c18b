"""promote.py ships one role of a staged candidate: it copies the ONNX file,
card and checkpoint only when they agree, and records where they came from.
A real student net is exported to ONNX in a temporary folder; models/ is
replaced by another temporary folder."""
import json
import os
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export as X    # noqa: E402
import nets as N      # noqa: E402
import promote as P   # noqa: E402
from runfiles import atomic_save   # noqa: E402


class Promote(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.stage = os.path.join(self.tmp.name, "candidate")
        self.models = os.path.join(self.tmp.name, "models")
        self.ckpt = os.path.join(self.models, "training", "checkpoints")
        for d in (self.stage, self.ckpt):
            os.makedirs(d)
        self.old = P.MODELS_DIR, P.CKPT_DIR
        P.MODELS_DIR, P.CKPT_DIR = self.models, self.ckpt
        torch.manual_seed(0)
        net = N.build(N.ARCH["student"])
        X.to_onnx(net, os.path.join(self.stage, "student.onnx"))
        X.card(self.stage, "student", "student", net, "student.onnx", {"data": "test"}, {})
        atomic_save({"cfg": net.config(), "model": net.state_dict(), "steps": 1, "role": "student"},
                    os.path.join(self.stage, "student.pt"))

    def tearDown(self):
        P.MODELS_DIR, P.CKPT_DIR = self.old
        self.tmp.cleanup()

    def test_promotes_matching_files_and_records_origin(self):
        P.promote(self.stage, ["student"], "chosen by the CV")
        with open(os.path.join(self.models, "student.json")) as f:
            card = json.load(f)
        self.assertEqual(card["sha256"], P.sha256(os.path.join(self.models, "student.onnx")))
        self.assertIn("candidate", card["training"]["shipped_from"])
        self.assertIn("teacher, assistant, student100k", card["training"]["shipped_beside"])
        self.assertIn("chosen by the CV", card["training"]["shipped_beside"])
        st = torch.load(os.path.join(self.ckpt, "student.pt"), map_location="cpu")
        self.assertEqual(st["role"], "student")

    def test_refuses_a_card_that_does_not_match_its_onnx_and_replaces_nothing(self):
        with open(os.path.join(self.stage, "student.onnx"), "ab") as f:
            f.write(b"x")
        with self.assertRaises(SystemExit) as e:
            P.promote(self.stage, ["student"])
        self.assertIn("sha256", str(e.exception))
        self.assertEqual(os.listdir(self.models), ["training"])

    def test_refuses_a_checkpoint_of_another_architecture(self):
        other = N.build(N.ARCH["student100k"])
        atomic_save({"cfg": other.config(), "model": other.state_dict()}, os.path.join(self.stage, "student.pt"))
        with self.assertRaises(SystemExit) as e:
            P.promote(self.stage, ["student"])
        self.assertIn("architecture", str(e.exception))


if __name__ == "__main__":
    unittest.main()
