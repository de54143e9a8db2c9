"""The same problem as `examples/throughput.rs`, solved as a generic convex program.

Complete binary tree with 2^L leaves (default L = 14), losses uniform in [0, 4) (numpy seed 7),
tau_k = 1: minimise E[u_0] - sum_k H(Y_k) over distributions p on the leaves, with every level
marginal a linear push-forward of p and each entropy through CVXPY's `entr` (exponential
cones), solved by Clarabel. Prints the solve time per state and the optimum, which the sweep
reproduces as its free energy F.

    pip install cvxpy clarabel numpy && python3 benches/cvxpy_sweep.py [L]
"""
import sys
import time

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

L = int(sys.argv[1]) if len(sys.argv) > 1 else 14
n = 1 << L
rng = np.random.default_rng(7)
u = 4.0 * rng.random(n)
p = cp.Variable(n, nonneg=True)
levels = [p]
objective = u @ p
for k in range(1, L + 1):
    m = n >> k
    # Sum pairs of the previous level: a sparse 0/1 push-forward.
    rows = np.repeat(np.arange(m), 2)
    T = sp.csr_matrix((np.ones(2 * m), (rows, np.arange(2 * m))), shape=(m, 2 * m))
    levels.append(T @ levels[-1])
objective = objective - sum(cp.sum(cp.entr(q)) for q in levels)
problem = cp.Problem(cp.Minimize(objective), [cp.sum(p) == 1])
t = time.perf_counter()
problem.solve(solver=cp.CLARABEL)
elapsed = time.perf_counter() - t


def sweep(u, L):
    g, s = u, 0.0
    for k in range(L):
        s += 1.0
        a, b = g[0::2], g[1::2]
        m = np.minimum(a, b)
        g = m - s * np.log(np.exp(-(a - m) / s) + np.exp(-(b - m) / s))
    s += 1.0
    m = g.min()
    return m - s * np.log(np.exp(-(g - m) / s).sum())


print(
    f"cvxpy {cp.__version__} + clarabel: 2^{L} leaves, {elapsed:.3f} s "
    f"({elapsed / n * 1e9:.0f} ns/state), optimum {problem.value:.12f}, "
    f"sweep F {sweep(u, L):.12f}"
)
