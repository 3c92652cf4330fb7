"""The default fisher-pixelcnn model in PyTorch, timed like benches/pixelcnn.rs.

Same architecture, shapes, masks and parameter count as `PixelCnnConfig::fashion_mnist()`
(1x28x28, 64 channels, 8 gated layers, 7x7 first layer, 3x3 after, head 64 -> 128 -> out),
batch 32, Adam at lr 1e-3. Prints the parameter count (670592 for the categorical head,
639503 for the 5-component mixture, as in the Rust crate) and images per second for the
log-likelihood (no autograd) and for one training step.

    python benches/pixelcnn_torch.py --threads 2

Needs only PyTorch (tested with 2.15.0 on CPU). Nothing is downloaded.
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


class MaskedConv(nn.Module):
    """Stride-1 convolution with explicit (top, bottom, left, right) zero padding and an
    optional channel mask on the last kernel tap (mask A: strict, mask B: inclusive)."""

    def __init__(self, cin, cout, kernel, padding, centre=None, bias=True):
        super().__init__()
        kh, kw = kernel
        bound = 1.0 / math.sqrt(cin * kh * kw)
        self.weight = nn.Parameter(torch.empty(cout, cin, kh, kw).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        top, bottom, left, right = padding
        self.pad = (left, right, top, bottom)
        mask = torch.ones(cout, cin, kh, kw)
        if centre == "A":  # grayscale: one colour group, strict order masks the whole tap
            mask[:, :, -1, -1] = 0.0
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(F.pad(x, self.pad), self.weight * self.mask, self.bias)


def gate(x):
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def shift_down(x):
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


class GatedLayer(nn.Module):
    def __init__(self, cin, c, k, first, last):
        super().__init__()
        p = k // 2
        self.v_conv = MaskedConv(cin, 2 * c, (p + 1, k), (p, 0, p, p))
        self.v_to_h = MaskedConv(2 * c, 2 * c, (1, 1), (0, 0, 0, 0), bias=False)
        self.h_conv = MaskedConv(cin, 2 * c, (1, p + 1), (0, 0, p, 0), "A" if first else None)
        self.h_out = MaskedConv(c, c, (1, 1), (0, 0, 0, 0))
        self.residual = not first
        self.last = last

    def forward(self, v, h):
        pre = self.v_conv(v)
        link = self.v_to_h(shift_down(pre))
        v = v if self.last else gate(pre)
        out = self.h_out(gate(self.h_conv(h) + link))
        return v, (h + out if self.residual else out)


class PixelCnn(nn.Module):
    def __init__(self, head="categorical", components=5, c=64, layers=8, head_c=128):
        super().__init__()
        self.layers = nn.ModuleList(
            GatedLayer(1 if l == 0 else c, c, 7 if l == 0 else 3, l == 0, l == layers - 1)
            for l in range(layers)
        )
        self.head, self.k = head, components
        n_out = 256 if head == "categorical" else 3 * components
        self.head_hidden = MaskedConv(c, head_c, (1, 1), (0, 0, 0, 0))
        self.head_out = MaskedConv(head_c, n_out, (1, 1), (0, 0, 0, 0))

    def log_likelihood(self, images):
        x = images.float() * (2.0 / 255.0) - 1.0
        v, h = x, x
        for layer in self.layers:
            v, h = layer(v, h)
        out = self.head_out(F.relu(self.head_hidden(F.relu(h))))
        if self.head == "categorical":
            b, _, hh, ww = out.shape
            logp = F.log_softmax(out.view(b, 1, 256, hh, ww), dim=2)
            lp = logp.gather(2, images.long().view(b, 1, 1, hh, ww)).squeeze(2)
        else:
            lp = mixture_log_prob(out, x, self.k)
        return lp.flatten(1).sum(1)


def mixture_log_prob(out, x, k):
    """PixelCNN++ discretized logistic mixture, grayscale, with the crate's numerics."""
    logits, mean, log_s = out[:, :k], out[:, k : 2 * k], out[:, 2 * k :].clamp(min=-7.0)
    centred = x - mean
    inv = torch.exp(-log_s)
    plus_in = inv * (centred + 1.0 / 255.0)
    min_in = inv * (centred - 1.0 / 255.0)
    mid_in = inv * centred
    log_cdf_plus = plus_in - F.softplus(plus_in)
    log_one_minus = -F.softplus(min_in)
    mass = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    log_pdf_mid = mid_in - log_s - 2.0 * F.softplus(mid_in)
    inner = torch.where(
        mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_pdf_mid - math.log(127.5)
    )
    lp = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus, inner))
    return torch.logsumexp(F.log_softmax(logits, dim=1) + lp, dim=1, keepdim=True)


def timed(fn, iters):
    fn()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = (torch.arange(args.batch * 784) * 37 % 256).view(args.batch, 1, 28, 28)

    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}")
    for head in ["categorical", "mixture"]:
        model = PixelCnn(head)
        n_params = sum(p.numel() for p in model.parameters())
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def forward():
            with torch.no_grad():
                model.log_likelihood(images)

        def step():
            loss = -model.log_likelihood(images).mean() / 784.0
            opt.zero_grad()
            loss.backward()
            opt.step()

        ll = args.batch / timed(forward, args.iters)
        train = args.batch / timed(step, args.iters)
        print(f"{head:12} params {n_params:8d}  log-likelihood {ll:7.1f} images/s"
              f"  train step {train:6.1f} images/s")


if __name__ == "__main__":
    main()
