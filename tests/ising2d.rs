//! `examples/ising2d.rs` against an independent enumeration of the 4 x 4 torus: energies
//! and magnetisations from a 2D array, majority block spins from the array, and `P*` by
//! Theorem A written out for this three-level hierarchy (docs/ising2d.md). Every exact field
//! to `1e-10` relative; the reweighted estimates within 5 standard errors.

#[path = "../examples/ising2d.rs"]
mod ising2d;

fn spins(x: usize) -> [[i32; 4]; 4] {
    let mut g = [[0; 4]; 4];
    for (r, row) in g.iter_mut().enumerate() {
        for (c, s) in row.iter_mut().enumerate() {
            *s = if x >> (c + 4 * r) & 1 == 1 { 1 } else { -1 };
        }
    }
    g
}

/// `-sum over the 32 bonds`, as half the sum over the four neighbours of every site.
fn energy(g: &[[i32; 4]; 4]) -> f64 {
    let mut twice = 0;
    for r in 0..4 {
        for c in 0..4 {
            twice -= g[r][c]
                * (g[r][(c + 1) % 4] + g[r][(c + 3) % 4] + g[(r + 1) % 4][c] + g[(r + 3) % 4][c]);
        }
    }
    f64::from(twice) / 2.0
}

/// The 2 x 2 majority block spins as a number in `0..16` (ties to the top-left spin).
fn blocks(g: &[[i32; 4]; 4]) -> usize {
    let mut y = 0;
    for br in 0..2 {
        for bc in 0..2 {
            let s = g[2 * br][2 * bc]
                + g[2 * br][2 * bc + 1]
                + g[2 * br + 1][2 * bc]
                + g[2 * br + 1][2 * bc + 1];
            let up = if s == 0 {
                g[2 * br][2 * bc] == 1
            } else {
                s > 0
            };
            if up {
                y |= 1 << (bc + 2 * br);
            }
        }
    }
    y
}

fn lse(a: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = a.clone().fold(f64::NEG_INFINITY, f64::max);
    m + a.map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

/// The exact fields by enumeration: Theorem A on spins -> blocks -> top.
fn enumerate(beta: f64, tau: [f64; 3]) -> serde_json::Value {
    let n = 1usize << 16;
    let (s0, s1) = (tau[0], tau[0] + tau[1]);
    let e: Vec<f64> = (0..n).map(|x| energy(&spins(x))).collect();
    let m: Vec<f64> = (0..n)
        .map(|x| spins(x).iter().flatten().sum::<i32>() as f64 / 16.0)
        .collect();
    let y: Vec<usize> = (0..n).map(|x| blocks(&spins(x))).collect();
    let log_z = lse(e.iter().map(|e| -beta * e));
    // g_1(y) = -S_0 log sum_{x in B(y)} exp(-beta E / S_0)
    let g1: Vec<f64> = (0..16)
        .map(|b| -s0 * lse((0..n).filter(|&x| y[x] == b).map(|x| -beta * e[x] / s0)))
        .collect();
    let f = -s1 * lse(g1.iter().map(|g| -g / s1));
    let py: Vec<f64> = g1.iter().map(|g| (-(g - f) / s1).exp()).collect();
    let p: Vec<f64> = (0..n)
        .map(|x| py[y[x]] * (-(beta * e[x] - g1[y[x]]) / s0).exp())
        .collect();
    let pb: Vec<f64> = (0..n).map(|x| (-beta * e[x] - log_z).exp()).collect();
    let h = |q: &[f64]| -> f64 { q.iter().filter(|&&v| v > 0.0).map(|v| -v * v.ln()).sum() };
    let obs = |q: &[f64]| {
        let mean = |f: &dyn Fn(usize) -> f64| -> f64 { (0..n).map(|x| q[x] * f(x)).sum() };
        let (en, a, m2, m4) = (
            mean(&|x| e[x]),
            mean(&|x| m[x].abs()),
            mean(&|x| m[x].powi(2)),
            mean(&|x| m[x].powi(4)),
        );
        serde_json::json!({"energy": en, "abs_magnetisation": a, "binder": 1.0 - m4 / (3.0 * m2 * m2),
                           "susceptibility": beta * 16.0 * (m2 - a * a)})
    };
    let ess = 1.0 / (0..n).map(|x| pb[x] * pb[x] / p[x]).sum::<f64>();
    let kl: f64 = (0..n).map(|x| pb[x] * (pb[x] / p[x]).ln()).sum();
    serde_json::json!({
        "log_z": log_z, "free_energy": f, "entropies": [h(&p), h(&py), 0.0],
        "ess_fraction": ess, "kl_boltzmann_to_pstar": kl, "boltzmann": obs(&pb), "pstar": obs(&p),
    })
}

#[test]
fn the_exact_fields_agree_with_an_enumeration_and_the_estimates_with_the_truth() {
    for (beta, tau, seed) in [
        (0.44, [1.0, 0.5, 0.0], 1u64),
        (0.3, [1.0, 0.0, 0.7], 2),
        (0.7, [0.8, 1.3, 0.2], 3),
    ] {
        let got = ising2d::report(beta, &tau, 20_000, seed).unwrap();
        let want = enumerate(beta, tau);
        for field in [
            "log_z",
            "free_energy",
            "ess_fraction",
            "kl_boltzmann_to_pstar",
        ] {
            let (g, w) = (got[field].as_f64().unwrap(), want[field].as_f64().unwrap());
            assert!(close(g, w, 1e-10), "beta {beta}: {field} = {g}, want {w}");
        }
        for k in 0..3 {
            let (g, w) = (
                got["entropies"][k].as_f64().unwrap(),
                want["entropies"][k].as_f64().unwrap(),
            );
            assert!(close(g, w, 1e-10), "beta {beta}: H(Y_{k}) = {g}, want {w}");
        }
        for dist in ["boltzmann", "pstar"] {
            for obs in ["energy", "abs_magnetisation", "binder", "susceptibility"] {
                let (g, w) = (
                    got[dist][obs].as_f64().unwrap(),
                    want[dist][obs].as_f64().unwrap(),
                );
                assert!(
                    close(g, w, 1e-10),
                    "beta {beta}: {dist}.{obs} = {g}, want {w}"
                );
                if dist == "boltzmann" {
                    let r = &got["reweighted"][obs];
                    let (v, s) = (r["value"].as_f64().unwrap(), r["stderr"].as_f64().unwrap());
                    assert!(
                        s > 0.0 && (v - w).abs() <= 5.0 * s,
                        "beta {beta}: {obs} {v} ± {s} vs {w}"
                    );
                }
            }
        }
        let ess = got["reweighted"]["ess_fraction"].as_f64().unwrap();
        assert!(ess > 0.0 && ess <= 1.0);
    }
}
