"""Times pytorch-fid's Fréchet distance (numpy statistics + scipy.linalg.sqrtm) on two
seeded sets of 5000 features of dimension 2048, and writes the sets as .npy files for
`fisher fid-distance` to time on the same data.

Usage: python crates/fisher-fid/benches/fid_scipy.py [OUT_DIR]   (default /tmp/fisher-fid-bench)
then:  time fisher fid-distance OUT_DIR/a.npy OUT_DIR/b.npy
Measured with Python 3.11.7, numpy 2.4.6, scipy 1.17.1; seed 2048.
"""
import os
import sys
import time

import numpy as np
from scipy import linalg

N, D = 5000, 2048
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/fisher-fid-bench"
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(2048)


def features(shift):
    """Non-negative, correlated features, like Inception pool3 activations."""
    mix = np.eye(D) + rng.standard_normal((D, D)) / np.sqrt(D)
    x = rng.standard_normal((N, D)) @ mix + shift
    return np.abs(x).astype(np.float32) * 0.3


paths = []
for name, shift in [("a", 0.0), ("b", 0.1)]:
    path = os.path.join(out, f"{name}.npy")
    if not os.path.exists(path):
        np.save(path, features(shift))
    paths.append(path)

t0 = time.perf_counter()
acts = [np.load(p) for p in paths]
t1 = time.perf_counter()
stats = [(np.mean(a, axis=0), np.cov(a, rowvar=False)) for a in acts]
t2 = time.perf_counter()
(mu1, s1), (mu2, s2) = stats
diff = mu1 - mu2
covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
t3 = time.perf_counter()
covmean = covmean.real
fid = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
print(f"FID {fid:.6f}")
print(f"read {t1 - t0:.2f} s, mean+cov {t2 - t1:.2f} s, sqrtm {t3 - t2:.2f} s, "
      f"total {t3 - t0:.2f} s")
