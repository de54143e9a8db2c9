"""Vectorised numpy version of the full tabulated solve on a complete binary tree.

The same work as `examples/throughput.rs` does per solve: bottom-up log-sum-exp sweep with
block conditionals and block entropies at cumulative temperatures S_k = k + 1 (tau = 1),
top-down marginals and conditional entropies, the expected level-0 loss; every array is a
whole-level numpy operation (no Python loop over states).

    python3 benches/numpy_sweep.py [--log2 24] [--reps 3] [--json]
"""

import argparse
import json
import time

import numpy as np


def solve(u0, d, cumulative):
    """Returns (free energy, marginals, entropies H(Y_k), expected loss of level 0)."""
    g = u0
    conds, block_entropies = [], []
    for k in range(d):
        s = cumulative[k]
        pairs = g.reshape(-1, 2)
        m = pairs.min(axis=1)
        w = np.exp((m[:, None] - pairs) / s)
        z = w.sum(axis=1)
        p = w / z[:, None]
        log_z = np.log(z)
        conds.append(p)
        block_entropies.append(log_z + (p * (pairs - m[:, None])).sum(axis=1) / s)
        g = m - s * log_z
    # Top (a single state after d binary steps).
    free_energy = g[0]
    marginal = np.ones(1)
    marginals = [marginal]
    entropies = [0.0]
    for k in reversed(range(d)):
        h = float(marginal @ block_entropies[k])
        marginal = (conds[k] * marginal[:, None]).reshape(-1)
        marginals.append(marginal)
        entropies.append(entropies[-1] + h)
    marginals.reverse()
    entropies.reverse()
    expected = float(marginals[0] @ u0)
    return free_energy, marginals, entropies, expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log2", type=int, default=24)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    d = args.log2
    n = 1 << d
    rng = np.random.default_rng(0x5EED)
    u0 = 4.0 * rng.random(n)
    cumulative = [float(k + 1) for k in range(d + 1)]
    best = float("inf")
    for _ in range(args.reps):
        t = time.perf_counter()
        f, marginals, entropies, expected = solve(u0, d, cumulative)
        best = min(best, time.perf_counter() - t)
    ns = best * 1e9 / n
    # F = E[u0] - sum_k tau_k H(Y_k) with tau = 1: a consistency check of the sweep.
    check = expected - sum(entropies)
    if args.json:
        print(json.dumps({"states": n, "numpy_ns_per_state": ns, "free_energy": float(f),
                          "identity_residual": float(check - f), "numpy": np.__version__}))
    else:
        print(f"numpy {np.__version__}: 2^{d} leaves, {ns:.2f} ns/state "
              f"(F = {f:.12g}, E[u0] - sum H - F = {check - f:.3g})")


if __name__ == "__main__":
    main()
