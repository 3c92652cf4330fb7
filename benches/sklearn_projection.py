"""scikit-learn's SparseRandomProjection on the sizes of `fisher bench projection`.

The reference the Rust projection is compared with in docs/benchmarks.md: the fit (which
draws and stores the sparse k × d matrix), then `transform` of a float32 batch, best of a
few repetitions, reported in GB/s of input like `fisher bench projection`.

    python3 benches/sklearn_projection.py --d 4194304 --k 4096 --batch 32

Versions used for the figures in docs/benchmarks.md are printed on the first line. The input
is seeded uniform noise in [-1, 1); the matrix uses density 1/sqrt(d) ('auto').
"""

import argparse
import platform
import time

import numpy as np
import scipy
import sklearn
from sklearn.random_projection import SparseRandomProjection


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d", type=int, default=4_194_304, help="input length")
    parser.add_argument("--k", type=int, default=4096, help="output length")
    parser.add_argument("--batch", type=int, default=32, help="vectors per batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed transforms")
    parser.add_argument("--seed", type=int, default=0, help="seed of input and matrix")
    args = parser.parse_args()

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}"
    )
    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-1.0, 1.0, size=(args.batch, args.d)).astype(np.float32)
    gigabytes = x.nbytes / 1e9

    projection = SparseRandomProjection(
        n_components=args.k, density="auto", random_state=args.seed
    )
    start = time.perf_counter()
    fit_cpu = time.process_time()
    projection.fit(x)
    fit_seconds = time.perf_counter() - start
    fit_cpu = time.process_time() - fit_cpu
    m = projection.components_
    matrix_mb = (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 1e6
    print(
        f"fit: {fit_seconds:.1f} s ({fit_cpu:.1f} s CPU), matrix {m.shape[0]} x {m.shape[1]}, "
        f"{m.nnz} nonzeros, {matrix_mb:.0f} MB (density {projection.density_:.3g})"
    )

    projection.transform(x)
    times = []
    cpu_start = time.process_time()
    for _ in range(args.repeats):
        start = time.perf_counter()
        z = projection.transform(x)
        times.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu_start
    best = min(times)
    print(
        f"transform: best {best * 1e3:.0f} ms over {args.repeats}, output {z.shape} {z.dtype}, "
        f"{gigabytes / best:.2f} GB/s of input"
    )
    print(
        f"CPU {cpu:.2f} s for {sum(times):.2f} s of transforms: "
        f"{cpu / sum(times):.2f} cores busy, "
        f"{gigabytes * args.repeats / cpu:.2f} GB/s per CPU-second"
    )


if __name__ == "__main__":
    main()
