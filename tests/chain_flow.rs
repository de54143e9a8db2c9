//! The nearest-neighbour chain family (docs/families-chain.md) against independent oracles: the tabulated
//! engine on the equivalent hierarchy, the Ising closed form, finite differences, the
//! transfer-matrix eigenvalue, exact marginals (sampling), and the high-precision references (tests/data) in
//! `tests/data/flow-chain.json` (brute-force enumeration at 50 digits, see its `about`).
//! Proofs: `proofs/chain.md`.

#[path = "common/reference.rs"]
mod reference;
use reference::{close, load, num};
#[path = "common/chains.rs"]
mod common_chains;
use common_chains::random_chain;

use hmaxent::cli;
use hmaxent::dual::Dual;
use hmaxent::families::chain::{
    fixed_point, interaction, ising_bond, ising_fixed_points, ising_flow, ising_flow_diagram,
    ising_parameters, BondScalar, Boundary, Chain, Decimation, IsingCouplings,
};
use hmaxent::numerics::soft_min_plus;
use hmaxent::rg::{reconstruct, sweep};
use hmaxent::{Error, Sample, Temperatures};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const INF: f64 = f64::INFINITY;

/// A random chain: `q` in {2, 3}, `L` in 1..=3 (q = 3: up to 3^9 tabulated states), open or
/// ring, homogeneous or not, entries in [-2, 2] with probability `p_inf` of `+inf`.
fn chains() -> impl Strategy<Value = (Chain, Vec<f64>)> {
    (
        2usize..=3,
        1usize..=3,
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        0.0f64..0.25,
    )
        .prop_map(|(q, l, ring, homogeneous, seed, p_inf)| {
            let mut rng = StdRng::seed_from_u64(seed);
            let chain = random_chain(&mut rng, q, l, ring, homogeneous, p_inf);
            // tau_0 in [0.3, 2]; coarse levels hot, cold or zero.
            let tau: Vec<f64> = (0..=l)
                .map(|k| match (k, rng.random_range(0..3)) {
                    (0, _) => rng.random_range(0.3..2.0),
                    (_, 0) => 0.0,
                    _ => rng.random_range(0.0..2.0),
                })
                .collect();
            (chain, tau)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Flow = tabulated engine on the equivalent hierarchy (proofs/chain.md, "invariance").
    #[test]
    fn flow_equals_the_tabulated_engine((chain, tau) in chains()) {
        let t = Temperatures::new(&tau).unwrap();
        let (_, problem) = chain.tabulate().unwrap();
        match (problem.solve(&t), chain.solve(&t)) {
            (Ok(tab), Ok(flow)) => {
                let s = &flow.summary;
                prop_assert!(close(s.free_energy, tab.free_energy(), 1e-12),
                    "F: flow {} vs tabulated {}", s.free_energy, tab.free_energy());
                for (k, (&h, &ht)) in s.entropies.iter().zip(tab.entropies()).enumerate() {
                    prop_assert!(close(h, ht, 1e-12), "H(Y_{}): flow {} vs tabulated {}", k, h, ht);
                }
                prop_assert!(close(s.expected_loss, tab.expected_total_loss(), 1e-12),
                    "E f: flow {} vs tabulated {}", s.expected_loss, tab.expected_total_loss());
                // The renormalised losses themselves: g_k = C_k + sum of the level's bonds.
                let f = &flow.flow;
                for k in 0..=chain.levels() {
                    let m = chain.sites(k).unwrap();
                    let g = tab.renormalised_loss(k);
                    let mut y = vec![0usize; m];
                    for (idx, &gt) in g.iter().enumerate() {
                        let mut x = idx;
                        for d in y.iter_mut().rev() {
                            *d = x % chain.q();
                            x /= chain.q();
                        }
                        let gf = f.renormalised_loss(k, &y);
                        prop_assert!(gf == gt || close(gf, gt, 1e-12),
                            "g_{}({:?}): flow {} vs tabulated {}", k, y, gf, gt);
                    }
                }
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.kind(), hmaxent::ErrorKind::Infeasible);
                prop_assert_eq!(b.kind(), hmaxent::ErrorKind::Infeasible);
            }
            (a, b) => prop_assert!(false, "tabulated {:?} vs flow {:?}", a.err(), b.err()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The chain's top-down pass through the one driver (`rg::reconstruct` with the
    /// `Reconstruct` of `Decimation`), homogeneous chains included, against the tabulated
    /// engine: every conditional entropy, `E f = C_0 + E[sum_i phi_{0,i}]`, and the pair
    /// marginals of every level's bonds (levels >= 1) summed from the tabulated `P*_k`.
    #[test]
    fn top_down_through_the_driver_equals_the_tabulated_engine((chain, tau) in chains()) {
        let t = Temperatures::new(&tau).unwrap();
        let (_, problem) = chain.tabulate().unwrap();
        let (Ok(tab), Ok(flow)) = (problem.solve(&t), chain.flow(&t)) else {
            return Ok(());
        };
        let step = Decimation::<f64>::new(&chain);
        let swept = sweep(&step, flow.loss(0), t.cumulative_slice()).unwrap();
        let rec = reconstruct(&step, swept.conditionals);
        let l = chain.levels();
        prop_assert_eq!(rec.conditional_entropies.len(), l + 1);
        for (k, &h) in rec.conditional_entropies.iter().enumerate() {
            let want = if k < l { tab.conditional_entropy(k) } else { tab.entropy(l) };
            prop_assert!(close(h, want, 1e-12), "H(Y_{} | Y_{}): {} vs tabulated {}", k, k + 1, h, want);
        }
        let e = flow.loss(0).constant + rec.marginals[0].expected_loss;
        prop_assert!(close(e, tab.expected_total_loss(), 1e-12),
            "E f: {} vs tabulated {}", e, tab.expected_total_loss());
        let q = chain.q();
        for k in 1..=l {
            let m = chain.sites(k).unwrap();
            let bonds = if chain.boundary() == Boundary::Open { m - 1 } else { m };
            // A ring's top has one site and one bond, from the site to itself.
            let mut want = vec![0.0; bonds * q * q];
            let mut y = vec![0usize; m];
            for (idx, p) in tab.marginal(k).into_iter().enumerate() {
                let mut x = idx;
                for d in y.iter_mut().rev() {
                    *d = x % q;
                    x /= q;
                }
                for j in 0..bonds {
                    want[j * q * q + y[j] * q + y[(j + 1) % m]] += p;
                }
            }
            let got = &rec.marginals[k].pairs;
            prop_assert_eq!(got.len(), want.len());
            for (i, (&a, &b)) in got.iter().zip(&want).enumerate() {
                prop_assert!((a - b).abs() <= 1e-12, "level {} pair entry {}: {} vs tabulated {}", k, i, a, b);
            }
        }
    }
}

/// The hand-written dual kernel equals dual arithmetic through the generic kernel.
#[test]
fn dual_kernel_matches_generic_dual_arithmetic() {
    let mut rng = StdRng::seed_from_u64(3);
    for q in [1usize, 2, 3, 5] {
        for trial in 0..20 {
            let entry = |rng: &mut StdRng| {
                if rng.random::<f64>() < 0.2 {
                    Dual::<3>::constant(INF)
                } else {
                    Dual::new(
                        rng.random_range(0.0..3.0),
                        [
                            rng.random_range(-1.0..1.0),
                            rng.random_range(-1.0..1.0),
                            0.0,
                        ],
                    )
                }
            };
            let l: Vec<Dual<3>> = (0..q * q).map(|_| entry(&mut rng)).collect();
            let r: Vec<Dual<3>> = (0..q * q).map(|_| entry(&mut rng)).collect();
            let s = Dual::new(
                [0.05, 0.7, 4.0][trial % 3],
                [0.3, 0.0, if trial % 2 == 0 { 1.0 } else { 0.0 }],
            );
            let mut fast = vec![Dual::constant(0.0); q * q];
            let mut slow = fast.clone();
            let mut ws = Vec::new();
            let mut scratch = vec![Dual::constant(0.0); q * q * q];
            <Dual<3> as BondScalar>::soft_min_plus(&l, &r, q, s, &mut fast, &mut ws);
            soft_min_plus(&l, &r, q, s, &mut slow, &mut scratch);
            for (f, g) in fast.iter().zip(&slow) {
                assert!(f.re == g.re || close(f.re, g.re, 1e-13), "{f:?} vs {g:?}");
                if f.re.is_finite() {
                    for i in 0..3 {
                        assert!(close(f.eps[i], g.eps[i], 1e-11), "{f:?} vs {g:?}");
                    }
                }
            }
        }
    }
}

/// proofs/chain.md, "Ising closed form": the (K, H) flow equals the 2 x 2 matrix flow.
#[test]
fn ising_closed_form_equals_the_matrix_flow() {
    for &(j, h) in &[(1.0, 0.0), (0.7, 0.3), (-0.5, 0.8), (2.5, -0.1), (0.0, 1.0)] {
        for tau in [
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            vec![0.5, 0.2, 1.0, 0.0, 3.0, 0.1],
            vec![2.0, 0.5, 0.5, 0.5, 0.5, 0.5],
        ] {
            let l = tau.len() - 1;
            let t = Temperatures::new(&tau).unwrap();
            for boundary in [Boundary::Open, Boundary::Ring] {
                let chain = Chain::homogeneous(2, l, boundary, &ising_bond(j, h)).unwrap();
                let flow = chain.flow(&t).unwrap();
                let closed = ising_flow(j, h, t.cumulative_slice());
                for (k, c) in closed.iter().enumerate() {
                    let (jk, hk) = ising_parameters(flow.bonds(k));
                    let s = t.cumulative(k);
                    assert!(
                        (jk / s - c.k).abs() < 1e-13 * c.k.abs().max(1.0)
                            && (hk / s - c.h).abs() < 1e-13 * c.h.abs().max(1.0),
                        "J={j}, h={h}, level {k}: matrix ({}, {}) vs closed ({}, {})",
                        jk / s,
                        hk / s,
                        c.k,
                        c.h
                    );
                }
            }
        }
    }
}

/// With equal temperatures every finite start flows to K = 0 (no 1D order); K decreases by
/// about ln(2)/2 per step when large (proofs/chain.md, "fixed points").
#[test]
fn ising_flow_diagram_flows_to_the_decoupled_fixed_point() {
    let starts = [
        IsingCouplings { k: 3.0, h: 0.0 },
        IsingCouplings { k: 0.8, h: 0.4 },
        IsingCouplings { k: -1.5, h: 0.0 },
    ];
    let paths = ising_flow_diagram(&starts, 1.0, 40);
    for p in &paths {
        assert!(p.last().unwrap().k.abs() < 1e-6, "{:?}", p.last());
        for w in p.windows(2) {
            assert!(w[1].k.abs() <= w[0].k.abs() + 1e-15);
        }
    }
    let (a, b) = (paths[0][0].k, paths[0][1].k);
    assert!((a - b - 0.5 * 2f64.ln()).abs() < 1e-4, "{a} -> {b}");
    assert_eq!(ising_fixed_points(1.0).len(), 2);
    assert_eq!(ising_fixed_points(0.5).len(), 1);
    // The general matrix flow reaches a decoupled bond (interaction 0) ...
    let bond = [0.2, 1.0, -0.3, 0.7, 0.0, 1.5, 2.0, -1.0, 0.4];
    let (psi, steps) = fixed_point(&bond, 3, 0.9, 1.0, 1e-14, 200).unwrap();
    assert!(steps < 200 && interaction(&psi, 3) < 1e-12, "{psi:?}");
    // ... and a hard-constraint permutation stays coupled forever.
    let perm = [INF, 0.0, INF, INF, INF, 0.0, 0.0, INF, INF];
    let (psi, _) = fixed_point(&perm, 3, 1.0, 1.0, 1e-14, 50).unwrap();
    assert!(psi.iter().filter(|x| x.is_finite()).count() == 3);
}

/// Envelope identities at scale: entropies equal -dF/dtau_k by central differences
/// (independent of forward mode) on a chain of 2^16 + 1 sites (F ~ 1e4, so the central
/// difference with h = 1e-4 is good to ~1e-8 absolute).
#[test]
fn entropies_match_finite_differences_of_the_free_energy() {
    let l = 16;
    let chain = Chain::homogeneous(
        3,
        l,
        Boundary::Open,
        &[0.1, 0.5, -0.2, 0.9, 0.0, 0.3, -0.4, 1.1, 0.2],
    )
    .unwrap();
    let tau: Vec<f64> = (0..=l).map(|k| 0.6 + 0.01 * k as f64).collect();
    let sol = chain.solve(&Temperatures::new(&tau).unwrap()).unwrap();
    for k in [0, 1, 5, 10, 15, 16] {
        let f = |dh: f64| {
            let mut t = tau.clone();
            t[k] += dh;
            chain
                .flow(&Temperatures::new(&t).unwrap())
                .unwrap()
                .free_energy()
        };
        let h = 1e-4;
        let fd = -(f(h) - f(-h)) / (2.0 * h);
        let got = sol.summary.entropies[k];
        assert!(
            (fd - got).abs() <= 1e-6 * got.abs().max(1.0),
            "H(Y_{k}): {got} vs {fd}"
        );
    }
    // E f by central differences of f -> (1 + t) f.
    let scaled = |t: f64| {
        let b: Vec<f64> = chain.bond(0).iter().map(|x| x * (1.0 + t)).collect();
        Chain::homogeneous(3, l, Boundary::Open, &b)
            .unwrap()
            .flow(&Temperatures::new(&tau).unwrap())
            .unwrap()
            .free_energy()
    };
    let fd = (scaled(1e-5) - scaled(-1e-5)) / 2e-5;
    let got = sol.summary.expected_loss;
    assert!((fd - got).abs() <= 1e-6 * got.abs(), "E f: {got} vs {fd}");
}

/// The same envelope identities for inhomogeneous chains (whose entropies come from the
/// top-down pass of pair marginals, not from derivatives): random bonds with a few `+inf`
/// entries, open and ring, q = 2 and 3 (fixed-alphabet kernels, several blocks of the fused
/// bottom levels) and q = 5 (general kernel); central differences of the `f64` flow in every
/// `tau_k` and in `t` for `f -> (1 + t) f`.
#[test]
fn inhomogeneous_entropies_match_finite_differences_of_the_free_energy() {
    let mut rng = StdRng::seed_from_u64(29);
    for (q, l, boundary) in [
        (3, 13, Boundary::Open),
        (2, 12, Boundary::Ring),
        (3, 11, Boundary::Ring),
        (5, 8, Boundary::Open),
    ] {
        let bonds: Vec<f64> = (0..(q * q) << l)
            .map(|_| {
                if rng.random::<f64>() < 0.05 {
                    INF
                } else {
                    rng.random_range(-1.5..1.5)
                }
            })
            .collect();
        let chain = Chain::inhomogeneous(q, l, boundary, bonds.clone()).unwrap();
        let tau: Vec<f64> = (0..=l)
            .map(|k| {
                if k == 0 {
                    0.7
                } else {
                    rng.random_range(0.0..0.3)
                }
            })
            .collect();
        let sol = chain.solve(&Temperatures::new(&tau).unwrap()).unwrap();
        let f = |t: &[f64]| {
            chain
                .flow(&Temperatures::new(t).unwrap())
                .unwrap()
                .free_energy()
        };
        assert_eq!(sol.summary.free_energy, f(&tau));
        let h = 1e-4;
        for k in 0..=l {
            let (mut up, mut down) = (tau.clone(), tau.clone());
            up[k] += h;
            down[k] -= h;
            if down[k] < 0.0 {
                continue;
            }
            let fd = -(f(&up) - f(&down)) / (2.0 * h);
            let got = sol.summary.entropies[k];
            assert!(
                (fd - got).abs() <= 1e-6 * got.abs().max(1.0),
                "q={q}, L={l}: H(Y_{k}): {got} vs {fd}"
            );
        }
        let scaled = |t: f64| {
            let b: Vec<f64> = bonds.iter().map(|x| x * (1.0 + t)).collect();
            Chain::inhomogeneous(q, l, boundary, b)
                .unwrap()
                .flow(&Temperatures::new(&tau).unwrap())
                .unwrap()
                .free_energy()
        };
        let fd = (scaled(1e-5) - scaled(-1e-5)) / 2e-5;
        let got = sol.summary.expected_loss;
        assert!(
            (fd - got).abs() <= 1e-6 * got.abs().max(1.0),
            "q={q}, L={l}: E f: {got} vs {fd}"
        );
    }
}

/// A ring at a single temperature is the transfer-matrix partition function:
/// F = -S log tr(T^n), T = exp(-phi / S), n = 2^40 (2 x 2 eigenvalues in closed form).
#[test]
fn ring_free_energy_is_the_transfer_matrix_trace() {
    let l = 40;
    let bond = [0.3, -0.2, 0.5, 0.1];
    let s = 0.7;
    let mut tau = vec![0.0; l + 1];
    tau[0] = s;
    let sol = Chain::homogeneous(2, l, Boundary::Ring, &bond)
        .unwrap()
        .solve(&Temperatures::new(&tau).unwrap())
        .unwrap();
    let t: Vec<f64> = bond.iter().map(|x| (-x / s).exp()).collect();
    let (tr, det) = (t[0] + t[3], t[0] * t[3] - t[1] * t[2]);
    let disc = (tr * tr - 4.0 * det).sqrt();
    let (l1, l2) = ((tr + disc) / 2.0, (tr - disc) / 2.0);
    let n = 2f64.powi(l as i32);
    // log tr T^n = n log l1 + log(1 + (l2/l1)^n), the second term is 0 in f64 here.
    let want = -s * (n * l1.ln() + (l2 / l1).abs().powf(n).ln_1p());
    let got = sol.summary.free_energy;
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
    // The entropy rate: H(Y_0) / n -> log l1 - E[phi] / (n s) ... i.e. (E f - F) / S.
    let h0 = sol.summary.entropies[0];
    let identity = (sol.summary.expected_loss - sol.summary.free_energy) / s;
    assert!((h0 - identity).abs() <= 1e-12 * h0, "{h0} vs {identity}");
}

/// Per-level entropies of the 2^40 + 1 chain are usable (no cancellation): positive
/// conditional entropies, bounded by 2^(L-k-1) log q, and the top entropy at most log q^2.
#[test]
fn coarse_entropies_of_a_huge_chain_are_sane() {
    let l = 40;
    let chain = Chain::homogeneous(2, l, Boundary::Open, &[-0.7, 0.4, 0.9, -0.2]).unwrap();
    let tau: Vec<f64> = (0..=l).map(|k| if k == 0 { 1.0 } else { 0.05 }).collect();
    let sol = chain.solve(&Temperatures::new(&tau).unwrap()).unwrap();
    let s = &sol.summary;
    for k in 0..l {
        let c = s.conditional_entropies[k];
        assert!(
            c > 0.0 && c <= 2f64.powi((l - k - 1) as i32) * 2f64.ln() * (1.0 + 1e-12),
            "level {k}: {c}"
        );
    }
    assert!(s.entropies[l] > 0.0 && s.entropies[l] <= 4f64.ln() + 1e-12);
    // The coarse levels agree with a short chain at the same coarse temperatures: the level-30
    // chain of 2^10 + 1 sites, entered with the flow's level-30 bonds, has the same entropies.
    let sub = Chain::homogeneous(2, 10, Boundary::Open, sol.flow.bonds(30)).unwrap();
    let sub_sol = sub
        .solve(
            &Temperatures::new(&{
                let mut t = tau[30..].to_vec();
                t[0] = tau[..=30].iter().sum();
                t
            })
            .unwrap(),
        )
        .unwrap();
    for k in 0..=10 {
        let (a, b) = (s.entropies[30 + k], sub_sol.summary.entropies[k]);
        assert!(close(a, b, 1e-11), "level {}: {a} vs {b}", 30 + k);
    }
}

/// Homogeneous and inhomogeneous code paths agree on a chain with equal bonds.
#[test]
fn homogeneous_equals_inhomogeneous_with_equal_bonds() {
    let bond = [0.3, INF, -0.5, 1.0, 0.2, 0.0, INF, 0.7, -0.1];
    let l = 6;
    let tau = [0.8, 0.1, 0.0, 0.4, 0.2, 0.0, 1.0];
    let t = Temperatures::new(&tau).unwrap();
    for boundary in [Boundary::Open, Boundary::Ring] {
        let a = Chain::homogeneous(3, l, boundary, &bond)
            .unwrap()
            .solve(&t)
            .unwrap();
        let b = Chain::inhomogeneous(3, l, boundary, bond.repeat(1 << l))
            .unwrap()
            .solve(&t)
            .unwrap();
        assert!(close(a.summary.free_energy, b.summary.free_energy, 1e-13));
        assert!(close(
            a.summary.expected_loss,
            b.summary.expected_loss,
            1e-13
        ));
        for (x, y) in a.summary.entropies.iter().zip(&b.summary.entropies) {
            assert!(close(*x, *y, 1e-13), "{x} vs {y}");
        }
    }
}

/// Exact sampling by inverse RG (docs/concepts.md, "10. Sampling"): empirical frequencies of whole configurations
/// match the tabulated P*_0. Per-state test |count - n p| <= z sqrt(n p (1 - p)) + 1 with
/// z = 6.1 over at most 729 states: false-alarm probability below 1e-6 per chain (Bonferroni,
/// normal approximation); states with p = 0 must never appear. Fixed seeds.
#[test]
fn samples_match_the_exact_marginals() {
    let cases = [
        Chain::homogeneous(2, 3, Boundary::Open, &[-0.4, 0.6, 0.2, 0.1]).unwrap(),
        Chain::inhomogeneous(
            3,
            2,
            Boundary::Ring,
            vec![
                0.1, INF, 0.3, -0.2, 0.0, 0.5, 0.4, 0.9, INF, //
                0.0, 0.2, 0.2, INF, -0.1, 0.3, 0.6, 0.0, 0.1, //
                0.3, 0.3, INF, 0.0, 0.4, -0.5, 0.2, 0.1, 0.0, //
                0.5, 0.0, 0.1, 0.2, INF, 0.2, -0.3, 0.7, 0.0,
            ],
        )
        .unwrap(),
        Chain::homogeneous(
            3,
            2,
            Boundary::Open,
            &[0.0, 1.0, INF, 0.5, -0.5, 0.2, INF, 0.0, 0.3],
        )
        .unwrap(),
        Chain::inhomogeneous(
            2,
            1,
            Boundary::Ring,
            vec![0.2, -0.3, 0.5, 0.0, 1.0, 0.0, 0.4, INF],
        )
        .unwrap(),
    ];
    for (i, chain) in cases.iter().enumerate() {
        let l = chain.levels();
        let tau: Vec<f64> = (0..=l).map(|k| 0.7 + 0.3 * k as f64).collect();
        let t = Temperatures::new(&tau).unwrap();
        let p = chain.tabulate().unwrap().1.solve(&t).unwrap().marginal(0);
        let sampler = chain.flow(&t).unwrap().sampler().unwrap();
        let mut rng = StdRng::seed_from_u64(20 + i as u64);
        let n = 200_000usize;
        let mut counts = vec![0usize; p.len()];
        let mut x = vec![0u32; sampler.sites()];
        for _ in 0..n {
            sampler.sample_into(&mut rng, &mut x);
            let idx = x
                .iter()
                .fold(0usize, |acc, &s| acc * chain.q() + s as usize);
            counts[idx] += 1;
        }
        for (state, (&c, &pi)) in counts.iter().zip(&p).enumerate() {
            let mean = n as f64 * pi;
            let sd = (mean * (1.0 - pi)).sqrt();
            if pi == 0.0 {
                assert_eq!(c, 0, "chain {i}: forbidden state {state} sampled");
            } else {
                assert!(
                    (c as f64 - mean).abs() <= 6.1 * sd + 1.0,
                    "chain {i}: state {state}: {c} draws, expected {mean:.1} +- {sd:.1}"
                );
            }
        }
    }
}

/// `hmaxent flow` (chain) against the high-precision references (tests/data): F, entropies and E f to 1e-12
/// relative (scale max(|x|, 1)), and the sampled renormalised losses g_k(y) =
/// C_k + sum_j bonds[k][j](y_j, y_{j+1}) rebuilt from the output.
#[test]
fn cli_matches_the_reference_values() {
    let data = load("flow-chain.json");
    for case in data["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let out = cli::flow::run(&case["input"], false).unwrap_or_else(|e| panic!("{name}: {e}"));
        let e = &case["expected"];
        let check = |what: &str, got: f64, want: f64| {
            assert!(
                close(got, want, 1e-12),
                "{name}: {what} = {got}, want {want}"
            );
        };
        check(
            "free_energy",
            num(&out["free_energy"]),
            num(&e["free_energy"]),
        );
        check(
            "expected_loss",
            num(&out["expected_loss"]),
            num(&e["expected_loss"]),
        );
        let hs = out["entropies"].as_array().unwrap();
        assert_eq!(hs.len(), e["entropies"].as_array().unwrap().len());
        for (k, (g, w)) in hs
            .iter()
            .zip(e["entropies"].as_array().unwrap())
            .enumerate()
        {
            check(&format!("entropies[{k}]"), num(g), num(w));
        }
        let levels = case["input"]["levels"].as_u64().unwrap() as usize;
        let bonds = out["bonds"].as_array().unwrap();
        assert_eq!(bonds.len(), levels + 1, "{name}");
        let ring = case["input"]["boundary"] == "ring";
        for (k, level) in bonds.iter().enumerate() {
            let expected_count = if case["input"].get("bond").is_some() {
                1
            } else {
                1 << (levels - k)
            };
            assert_eq!(
                level.as_array().unwrap().len(),
                expected_count,
                "{name}: bonds[{k}]"
            );
        }
        for sample in e["g_samples"].as_array().unwrap() {
            let k = sample["level"].as_u64().unwrap() as usize;
            let c = num(&out["constants"][k]);
            let level = bonds[k].as_array().unwrap();
            for (y, want) in sample["states"]
                .as_array()
                .unwrap()
                .iter()
                .zip(sample["g"].as_array().unwrap())
            {
                let y: Vec<usize> = y
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                let n = y.len();
                let nb = if ring { n } else { n - 1 };
                let g = c
                    + (0..nb)
                        .map(|j| {
                            let b = &level[if level.len() == 1 { 0 } else { j }];
                            num(&b[y[j]][y[(j + 1) % n]])
                        })
                        .sum::<f64>();
                let want = num(want);
                assert!(
                    g == want || close(g, want, 1e-12),
                    "{name}: g_{k}({y:?}) = {g}, want {want}"
                );
            }
        }
    }
}

fn kind(input: Value) -> String {
    match cli::flow::run(&input, false) {
        Ok(v) => format!("ok: {v}"),
        Err(e) => hmaxent::cli::kind_word(e.kind()).to_string(),
    }
}

/// The CLI error contract (docs/cli.md): bad input is invalid_input, all-forbidden is infeasible,
/// results beyond f64 are numerical; nothing is allocated per site.
#[test]
fn cli_errors_follow_the_contract() {
    let base = json!({"family": "chain", "levels": 2, "boundary": "open",
                      "bond": [[0.0, 1.0], [1.0, 0.0]], "temperatures": [1.0, 0.5, 0.5]});
    assert!(kind(base.clone()).starts_with("ok"));
    let with = |k: &str, v: Value| {
        let mut m = base.clone();
        m[k] = v;
        m
    };
    let without = |k: &str| {
        let mut m = base.clone();
        m.as_object_mut().unwrap().remove(k);
        m
    };
    let cases = [
        (
            with("bonds", json!(vec![json!([[0.0, 1.0], [1.0, 0.0]]); 4])),
            "invalid_input",
        ), // both
        (without("bond"), "invalid_input"), // neither
        (with("bond", json!([[0.0, 1.0], [1.0]])), "invalid_input"), // ragged
        (
            with("bond", json!([[0.0, "NaN"], [1.0, 0.0]])),
            "invalid_input",
        ), // NaN as text
        (with("bond", json!([])), "invalid_input"),
        (with("temperatures", json!([1.0, 0.5])), "invalid_input"),
        (
            with("temperatures", json!([1.0, -0.5, 0.5])),
            "invalid_input",
        ),
        (
            with("temperatures", json!([0.0, 0.5, 0.5])),
            "invalid_input",
        ),
        (with("boundary", json!("closed")), "invalid_input"),
        (with("levels", json!(-1)), "invalid_input"),
        (with("levels", json!(1.5)), "invalid_input"),
        (with("levels", json!(100000)), "invalid_input"),
        (with("extra", json!(1)), "invalid_input"),
        (
            with("bond", json!([[null, null], [null, null]])),
            "infeasible",
        ),
        (
            with("bond", json!([[null, 0.0], [null, null]])),
            "infeasible",
        ), // 0->1 then nothing
    ];
    for (input, want) in cases {
        assert_eq!(kind(input.clone()), want, "{input}");
    }
    let mut inhom = without("bond");
    inhom["bonds"] = json!(vec![json!([[0.0, 1.0], [1.0, 0.0]]); 3]);
    assert_eq!(kind(inhom.clone()), "invalid_input"); // 3 bonds, 4 needed
    inhom["bonds"] = json!([
        [[0.0, 1.0], [1.0, 0.0]],
        [[0.0, 1.0], [1.0, 0.0]],
        [[0.0]],
        [[0.0, 1.0], [1.0, 0.0]]
    ]);
    assert_eq!(kind(inhom.clone()), "invalid_input"); // q mismatch
    inhom["levels"] = json!(60);
    assert_eq!(kind(inhom), "invalid_input"); // 2^60 bonds listed? no
                                              // 2^1100 + 1 sites: the entropy does not fit in f64.
    let mut huge = base.clone();
    huge["levels"] = json!(1100);
    huge["temperatures"] = json!(vec![0.5; 1101]);
    assert_eq!(kind(huge.clone()), "numerical");
    huge["bond"] = json!([[0.3, 1.0], [1.0, 0.0]]);
    assert_eq!(kind(huge), "numerical");
    // Library: a wrong temperature count is a length error, not a panic.
    let chain = Chain::homogeneous(2, 3, Boundary::Ring, &[0.0; 4]).unwrap();
    assert!(matches!(
        chain.solve(&Temperatures::new(&[1.0]).unwrap()),
        Err(Error::LengthMismatch { .. })
    ));
}

/// levels = 0: an open chain is one bond, a ring is one site bonded to itself.
#[test]
fn zero_levels_are_one_bond_or_one_site() {
    let t = Temperatures::new(&[0.5]).unwrap();
    let bond = [0.2, -0.1, 0.4, 1.0];
    let z = |xs: &[f64]| -0.5 * xs.iter().map(|x| (-x / 0.5).exp()).sum::<f64>().ln();
    let open = Chain::homogeneous(2, 0, Boundary::Open, &bond)
        .unwrap()
        .solve(&t)
        .unwrap();
    assert!(close(open.summary.free_energy, z(&bond), 1e-14));
    let ring = Chain::homogeneous(2, 0, Boundary::Ring, &bond)
        .unwrap()
        .solve(&t)
        .unwrap();
    assert!(close(ring.summary.free_energy, z(&[0.2, 1.0]), 1e-14));
}

/// levels = 0 through the inhomogeneous path (top-down pass with the top only) equals the
/// homogeneous path (forward-mode derivatives), for q = 2, 3 and 5, open and ring.
#[test]
fn zero_level_inhomogeneous_chains_equal_homogeneous_ones() {
    let t = Temperatures::new(&[0.7]).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    for q in [2, 3, 5] {
        let bond: Vec<f64> = (0..q * q)
            .map(|i| {
                if i == 1 {
                    INF
                } else {
                    rng.random_range(-1.0..1.0)
                }
            })
            .collect();
        for boundary in [Boundary::Open, Boundary::Ring] {
            let a = Chain::homogeneous(q, 0, boundary, &bond)
                .unwrap()
                .solve(&t)
                .unwrap()
                .summary;
            let b = Chain::inhomogeneous(q, 0, boundary, bond.clone())
                .unwrap()
                .solve(&t)
                .unwrap()
                .summary;
            assert!(close(a.free_energy, b.free_energy, 1e-14));
            assert!(
                close(a.expected_loss, b.expected_loss, 1e-13),
                "q={q} {boundary:?}: E f {} vs {}",
                a.expected_loss,
                b.expected_loss
            );
            assert!(
                close(a.entropies[0], b.entropies[0], 1e-13),
                "q={q} {boundary:?}: H {} vs {}",
                a.entropies[0],
                b.entropies[0]
            );
        }
    }
}

/// Alphabets above 3 take the factored kernel (row and column minima, with the per-entry
/// fallback when the factored sum underflows at low temperature): same results as the
/// tabulated engine.
#[test]
fn larger_alphabets_agree_with_the_tabulated_engine() {
    let mut rng = StdRng::seed_from_u64(11);
    for (q, l, boundary, tau0) in [
        (4, 2, Boundary::Open, 0.9),
        (5, 2, Boundary::Ring, 0.6),
        (4, 1, Boundary::Open, 1e-3),
        (6, 1, Boundary::Ring, 0.05),
    ] {
        let bonds: Vec<f64> = (0..(q * q) << l)
            .map(|_| match rng.random_range(0..6) {
                0 => INF,
                1 => rng.random_range(0.0..3.0),
                _ => rng.random_range(-1.0..1.0),
            })
            .collect();
        let chain = Chain::inhomogeneous(q, l, boundary, bonds).unwrap();
        let tau: Vec<f64> = (0..=l).map(|k| if k == 0 { tau0 } else { 0.3 }).collect();
        let t = Temperatures::new(&tau).unwrap();
        let tab = chain.tabulate().unwrap().1.solve(&t).unwrap();
        let s = chain.solve(&t).unwrap().summary;
        // Low tau_0 loses eps * max|u| / tau_0 in any f64 method (docs/concepts.md, "11. Numerical policy").
        let tol = 1e-12 * (1.0 + 3.0 * (l as f64 + 1.0) / tau0);
        assert!(
            close(s.free_energy, tab.free_energy(), tol),
            "q={q}: F {} vs {}",
            s.free_energy,
            tab.free_energy()
        );
        assert!(
            close(s.expected_loss, tab.expected_total_loss(), tol),
            "q={q}: E f"
        );
        for (k, (&h, &ht)) in s.entropies.iter().zip(tab.entropies()).enumerate() {
            assert!(close(h, ht, tol), "q={q}: H(Y_{k}) {h} vs {ht}");
        }
    }
}

/// The command line's chain output at the edges of the constrained problem (docs/cli.md,
/// "Constrained flows"): `--summary` keeps `bonds`; a chain given by one `bond` gets one
/// matrix per level also at a boundary; with a zero multiplier the bonds are those of the
/// problem actually solved (loss 0 on the allowed pairs at temperatures `w`).
#[test]
fn cli_chain_bonds_describe_the_returned_optimum() {
    let run = |v: Value, summary: bool| cli::flow::run(&v, summary).unwrap();
    let base = |extra: Value| {
        let mut v = json!({"family": "chain", "levels": 2, "boundary": "open",
                           "bond": [[0.0, 1.0], [1.0, 0.0]]});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    // --summary keeps the bonds.
    let out = run(base(json!({"temperatures": [1.0, 1.0, 1.0]})), true);
    assert_eq!(out["bonds"].as_array().unwrap().len(), 3);
    // At the boundary c = min f = 0 the minimisers are the two constant configurations:
    // one matrix per level, 0 on the diagonal and forbidden off it.
    let out = run(
        base(json!({"weights": [1.0, 1.0, 1.0], "mean": 0.0})),
        false,
    );
    assert_eq!(out["boundary"], true);
    for level in out["bonds"].as_array().unwrap() {
        assert_eq!(level.as_array().unwrap().len(), 1, "{level}");
        assert_eq!(level[0], json!([[0.0, null], [null, 0.0]]));
    }
    // c = 2 is the unconstrained mean (each of the 4 bonds costs 1 with probability 1/2):
    // multiplier 0, uniform P*, and zero bonds at temperatures w.
    let out = run(
        base(json!({"weights": [1.0, 1.0, 1.0], "mean": 2.0})),
        false,
    );
    assert_eq!(out["multiplier"], 0.0);
    assert_eq!(out["temperatures"], json!([1.0, 1.0, 1.0]));
    for level in out["bonds"].as_array().unwrap() {
        assert_eq!(level[0], json!([[0.0, 0.0], [0.0, 0.0]]), "{level}");
    }
    let h0 = out["entropies"][0].as_f64().unwrap();
    assert!((h0 - 5.0 * 2f64.ln()).abs() < 1e-12, "{h0}");
    // No signed zeros anywhere in the output.
    let out = run(
        base(json!({"weights": [1.0, 0.0, 0.0], "mean": 3.5})),
        false,
    );
    assert!(!out.to_string().contains("-0.0"), "{out}");
}

/// With the `serde` feature a chain solution serialises: the summary, and the flow's bonds,
/// constants and temperatures under their field names.
#[cfg(feature = "serde")]
#[test]
fn chain_solutions_serialise() {
    let chain = Chain::inhomogeneous(
        2,
        1,
        Boundary::Ring,
        vec![0.0, 1.0, 2.0, 0.5, 1.5, 0.0, INF, 0.25],
    )
    .unwrap();
    let sol = chain
        .solve(&Temperatures::new(&[1.0, 0.5]).unwrap())
        .unwrap();
    let v = serde_json::to_value(&sol).unwrap();
    assert_eq!(v["summary"]["free_energy"], sol.summary.free_energy);
    assert_eq!(v["summary"]["entropies"][1], sol.summary.entropies[1]);
    assert_eq!(v["flow"]["boundary"], "Ring");
    assert_eq!(v["flow"]["losses"][1]["bonds"][3], sol.flow.bonds(1)[3]);
    assert_eq!(
        v["flow"]["losses"][0]["constant"],
        sol.flow.loss(0).constant
    );
    assert_eq!(v["flow"]["cumulative"][1], 1.5);
}

/// Chains far beyond `2^1024` sites whose answers fit in `f64` are answered, not refused:
/// a bond minimum of `0` repeated `2^2000` times adds `0` (not `0 * inf = NaN`); a loss that
/// really grows with the sites is an overflow naming what overflowed.
#[test]
fn chains_of_thousands_of_levels_answer_what_fits() {
    let t = |levels: usize| {
        let mut tau = vec![0.0; levels + 1];
        tau[0] = 1.0;
        Temperatures::new(&tau).unwrap()
    };
    for levels in [1024, 2000, 5000] {
        // One state per site: F = 0, every entropy 0.
        let one = Chain::homogeneous(1, levels, Boundary::Open, &[0.0]).unwrap();
        let s = one.solve(&t(levels)).unwrap();
        assert_eq!(s.summary.free_energy, 0.0);
        assert!(s.summary.entropies.iter().all(|&h| h == 0.0));
        // A ring of equal states: two configurations, F = -log 2, every H(Y_k) = log 2.
        let ring = Chain::homogeneous(
            2,
            levels,
            Boundary::Ring,
            &[0.0, f64::INFINITY, f64::INFINITY, 0.0],
        )
        .unwrap();
        let s = ring.solve(&t(levels)).unwrap();
        assert!(
            (s.summary.free_energy + 2f64.ln()).abs() < 1e-15,
            "{}",
            s.summary.free_energy
        );
        for h in &s.summary.entropies {
            assert!((h - 2f64.ln()).abs() < 1e-15, "{h}");
        }
        assert_eq!(s.summary.expected_loss, 0.0);
    }
    let grows = Chain::homogeneous(2, 2000, Boundary::Open, &[0.0, 1.0, 1.0, 0.0]).unwrap();
    let e = grows.solve(&t(2000)).unwrap_err();
    assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
}

/// The work of a solve counted by hand: homogeneous `L = 16` runs the derivative groups from
/// levels 0, 8 and 16 (17 + 9 + 1 level steps), each `q^3`; inhomogeneous `2^(L+1) q^3`.
#[test]
fn the_solve_work_counts_the_derivative_groups() {
    use hmaxent::families::chain::{Boundary, Chain, MAX_FLOW_WORK};
    let c = Chain::homogeneous(3, 16, Boundary::Open, &[0.0; 9]).unwrap();
    assert_eq!(c.solve_work(), 27 * 27);
    let c = Chain::homogeneous(2, 7, Boundary::Ring, &[0.0; 4]).unwrap();
    assert_eq!(c.solve_work(), 8 * 8);
    let c = Chain::inhomogeneous(2, 3, Boundary::Open, vec![0.0; 8 * 4]).unwrap();
    assert_eq!(c.solve_work(), 16 * 8);
    // q = 256: 4 level steps fit in 2^26, 5 do not.
    let bond = vec![0.0; 256 * 256];
    assert!(Chain::homogeneous(256, 3, Boundary::Open, &bond).is_ok());
    let e = Chain::homogeneous(256, 4, Boundary::Open, &bond).unwrap_err();
    assert_eq!(e.kind(), hmaxent::ErrorKind::InvalidInput);
    assert!(e.to_string().contains(&MAX_FLOW_WORK.to_string()), "{e}");
}
