//! An independent oracle: the moment-constrained hierarchical maximum-entropy problem as an
//! exponential-cone program solved by `clarabel` (no sweep, no dual of ours).
//!
//! Variables: `p_x` for the allowed level-0 states and one epigraph variable `t_{k,y}` per
//! level state with `w_k > 0`. Without a reference, `(t, P_k(y), 1) in K_exp` means
//! `t <= -P log P`, and we minimise `-sum_k w_k sum_y t_{k,y}`; with a reference,
//! `(-r, P_k(y), Q_k(y)) in K_exp` means `r >= P log(P / Q)` and we minimise
//! `sum_k w_k sum_y r_{k,y}`. `P_k(y)` is the sum of `p_x` over the level-0 descendants.
#![allow(dead_code)]

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};
use hmaxent::constraints::Sense;

/// The oracle's answer.
pub struct Oracle {
    /// `sum w_k H(Y_k)` (or `-sum w_k D`).
    pub objective: f64,
    /// `P_0` in user order (0 on forbidden states).
    pub p: Vec<f64>,
    /// Multipliers in the CLI sign convention.
    pub theta: Vec<f64>,
    /// Solver status.
    pub status: SolverStatus,
    /// Solve time in seconds.
    pub seconds: f64,
}

/// Level-`k` ancestor of every level-0 state.
pub fn ancestors(sizes: &[usize], parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut anc = vec![(0..sizes[0]).collect::<Vec<_>>()];
    for p in parents {
        let prev = anc.last().unwrap();
        anc.push(prev.iter().map(|&x| p[x]).collect());
    }
    anc
}

/// Solves the problem; `reference` is `Q_0` in user order (normalised here).
#[allow(clippy::too_many_arguments)]
pub fn solve(
    sizes: &[usize],
    parents: &[Vec<usize>],
    allowed: &[bool],
    reference: Option<&[f64]>,
    weights: &[f64],
    rows: &[Vec<f64>],
    targets: &[f64],
    senses: &[Sense],
    tol: f64,
) -> Oracle {
    let anc = ancestors(sizes, parents);
    let states: Vec<usize> = (0..sizes[0]).filter(|&x| allowed[x]).collect();
    let n = states.len();
    let qtot: f64 = reference.map_or(1.0, |q| q.iter().sum());
    // Reference mass of every level state.
    let qk: Vec<Vec<f64>> = (0..sizes.len())
        .map(|k| {
            let mut v = vec![0.0; sizes[k]];
            if let Some(q) = reference {
                for x in 0..sizes[0] {
                    v[anc[k][x]] += q[x] / qtot;
                }
            }
            v
        })
        .collect();
    // Epigraph variables.
    let mut epi = vec![]; // (level, state, column)
    let mut col = n;
    for k in 0..sizes.len() {
        if weights[k] == 0.0 {
            continue;
        }
        for y in 0..sizes[k] {
            if states.iter().any(|&x| anc[k][x] == y) {
                epi.push((k, y, col));
                col += 1;
            }
        }
    }
    let nv = col;
    let (mut ri, mut ci, mut vi, mut b) = (vec![], vec![], vec![], vec![]);
    let mut row = 0;
    // Zero cone: sum p = 1, equalities.
    for j in 0..n {
        ri.push(row);
        ci.push(j);
        vi.push(1.0);
    }
    b.push(1.0);
    row += 1;
    let mut dual_row = vec![0; rows.len()];
    for (i, phi) in rows.iter().enumerate() {
        if senses[i] == Sense::Eq {
            for (j, &x) in states.iter().enumerate() {
                ri.push(row);
                ci.push(j);
                vi.push(phi[x]);
            }
            b.push(targets[i]);
            dual_row[i] = row;
            row += 1;
        }
    }
    let zero = row;
    for (i, phi) in rows.iter().enumerate() {
        let s = match senses[i] {
            Sense::Eq => continue,
            Sense::Le => 1.0,
            Sense::Ge => -1.0,
        };
        for (j, &x) in states.iter().enumerate() {
            ri.push(row);
            ci.push(j);
            vi.push(s * phi[x]);
        }
        b.push(s * targets[i]);
        dual_row[i] = row;
        row += 1;
    }
    // p >= 0 explicitly (levels with w = 0 carry no cone).
    for j in 0..n {
        ri.push(row);
        ci.push(j);
        vi.push(-1.0);
        b.push(0.0);
        row += 1;
    }
    let nonneg = row - zero;
    let mut q = vec![0.0; nv];
    for &(k, y, c) in &epi {
        // s1 = t (or -r), s2 = P, s3 = 1 (or Q).
        ri.push(row);
        ci.push(c);
        if reference.is_some() {
            vi.push(1.0); // s1 = -r
            q[c] = weights[k];
        } else {
            vi.push(-1.0); // s1 = t
            q[c] = -weights[k];
        }
        b.push(0.0);
        for (j, &x) in states.iter().enumerate() {
            if anc[k][x] == y {
                ri.push(row + 1);
                ci.push(j);
                vi.push(-1.0);
            }
        }
        b.push(0.0);
        b.push(if reference.is_some() { qk[k][y] } else { 1.0 });
        row += 3;
    }
    let a = CscMatrix::new_from_triplets(row, nv, ri, ci, vi);
    let pm = CscMatrix::<f64>::zeros((nv, nv));
    let mut cones = vec![
        SupportedConeT::ZeroConeT(zero),
        SupportedConeT::NonnegativeConeT(nonneg),
    ];
    cones.extend(epi.iter().map(|_| SupportedConeT::ExponentialConeT()));
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(tol)
        .tol_gap_rel(tol)
        .tol_feas(tol)
        .tol_ktratio(1e-10)
        .static_regularization_constant(1e-13)
        .iterative_refinement_reltol(1e-16)
        .iterative_refinement_abstol(1e-16)
        .iterative_refinement_max_iter(50)
        .max_iter(500)
        .build()
        .unwrap();
    let mut solver = DefaultSolver::new(&pm, &q, &a, &b, &cones, settings);
    solver.solve();
    let sol = &solver.solution;
    let mut p = vec![0.0; sizes[0]];
    for (j, &x) in states.iter().enumerate() {
        p[x] = sol.x[j];
    }
    let theta = (0..rows.len())
        .map(|i| {
            let z = sol.z[dual_row[i]];
            if senses[i] == Sense::Ge {
                -z
            } else {
                z
            }
        })
        .collect();
    Oracle {
        objective: -sol.obj_val,
        p,
        theta,
        status: sol.status,
        seconds: sol.solve_time,
    }
}
