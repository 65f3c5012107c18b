"""3D U-Nets for LiverSeg and the Net2Wider operator used by GTAN."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    """conv3x3x3 (no bias) → InstanceNorm(affine) → LeakyReLU(0.01)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.InstanceNorm3d(cout, affine=True)
        self.act = nn.LeakyReLU(0.01)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class UNet(nn.Module):
    """U-Net with len(widths) levels. stem_stride=2 makes the first conv strided
    (the network then works at half resolution and the head is a 2x2x2
    transposed conv back to full resolution), which is what makes the students
    cheap. nconv convs per level in encoder and decoder."""

    def __init__(self, widths, stem_stride=1, nconv=2):
        super().__init__()
        self.widths = list(widths)
        self.stem_stride = stem_stride
        self.nconv = nconv
        L = len(widths)
        self.enc = nn.ModuleList()
        for l in range(L):
            cin = 1 if l == 0 else widths[l - 1]
            blocks = [ConvBlock(cin, widths[l], stride=stem_stride if l == 0 else 1)]
            blocks += [ConvBlock(widths[l], widths[l]) for _ in range(nconv - 1)]
            self.enc.append(nn.ModuleList(blocks))
        self.up = nn.ModuleList([nn.ConvTranspose3d(widths[l + 1], widths[l], 2, stride=2) for l in range(L - 1)])
        self.dec = nn.ModuleList()
        for l in range(L - 1):
            blocks = [ConvBlock(2 * widths[l], widths[l])]
            blocks += [ConvBlock(widths[l], widths[l]) for _ in range(nconv - 1)]
            self.dec.append(nn.ModuleList(blocks))
        if stem_stride == 1:
            self.head = nn.Conv3d(widths[0], 2, 1)
        else:
            self.head = nn.ConvTranspose3d(widths[0], 2, stem_stride, stride=stem_stride)

    @property
    def multiple(self):
        return self.stem_stride * 2 ** (len(self.widths) - 1)

    def config(self):
        return {"widths": self.widths, "stem_stride": self.stem_stride, "nconv": self.nconv}

    def forward(self, x):
        skips = []
        h = x
        for l, blocks in enumerate(self.enc):
            if l > 0:
                h = F.max_pool3d(h, 2)
            for b in blocks:
                h = b(h)
            skips.append(h)
        for l in reversed(range(len(self.widths) - 1)):
            h = self.up[l](h)
            h = torch.cat([h, skips[l]], dim=1)
            for b in self.dec[l]:
                h = b(h)
        return self.head(h)

    # -- graph description for Net2Wider: (kind, module, out_node, in_nodes)
    def graph(self):
        g = []
        L = len(self.widths)
        for l in range(L):
            prev = "in" if l == 0 else f"e{l-1}_{self.nconv-1}"
            for i, b in enumerate(self.enc[l]):
                g.append(("block", b, f"e{l}_{i}", [prev]))
                prev = f"e{l}_{i}"
        for l in reversed(range(L - 1)):
            below = f"e{L-1}_{self.nconv-1}" if l == L - 2 else f"d{l+1}_{self.nconv-1}"
            g.append(("tconv", self.up[l], f"u{l}", [below]))
            prev = [f"u{l}", f"e{l}_{self.nconv-1}"]
            for i, b in enumerate(self.dec[l]):
                g.append(("block", b, f"d{l}_{i}", prev))
                prev = [f"d{l}_{i}"]
        last = f"d0_{self.nconv-1}" if L > 1 else f"e0_{self.nconv-1}"
        g.append(("head_conv" if self.stem_stride == 1 else "head_tconv", self.head, "out", [last]))
        return g

    def node_level(self, node):
        if node in ("in", "out"):
            return None
        return int(node[1:].split("_")[0])


def build(cfg):
    return UNet(cfg["widths"], cfg.get("stem_stride", 1), cfg.get("nconv", 2))


