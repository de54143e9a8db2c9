"""The numpy comparison for examples/throughput.rs: the full solve of a complete binary tree,
written the way a speed-aware numpy user would (reshapes, float64, in-place ufuncs).

Same problem as examples/throughput.rs (2^L leaves, losses uniform in [0, 4), tau = 1, so
S_k = k + 1), and the same outputs: the free energy, every level's marginal, every entropy.

  bottom-up  g_{k+1}(y) = min(a, b) - S_k log1p(exp(-|a - b| / S_k))   (a, b = children of y)
  top        F = g_d (one root), log P_d = 0
  top-down   log P_k(x) = log P_{k+1}(parent) - (g_k(x) - g_{k+1}(parent)) / S_k,
             P_k = exp(log P_k) (every level kept), H(Y_k) = -sum P_k log P_k.

    python3 benches/numpy_sweep.py [--log2 24] [--reps 3] [--json]

Prints the best wall time per state of REPS solves, numpy's own `exp` per element on an
array of the same size, a copy of it (the memory floor), and the value identity
F = E[u_0] - sum_k tau_k H(Y_k) as a check.
"""

import argparse
import json
import time

import numpy as np


def full_solve(f, S):
    """f: 2^d leaf losses; S: cumulative temperatures (d + 1). -> (F, marginals, entropies)."""
    d = len(S) - 1
    g = [f]
    cur = f
    for k in range(d):
        a = cur.reshape(-1, 2)
        x, y = a[:, 0], a[:, 1]
        lo = np.minimum(x, y)
        t = np.subtract(x, y)
        np.abs(t, out=t)
        t *= -1.0 / S[k]
        np.exp(t, out=t)
        np.log1p(t, out=t)
        t *= -S[k]
        t += lo
        cur = t
        g.append(cur)
    F = float(g[d][0])
    marg = [None] * (d + 1)
    ent = [0.0] * (d + 1)
    marg[d] = np.ones(1)
    lp = np.zeros(1)
    for k in range(d - 1, -1, -1):
        t = g[k].reshape(-1, 2) - g[k + 1][:, None]
        t *= -1.0 / S[k]
        t += lp[:, None]
        lp = t.reshape(-1)
        p = np.exp(lp)
        marg[k] = p
        ent[k] = -float(np.dot(p, lp))
    return F, marg, ent


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
    tau = np.ones(d + 1)
    S = np.cumsum(tau)
    best = float("inf")
    for _ in range(args.reps):
        t0 = time.perf_counter()
        F, marg, ent = full_solve(u0, S)
        best = min(best, time.perf_counter() - t0)
        del marg
    buf = np.empty(n)
    exp_best = copy_best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        np.exp(u0, out=buf)
        exp_best = min(exp_best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        np.copyto(buf, u0)
        copy_best = min(copy_best, time.perf_counter() - t0)
    F, marg, ent = full_solve(u0, S)
    residual = float(np.dot(marg[0], u0)) - float(np.dot(tau, ent)) - F
    ns = best * 1e9 / n
    if args.json:
        print(json.dumps({"states": n, "numpy_ns_per_state": ns, "np_exp_ns": exp_best * 1e9 / n,
                          "copy_ns": copy_best * 1e9 / n, "free_energy": F,
                          "identity_residual": residual, "numpy": np.__version__}))
    else:
        print(f"numpy {np.__version__}: 2^{d} leaves, {ns:.2f} ns/state, exp "
              f"{exp_best * 1e9 / n:.2f} ns, copy {copy_best * 1e9 / n:.2f} ns "
              f"(F = {F:.12g}, E[u0] - sum H - F = {residual:.3g})")


if __name__ == "__main__":
    main()
