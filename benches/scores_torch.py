"""Per-example gradients of a gated PixelCNN in PyTorch: the comparison for `benches/scores.rs`.

Builds the same model as `fisher-pixelcnn`'s default (1x28x28 images scaled to [-1, 1],
64 channels, 8 gated layers, a 7x7 first layer and 3x3 after, vertical and horizontal
stacks, a 1x1 head of 128 channels, a 256-way categorical or a 5-component discretised
logistic mixture head) and prints examples per second, batch 32, for:

- `torch.func`: `vmap(grad(log p))` over the batch, the per-example gradients;
- a loop of single-example backward passes;
- a plain batched forward and backward pass (the yardstick).

Run on the same machine as `fisher bench scores`, with the same number of threads:

    pip install torch          # CPU wheel; the script needs torch >= 2.0 (torch.func)
    python benches/scores_torch.py --threads 2 --head categorical
    python benches/scores_torch.py --threads 2 --head mixture
    python benches/scores_torch.py --device cuda       # on a GPU, beside scripts/gpu-bench

Weights start from a fixed seed; timings do not depend on their values. Nothing is
downloaded; the images are a deterministic pattern.
"""

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap


class MaskedConv(nn.Module):
    """A stride-1 convolution with explicit (top, bottom, left, right) padding and a mask."""

    def __init__(self, c_in, c_out, kernel, padding, mask_centre=False, bias=True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, bias=bias)
        self.padding = padding
        mask = torch.ones_like(self.conv.weight)
        if mask_centre:
            mask[:, :, -1, -1] = 0.0
        self.register_buffer("mask", mask)

    def forward(self, x):
        x = F.pad(x, self.padding)
        return F.conv2d(x, self.conv.weight * self.mask, self.conv.bias)


def gate(x):
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def shift_down(x):
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


class GatedPixelCnn(nn.Module):
    def __init__(self, channels=64, layers=8, first_kernel=7, kernel=3, head=128, out=256):
        super().__init__()
        self.v_conv, self.v_to_h, self.h_conv, self.h_out = (nn.ModuleList() for _ in range(4))
        for l in range(layers):
            k = first_kernel if l == 0 else kernel
            p = k // 2
            c_in = 1 if l == 0 else channels
            self.v_conv.append(MaskedConv(c_in, 2 * channels, (p + 1, k), (p, p, p, 0)))
            self.v_to_h.append(MaskedConv(2 * channels, 2 * channels, 1, (0, 0, 0, 0), bias=False))
            self.h_conv.append(
                MaskedConv(c_in, 2 * channels, (1, p + 1), (p, 0, 0, 0), mask_centre=(l == 0))
            )
            self.h_out.append(MaskedConv(channels, channels, 1, (0, 0, 0, 0)))
        self.head_hidden = nn.Conv2d(channels, head, 1)
        self.head_out = nn.Conv2d(head, out, 1)

    def forward(self, x):
        v, h = x, x
        n = len(self.v_conv)
        for l in range(n):
            pre_v = self.v_conv[l](v)
            link = self.v_to_h[l](shift_down(pre_v))
            if l + 1 < n:
                v = gate(pre_v)
            out = self.h_out[l](gate(self.h_conv[l](h) + link))
            h = h + out if l > 0 else out
        return self.head_out(F.relu(self.head_hidden(F.relu(h))))


def categorical_log_prob(logits, images):
    """log p(x) in nats; logits [b, 256, h, w], images [b, 1, h, w] long."""
    logp = F.log_softmax(logits, dim=1)
    return logp.gather(1, images).flatten(1).sum(1)


def mixture_log_prob(params, images, components=5):
    """Discretised logistic mixture of PixelCNN++ for grayscale images, in nats."""
    x = images.float() * (2.0 / 255.0) - 1.0
    weights, means, log_scales = params.split(components, dim=1)
    log_scales = log_scales.clamp(min=-7.0)
    centred = x - means
    inv = torch.exp(-log_scales)
    plus, minus = inv * (centred + 1.0 / 255.0), inv * (centred - 1.0 / 255.0)
    mid = inv * centred
    log_cdf_plus = plus - F.softplus(plus)
    log_one_minus_cdf_min = -F.softplus(minus)
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scales - 2.0 * F.softplus(mid) - torch.log(torch.tensor(127.5))
    inner = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), log_pdf_mid)
    upper = torch.where(x > 0.999, log_one_minus_cdf_min, inner)
    log_probs = torch.where(x < -0.999, log_cdf_plus, upper)
    mixed = torch.logsumexp(log_probs + F.log_softmax(weights, dim=1), dim=1)
    return mixed.flatten(1).sum(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--head", choices=["categorical", "mixture"], default="categorical")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--loop-images", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = 256 if args.head == "categorical" else 15
    device = torch.device(args.device)
    model = GatedPixelCnn(out=out).to(device)
    log_prob = categorical_log_prob if args.head == "categorical" else mixture_log_prob
    n_params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, {device}, {args.threads} threads, {args.head} head, "
          f"{n_params} parameters")

    idx = torch.arange(args.batch * 28 * 28)
    images = ((idx * 37 + idx // 7) % 256).reshape(args.batch, 1, 28, 28).to(device)
    x = images.float() * (2.0 / 255.0) - 1.0
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v for k, v in model.named_buffers()}

    def loss(p, xi, ii):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return log_prob(out, ii.unsqueeze(0)).sum()

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed(f, reps):
        f()
        sync()
        start = time.perf_counter()
        for _ in range(reps):
            f()
        sync()
        return (time.perf_counter() - start) / reps

    def plain():
        model.zero_grad()
        log_prob(model(x), images).sum().backward()

    def looped():
        for i in range(args.loop_images):
            model.zero_grad()
            log_prob(model(x[i : i + 1]), images[i : i + 1]).sum().backward()
            torch.cat([p.grad.flatten() for p in model.parameters()])

    t_plain = timed(plain, args.reps)
    t_vmap = timed(lambda: per_example(params, x, images), args.reps)
    t_loop = timed(looped, 1)
    print(f"plain forward+backward      {args.batch / t_plain:6.1f} examples/s")
    print(f"torch.func vmap(grad)       {args.batch / t_vmap:6.1f} examples/s")
    print(f"single-example loop         {args.loop_images / t_loop:6.1f} examples/s")


if __name__ == "__main__":
    main()