def load(path, map_location="cpu"):
    """The net saved at path (a training checkpoint or an export: both hold
    "cfg" and "model"), in eval mode."""
    st = torch.load(path, map_location=map_location)
    net = build(st["cfg"])
    net.load_state_dict(st["model"])
    net.eval()
    return net


def count_params(net):
    return int(sum(p.numel() for p in net.parameters()))


def count_macs(net, zyx):
    """Multiply-accumulates of convolutions for one forward pass at [Z,Y,X]."""
    macs = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv3d):
            k = int(np.prod(m.kernel_size))
            macs[0] += out.numel() // out.shape[0] * m.in_channels // m.groups * k
        elif isinstance(m, nn.ConvTranspose3d):
            k = int(np.prod(m.kernel_size))
            macs[0] += inp[0].numel() // inp[0].shape[0] * m.out_channels * k

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d))]
    with torch.no_grad():
        net(torch.zeros(1, 1, *zyx))
    for h in hs:
        h.remove()
    return int(macs[0])


@torch.no_grad()
def net2wider(net, new_widths, rng, noise=1e-3):
    """Function-preserving widening (Chen et al., Net2Net): every new channel
    copies a random old channel of the same node; the consumers' incoming
    weights are split by the number of copies; a tiny noise breaks symmetry.
    InstanceNorm is per channel, so copies stay identical through it."""
    new = UNet(new_widths, net.stem_stride, net.nconv)
    old_g, new_g = net.graph(), new.graph()
    maps = {"in": np.array([0]), "out": np.array([0, 1])}
    for (_, _, node, _), (_, _, _, _) in zip(old_g, new_g):
        lvl = net.node_level(node)
        if lvl is None:
            continue
        w_old, w_new = net.widths[lvl], new_widths[lvl]
        assert w_new >= w_old
        extra = rng.integers(0, w_old, size=w_new - w_old)
        maps[node] = np.concatenate([np.arange(w_old), extra])
    maps["out"] = np.array([0, 1])

    def in_map(in_nodes):
        ms, counts, off = [], [], 0
        for n in in_nodes:
            m = maps[n]
            c = np.bincount(m, minlength=m.max() + 1)[m]
            ms.append(m + off)
            counts.append(c)
            off += m.max() + 1
        return np.concatenate(ms), np.concatenate(counts).astype(np.float32)

    for (kind, mo, node, ins), (_, mn, _, _) in zip(old_g, new_g):
        gi, ci = in_map(ins)
        go = maps[node]
        ci_t = torch.from_numpy(ci)
        if kind == "block":
            w = mo.conv.weight[go][:, gi] / ci_t.view(1, -1, 1, 1, 1)
            mn.conv.weight.copy_(w + noise * w.std() * torch.randn_like(w))
            mn.norm.weight.copy_(mo.norm.weight[go])
            mn.norm.bias.copy_(mo.norm.bias[go])
        elif kind in ("tconv", "head_tconv"):
            w = mo.weight[gi][:, go] / ci_t.view(-1, 1, 1, 1, 1)
            mn.weight.copy_(w + noise * w.std() * torch.randn_like(w))
            mn.bias.copy_(mo.bias[go])
        elif kind == "head_conv":
            w = mo.weight[go][:, gi] / ci_t.view(1, -1, 1, 1, 1)
            mn.weight.copy_(w + noise * w.std() * torch.randn_like(w))
            mn.bias.copy_(mo.bias[go])
    return new


# Release architectures. Params are checked in the tiny test run.
ARCH = {
    "teacher": {"widths": [8, 16, 32, 60, 120], "stem_stride": 1, "nconv": 2},      # 1,266,110 params
    "student": {"widths": [6, 10, 12, 18], "stem_stride": 2, "nconv": 1},           # 29,416 params
    "student100k": {"widths": [8, 12, 18, 28], "stem_stride": 2, "nconv": 2},       # 107,984 params
}
