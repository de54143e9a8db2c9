"""high-precision reference values for `hmaxent flow` with "family": "hierarchical-ising".

Written independently of the library: Dyson's hierarchical model is solved by the block-sum
recursion over the *multiplicities* of the spin sums in plain multiplication (no log
domain, no tiles), in mpmath at 50 digits:

    w_0(s) = exp(h s / S_0)                       for s = -1, +1
    Z_{k+1}(M) = sum_{m1 + m2 = M} w_k(m1) w_k(m2)
    w_{k+1}(M) = exp(-v_{k+1}(M) / S_{k+1}) Z_{k+1}(M)^(S_k / S_{k+1}),  v_k(m) = -(J/2)(c/4)^k m^2

(the renormalised block loss is gamma_k = -S_k log w_k), F = -S_n log sum_M w_n(M).
Top-down, p_n is proportional to w_n, P(m1, m2 | M) = w_k(m1) w_k(m2) / Z_{k+1}(M), and
H(Y_k | Y_{k+1}) = 2^(n-k-1) sum_M p_{k+1}(M) H(m1, m2 | M), entropy by -sum P log P.
Run: python3 hierarchical_ising_reference.py > flow-hierarchical-ising.json
"""
import json
import mpmath as mp

mp.mp.dps = 50


def solve(n, J, c, h, tau):
    S = [sum(tau[: k + 1]) for k in range(n + 1)]
    S = [mp.mpf(x) for x in S]
    J, c, h = mp.mpf(J), mp.mpf(c), mp.mpf(h)
    v = lambda k, m: -J / 2 * (c / 4) ** k * m * m
    w = [{-1: mp.exp(-h / S[0]), 1: mp.exp(h / S[0])}]
    Z = [None]
    for k in range(n):
        wk = w[k]
        z = {}
        for m1, a in wk.items():
            for m2, b in wk.items():
                z[m1 + m2] = z.get(m1 + m2, 0) + a * b
        Z.append(z)
        w.append({M: mp.exp(-v(k + 1, M) / S[k + 1]) * zz ** (S[k] / S[k + 1]) for M, zz in z.items()})
    total = sum(w[n].values())
    F = -S[n] * mp.log(total)
    p = [None] * (n + 1)
    p[n] = {M: x / total for M, x in w[n].items()}
    cond = [mp.mpf(0)] * (n + 1)
    cond[n] = -sum(q * mp.log(q) for q in p[n].values() if q > 0)
    for k in range(n - 1, -1, -1):
        pk = {m: mp.mpf(0) for m in w[k]}
        hk = mp.mpf(0)
        for M, pM in p[k + 1].items():
            for m1, a in w[k].items():
                m2 = M - m1
                if m2 in w[k]:
                    P = a * w[k][m2] / Z[k + 1][M]
                    pk[m1] += pM * P
                    if P > 0:
                        hk -= pM * P * mp.log(P)
        p[k] = pk
        cond[k] = 2 ** (n - k - 1) * hk
    H = [sum(cond[k:]) for k in range(n + 1)]
    el = [2 ** (n - k) * sum(q * (v(k, m) if k > 0 else -h * m) for m, q in p[k].items()) for k in range(n + 1)]
    mean = sum(q * M for M, q in p[n].items())
    second = sum(q * M ** 2 for M, q in p[n].items())
    fourth = sum(q * M ** 4 for M, q in p[n].items())
    mag = {
        "mean": mean,
        "second": second,
        "fourth": fourth,
        "susceptibility": (second - mean ** 2) / 2 ** n,
        "binder": 1 - fourth / (3 * second ** 2),
    }
    dists = [[p[k][m] for m in sorted(p[k])] for k in range(n + 1)]
    return F, H, el, mag, dists


def s(x):
    return mp.nstr(x, 40, strip_zeros=False)


cases = [
    ("dyson-n3-gibbs", 3, 1.0, 2 ** (1 / 3), 0.0, [0.8, 0, 0, 0]),
    ("dyson-n5-field-tempered", 5, 1.3, 2 ** (1 / 3), 0.2, [1.1, 0.3, 0, 0.7, 0.1, 0.05]),
    ("dyson-n8-gibbs-near-critical", 8, 1.0, 2 ** (1 / 3), 0.0, [1 / 1.18, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("dyson-n9-cold-c1.6", 9, 1.0, 1.6, -0.05, [0.4, 0.1, 0, 0, 0.2, 0, 0, 0.5, 0, 1.0]),
    ("antiferro-n6", 6, -0.7, 3.0, 0.1, [0.9, 0.5, 0.5, 0, 0, 0, 0.25]),
]
out = []
for name, n, J, c, h, tau in cases:
    F, H, el, mag, dists = solve(n, J, c, h, tau)
    out.append(
        {
            "name": name,
            "input": {"family": "hierarchical-ising", "levels": n, "coupling": J, "c": c, "field": h, "temperatures": tau},
            "expected": {
                "free_energy": s(F),
                "entropies": [s(x) for x in H],
                "expected_level_losses": [s(x) for x in el],
                "magnetisation": {k: s(x) for k, x in mag.items()},
                "block_sum_distributions": [[s(x) for x in d] for d in dists],
            },
        }
    )
print(json.dumps({"about": "hmaxent flow (hierarchical-ising): reference values at 50 digits from the multiplicative block-sum recursion in mpmath (hierarchical_ising_reference.py in this folder)", "cases": out}))
