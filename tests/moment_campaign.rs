//! A seeded campaign of hard moment problems, each answer judged independently.
//!
//! Problems: 2–64 states, 1–3 levels, 1–4 features (duplicates, collinear rows, `1e6`
//! offsets, spreads from `1e-3` to `1e3`), tiny reference masses (down to `1e-300`),
//! forbidden states, inequality senses; targets in the interior, on faces, outside, and
//! `1e-9` inside or outside a face.
//!
//! Judge (no code of the solver): an answer must meet every target in its sense to
//! `1e-9 (1 + spread_i)`, recomputed densely from the returned `P*_0` and the features as
//! given (with compensated sums: the judge's own rounding must not count), with `|duality_gap| <= 1e-9 (1 + |objective|)`; a refusal must carry a direction with
//! the multipliers' signs that separates, `theta·c < min_x theta·phi(x)` by more than the
//! rounding of the two sums, recomputed here. Every problem has one or the other, so
//! `numerical` (or a non-converged status) is always a failure.

use hmaxent::constraints::{ConvexSettings, MomentProblem, Sense, Status};
use hmaxent::{Error, Hierarchy, Problem};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interior,
    Face,
    Outside,
    NearInside,
    NearOutside,
}

const KINDS: [Kind; 5] = [
    Kind::Interior,
    Kind::Face,
    Kind::Outside,
    Kind::NearInside,
    Kind::NearOutside,
];

#[derive(Debug, Clone)]
struct Case {
    sizes: Vec<usize>,
    parents: Vec<Vec<usize>>,
    loss: Vec<f64>,
    reference: Option<Vec<f64>>,
    weights: Vec<f64>,
    features: Vec<Vec<f64>>,
    targets: Vec<f64>,
    senses: Vec<Sense>,
    kind: Kind,
}

fn allowed(c: &Case) -> Vec<bool> {
    (0..c.sizes[0])
        .map(|x| c.loss[x].is_finite() && c.reference.as_ref().is_none_or(|q| q[x] > 0.0))
        .collect()
}

/// A random distribution on `support`, masses in `[0.05, 1]` before normalising.
fn random_p(rng: &mut StdRng, support: &[bool]) -> Vec<f64> {
    let mut p: Vec<f64> = support
        .iter()
        .map(|&s| if s { rng.random_range(0.05..1.0) } else { 0.0 })
        .collect();
    let t: f64 = p.iter().sum();
    p.iter_mut().for_each(|v| *v /= t);
    p
}

fn mean(p: &[f64], phi: &[f64]) -> f64 {
    p.iter().zip(phi).map(|(p, v)| p * v).sum()
}

/// `sum_x p(x) phi(x)` to about one rounding of the result: each product split exactly
/// (`fma`) and the parts added with Neumaier's compensation. Added naively, with `phi`
/// offset by `2e6` and 64 states, the sum rounds by up to `64 eps 2e6 ≈ 3e-9`, more than
/// the `1e-9 (1 + spread)` being judged.
fn exact_mean(p: &[f64], phi: &[f64]) -> f64 {
    let (mut sum, mut carry) = (0.0f64, 0.0f64);
    for (a, b) in p.iter().zip(phi) {
        let product = a * b;
        for v in [product, a.mul_add(*b, -product)] {
            let t = sum + v;
            carry += if sum.abs() >= v.abs() {
                (sum - t) + v
            } else {
                (v - t) + sum
            };
            sum = t;
        }
    }
    sum + carry
}

fn spread(phi: &[f64], allowed: &[bool]) -> f64 {
    let vals = phi.iter().zip(allowed).filter(|(_, &a)| a).map(|(v, _)| *v);
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    hi - lo
}

fn random_case(seed: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    let n0 = rng.random_range(2..=64usize);
    let levels = rng.random_range(1..=3usize);
    let mut sizes = vec![n0];
    let mut parents = vec![];
    for _ in 1..levels {
        let n = *sizes.last().unwrap();
        let nc = rng.random_range(1..=n.clamp(1, 8));
        parents.push((0..n).map(|_| rng.random_range(0..nc)).collect::<Vec<_>>());
        sizes.push(nc);
    }
    let mut loss = vec![0.0; n0];
    if rng.random::<f64>() < 0.3 {
        for l in loss.iter_mut() {
            if rng.random::<f64>() < 0.15 {
                *l = f64::INFINITY;
            }
        }
    }
    // At least two allowed states.
    loss[0] = 0.0;
    loss[n0 - 1] = 0.0;
    let reference = (rng.random::<f64>() < 0.5).then(|| {
        (0..n0)
            .map(|_| {
                if rng.random::<f64>() < 0.3 {
                    10f64.powf(-rng.random_range(5.0..300.0))
                } else {
                    rng.random_range(0.1..1.0)
                }
            })
            .collect::<Vec<f64>>()
    });
    let weights: Vec<f64> = (0..levels)
        .map(|k| {
            if k == 0 {
                rng.random_range(0.3..2.0)
            } else if rng.random::<f64>() < 0.3 {
                0.0
            } else {
                rng.random_range(0.1..2.0)
            }
        })
        .collect();
    let m = rng.random_range(1..=4usize);
    let mut features: Vec<Vec<f64>> = Vec::with_capacity(m);
    for _ in 0..m {
        let kind = if features.is_empty() {
            rng.random_range(0..3)
        } else {
            rng.random_range(0..6)
        };
        let row: Vec<f64> = match kind {
            0 => (0..n0).map(|_| rng.random_range(-3..=3) as f64).collect(),
            1 => {
                let s = 10f64.powf(rng.random_range(-3.0..3.0));
                (0..n0).map(|_| s * rng.random_range(-1.0..1.0)).collect()
            }
            2 => (0..n0)
                .map(|_| f64::from(u8::from(rng.random::<f64>() < 0.4)))
                .collect(),
            3 => features[rng.random_range(0..features.len())].clone(),
            4 => {
                let (a, b) = (rng.random_range(-2.0..2.0), rng.random_range(-2.0..2.0));
                features[rng.random_range(0..features.len())]
                    .iter()
                    .map(|v| a * v + b)
                    .collect()
            }
            _ => features[rng.random_range(0..features.len())]
                .iter()
                .map(|v| v + 1e6)
                .collect(),
        };
        features.push(row);
    }
    // The offset kind also appears on a fresh row.
    if rng.random::<f64>() < 0.2 {
        let i = rng.random_range(0..m);
        features[i].iter_mut().for_each(|v| *v += 1e6);
    }
    let senses: Vec<Sense> = (0..m)
        .map(|_| match rng.random_range(0..10) {
            0 | 1 => Sense::Le,
            2 | 3 => Sense::Ge,
            _ => Sense::Eq,
        })
        .collect();
    let mut case = Case {
        sizes,
        parents,
        loss,
        reference,
        weights,
        features,
        targets: vec![],
        senses,
        kind: KINDS[rng.random_range(0..KINDS.len())],
    };
    let ok = allowed(&case);
    let spreads: Vec<f64> = case.features.iter().map(|f| spread(f, &ok)).collect();
    let interior = random_p(&mut rng, &ok);
    // A random direction and the face of the hull it exposes.
    let d: Vec<f64> = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
    let along: Vec<f64> = (0..n0)
        .map(|x| (0..m).map(|i| d[i] * case.features[i][x]).sum())
        .collect();
    let lo = (0..n0)
        .filter(|&x| ok[x])
        .map(|x| along[x])
        .fold(f64::INFINITY, f64::min);
    let size: f64 = (0..m).map(|i| d[i].abs() * (1.0 + spreads[i])).sum();
    let face: Vec<bool> = (0..n0)
        .map(|x| ok[x] && along[x] <= lo + 1e-12 * size)
        .collect();
    let on_face = random_p(&mut rng, &face);
    let interior_c: Vec<f64> = case.features.iter().map(|f| mean(&interior, f)).collect();
    let face_c: Vec<f64> = case.features.iter().map(|f| mean(&on_face, f)).collect();
    // A step out of the hull across the face: -d, per row in units of 1 + spread.
    let out = |t: f64| -> Vec<f64> {
        face_c
            .iter()
            .enumerate()
            .map(|(i, c)| c - t * d[i].signum() * (1.0 + spreads[i]))
            .collect()
    };
    case.targets = match case.kind {
        Kind::Interior => {
            let mut c = interior_c;
            // Some inequality rows are slack.
            for (i, c) in c.iter_mut().enumerate() {
                if rng.random::<f64>() < 0.5 {
                    let shift = rng.random_range(0.0..0.5) * spreads[i];
                    match case.senses[i] {
                        Sense::Le => *c += shift,
                        Sense::Ge => *c -= shift,
                        Sense::Eq => {}
                    }
                }
            }
            c
        }
        Kind::Face => face_c,
        Kind::Outside => out(10f64.powf(rng.random_range(-6.0..-1.0))),
        Kind::NearInside => face_c
            .iter()
            .zip(&interior_c)
            .map(|(f, i)| f + 1e-9 * (i - f))
            .collect(),
        Kind::NearOutside => out(1e-9),
    };
    case
}

#[derive(Debug, Default)]
struct Tally {
    converged: usize,
    boundary: usize,
    infeasible: usize,
    missed: Vec<(u64, String)>,
    numerical: Vec<(u64, String)>,
    bad_certificate: Vec<(u64, String)>,
    other: Vec<(u64, String)>,
    max_sweeps: usize,
}

fn judge(seed: u64, tally: &mut Tally) {
    let case = random_case(seed);
    let h = Hierarchy::new(case.sizes.clone(), case.parents.clone()).unwrap();
    let mut problem = Problem::new(&h, &case.loss).unwrap();
    if let Some(q) = &case.reference {
        problem = problem.with_reference(q).unwrap();
    }
    let ok = allowed(&case);
    let result = MomentProblem::new(&problem, &case.features, &case.targets, &case.weights)
        .and_then(|mp| mp.with_senses(&case.senses))
        .and_then(|mp| mp.solve(&ConvexSettings::default()));
    let m = case.features.len();
    match result {
        Ok(fit) if matches!(fit.status, Status::Converged | Status::Boundary) => {
            tally.max_sweeps = tally.max_sweeps.max(fit.sweeps);
            let p = fit.solution.marginal(0);
            for i in 0..m {
                let e = exact_mean(&p, &case.features[i]);
                let c = case.targets[i];
                let tol = 1e-9 * (1.0 + spread(&case.features[i], &ok));
                let met = match case.senses[i] {
                    Sense::Eq => (e - c).abs() <= tol,
                    Sense::Le => e <= c + tol,
                    Sense::Ge => e >= c - tol,
                };
                if !met {
                    tally.missed.push((
                        seed,
                        format!("{:?} row {i}: E phi = {e}, c = {c}, tol {tol}", case.kind),
                    ));
                    return;
                }
            }
            if fit.duality_gap.abs() > 1e-9 * (1.0 + fit.objective.abs()) {
                tally
                    .missed
                    .push((seed, format!("{:?}: gap {}", case.kind, fit.duality_gap)));
                return;
            }
            if fit.status == Status::Converged {
                tally.converged += 1;
            } else {
                tally.boundary += 1;
                if case.kind == Kind::Interior && std::env::var("SHOW").is_ok() {
                    eprintln!("interior seed {seed} solved as boundary");
                }
            }
        }
        Ok(fit) => tally.numerical.push((
            seed,
            format!(
                "{:?}: status {:?}, gradient norm {}",
                case.kind, fit.status, fit.gradient_norm
            ),
        )),
        Err(Error::InfeasibleMoments { direction, .. }) => {
            let signs = direction.iter().zip(&case.senses).all(|(t, s)| match s {
                Sense::Eq => true,
                Sense::Le => *t >= 0.0,
                Sense::Ge => *t <= 0.0,
            });
            // theta·(phi(x) - c) state by state, the differences first (an offset common
            // to phi_i and c_i cancels exactly); its rounding is within
            // 2 (m + 2) eps sum_i |theta_i (phi_i(x) - c_i)|.
            let separated = (0..case.sizes[0]).filter(|&x| ok[x]).all(|x| {
                let terms: Vec<f64> = (0..m)
                    .map(|i| direction[i] * (case.features[i][x] - case.targets[i]))
                    .collect();
                let exposed: f64 = terms.iter().sum();
                let size: f64 = terms.iter().map(|t| t.abs()).sum();
                exposed > 2.0 * (m as f64 + 2.0) * f64::EPSILON * size
            });
            let tc: f64 = direction
                .iter()
                .zip(&case.targets)
                .map(|(t, c)| t * c)
                .sum();
            let hull = (0..case.sizes[0])
                .filter(|&x| ok[x])
                .map(|x| {
                    (0..m)
                        .map(|i| direction[i] * case.features[i][x])
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min);
            if signs && separated {
                tally.infeasible += 1;
            } else {
                tally.bad_certificate.push((
                    seed,
                    format!("{:?}: theta·c = {tc}, min theta·phi = {hull}", case.kind),
                ));
            }
        }
        Err(e @ Error::Numerical(_)) => tally
            .numerical
            .push((seed, format!("{:?}: {e}", case.kind))),
        Err(e) => tally.other.push((seed, format!("{:?}: {e}", case.kind))),
    }
}

fn campaign(first: u64, count: u64) -> Tally {
    let mut tally = Tally::default();
    for seed in first..first + count {
        judge(seed, &mut tally);
    }
    eprintln!(
        "moment campaign, seeds {first}..{}: {} converged, {} boundary, {} infeasible \
         (certified), {} missed a target, {} numerical, {} bad certificates, {} other; \
         max sweeps {}",
        first + count,
        tally.converged,
        tally.boundary,
        tally.infeasible,
        tally.missed.len(),
        tally.numerical.len(),
        tally.bad_certificate.len(),
        tally.other.len(),
        tally.max_sweeps,
    );
    for (seed, what) in tally
        .missed
        .iter()
        .chain(&tally.bad_certificate)
        .chain(&tally.other)
        .chain(&tally.numerical)
        .take(if std::env::var("SHOW_ALL").is_ok() {
            usize::MAX
        } else {
            20
        })
    {
        eprintln!("  seed {seed}: {what}");
    }
    tally
}

/// No answer misses a target, every certificate separates, no other error. `numerical`
/// remains in about 1 of 100,000 problems (1 in 100,000 from seeds `0`, `1e6`, `7e6`,
/// `13e6`, `17e6`, `23e6`, `29e6`, `31e6`, `37e6`, `41e6`, `43e6`, `47e6`, `53e6`, `59e6`,
/// `61e6`, `67e6`, `71e6`, `73e6`, `79e6`, `83e6`, 5,000 each: targets `1e-9` outside a face
/// with multipliers near `1e16`; 25 in the 60,000 of these from `1e6` before Newton stopped
/// following null-space slopes into bounds and before the smallest multipliers were tried,
/// 33 in 40,000 before Newton's residual stopped rounding small gradients away). Bounded
/// here at 0.5% and reported.
fn assert_clean(t: &Tally, total: usize) {
    assert!(
        t.missed.is_empty(),
        "answers missing a target: {:?}",
        t.missed
    );
    assert!(
        t.bad_certificate.is_empty(),
        "certificates: {:?}",
        t.bad_certificate
    );
    assert!(t.other.is_empty(), "other errors: {:?}", t.other);
    assert!(
        t.numerical.is_empty(),
        "numerical in {total} problems: {:?}",
        t.numerical
    );
}

/// Every one of `seeds` is a clean answer: converged, boundary or certified infeasible (no
/// `numerical`, no missed target, no bad certificate, no other error).
fn assert_every_seed_clean(seeds: &[u64]) {
    let mut t = Tally::default();
    for &seed in seeds {
        judge(seed, &mut t);
    }
    assert!(
        t.other.is_empty()
            && t.numerical.is_empty()
            && t.missed.is_empty()
            && t.bad_certificate.is_empty(),
        "{t:?}"
    );
    assert_eq!(t.converged + t.boundary + t.infeasible, seeds.len());
}

#[test]
fn every_answer_meets_its_targets_or_is_certified_infeasible() {
    assert_clean(&campaign(0, 2_000), 2_000);
}

/// The full campaign (`cargo test --test moment_campaign -- --ignored`).
#[test]
#[ignore = "about 10 s; the default run covers the first 2,000 seeds"]
fn campaign_of_five_thousand_problems() {
    // CAMPAIGN_FIRST=<seed> runs another range.
    let first = std::env::var("CAMPAIGN_FIRST").map_or(1_000_000, |v| v.parse().unwrap());
    assert_clean(&campaign(first, 5_000), 5_000);
}

#[test]
fn the_offset_example_meets_both_targets() {
    // One O(1) feature beside one offset by 1e6: each row converges to its own scale.
    let h = Hierarchy::flat(4).unwrap();
    let p = Problem::new(&h, &[0.0; 4]).unwrap();
    let phi = vec![
        vec![0.0, 1.0, 0.0, 0.0],
        vec![1000001.0, 1000001.0, 1000000.0, 1000000.0],
    ];
    let c = [0.1, 1000000.3];
    let fit = MomentProblem::new(&p, &phi, &c, &[1.0])
        .unwrap()
        .solve(&ConvexSettings::default())
        .unwrap();
    assert_eq!(fit.status, Status::Converged);
    let q = fit.solution.marginal(0);
    // P(1) = 0.1 and P(0) + P(1) = 0.3 fix P(0) = 0.2; maximum entropy splits the remaining
    // 0.7 evenly: (0.2, 0.1, 0.35, 0.35).
    let exact = [0.2, 0.1, 0.35, 0.35];
    for (a, b) in q.iter().zip(exact) {
        assert!((a - b).abs() < 1e-9, "{q:?}");
    }
    assert!((mean(&q, &phi[0]) - 0.1).abs() < 2e-9);
    assert!((mean(&q, &phi[1]) - c[1]).abs() < 2e-9);
    assert!(fit.duality_gap.abs() < 1e-9);
}

#[test]
fn a_tiny_reference_mass_still_gives_an_interior_answer() {
    // P(x_0) = 1/2 against Q(x_0) = 1e-15 (and 1e-300): multiplier -ln(Q_1/Q_0) is large,
    // but the capped Newton steps reach it.
    for q0 in [1e-15, 1e-300] {
        let h = Hierarchy::flat(2).unwrap();
        let p = Problem::new(&h, &[0.0; 2])
            .unwrap()
            .with_reference(&[q0, 1.0])
            .unwrap();
        let fit = MomentProblem::new(&p, &[vec![1.0, 0.0]], &[0.5], &[1.0])
            .unwrap()
            .solve(&ConvexSettings::default())
            .unwrap();
        assert_eq!(fit.status, Status::Converged, "Q_0 = {q0}");
        let q = fit.solution.marginal(0);
        assert!((q[0] - 0.5).abs() < 1e-12, "{q:?}");
        // theta = ln(Q_0 / Q_1) (P_0 / P_1 = Q_0 e^{-theta} / Q_1 = 1).
        let theta = fit.multipliers.unwrap()[0];
        assert!((theta - q0.ln()).abs() < 1e-9 * q0.ln().abs(), "{theta}");
    }
}

#[test]
fn targets_near_a_vertex_of_reference_mass_1e_262_are_not_all_forbidden() {
    // Targets 1e-9 inside (seed 1000651) and outside (1002912) a face whose states carry
    // reference masses near 1e-262: Newton's Hessian there has subnormal eigenvalues, whose
    // inverses once made the multipliers NaN and every state look forbidden.
    assert_every_seed_clean(&[1_000_651, 1_002_912]);
}

#[test]
fn problems_once_numerical_or_judged_missed_are_clean() {
    // 13001378: targets 1e-9 inside a vertex; the face's multipliers once chased that
    // distance off to infinity (gap -1e-6). 7001082, 17003947 (7004694): the LP kept a face
    // on which it then found no point (stalled). 13000736, 17002484, 7002769: rows offset by 2e6, whose E phi moved
    // by 2e6 (sum P - 1) ~ 2e-9 before the marginals were normalised.
    assert_every_seed_clean(&[
        13_001_378, 7_001_082, 17_003_947, 7_004_694, 13_000_736, 17_002_484, 7_002_769,
    ]);
}

#[test]
fn problems_whose_gradient_rounded_away_beside_large_multipliers_are_clean() {
    // Targets 1e-9 inside a face (7000164: multiplier 2.5e5; 7000316: three collinear rows,
    // -45281 each; 23003235: one row offset by 1e6, multiplier -55111), or just outside
    // (1003580, 23000122, 31001627): Newton's projected residual x - P(x - g) rounded a
    // gradient of 1e-12 to 0 beside such multipliers, so it stopped with a duality gap of
    // 1e-7 to 3e-6; now the residual is g itself there, and exact line searches take an
    // answer past the floor of Newton's steps.
    assert_every_seed_clean(&[
        7_000_164, 7_000_316, 23_003_235, 1_003_580, 23_000_122, 31_001_627,
    ]);
}

/// One seed's problem and the solver's answer, printed
/// (`CAMPAIGN_SEED=<seed> cargo test --test moment_campaign one_seed -- --ignored --nocapture`).
#[test]
fn problems_whose_dual_has_null_directions_along_bounds_are_clean() {
    // Dependent rows (one feature three times, offset by 0, 1e6 and 2e6, senses <=, =, >=:
    // 47004044) or a row that changes P(x) only below 1e-268 of reference mass (23001813):
    // Newton followed the dual's null-space slope into a bound, where projection bent it
    // into a curved direction, and zig-zagged for 80 iterations; now a slope is followed
    // only once it dominates the gradient, no further than the first bound, and not along
    // a variable that bound holds. A Newton step of 1e62 towards a bound 592 away
    // (47004525, 53002560: reference masses 4e-214) projected to the bound for every
    // halving, so the line search failed; now the step cap counts the whole step.
    assert_every_seed_clean(&[47_004_044, 23_001_813, 47_004_525, 53_002_560]);
}

#[test]
fn problems_whose_multipliers_drifted_along_dependent_rows_are_clean() {
    // Rows equal up to an offset of 1e6 whose targets agree only up to its rounding: the
    // multipliers ended anywhere along the rows' null space, in the thousands, with a
    // duality gap of 2e-9 to 2e-7; the smallest multipliers with the same P* (and Newton
    // resumed from them when one of them met its bound) pass. 7004666, 37001574 and
    // 43003140 are targets 1e-9 inside a one-state face, where that is theta = 0.
    assert_every_seed_clean(&[
        4_480, 53_002_685, 47_004_674, 13_003_272, 7_004_666, 37_001_574, 43_003_140,
    ]);
}

#[test]
fn problems_once_stuck_at_an_underflowed_hessian_or_a_rounding_compromise_are_clean() {
    // 29000257: a multiplier of -1360 left every state but one with mass 0, the Hessian was
    // not finite and the fallback gradient step was 4e-6 long; now it is the step cap long.
    // 37001722, 2159: rows equal up to an offset of 1e6, one `>=` and one `=` (or both
    // `<=`), whose targets disagree by the offset's rounding; Newton settled on a
    // least-squares compromise between them with a duality gap of 4e-8; now the balanced
    // multipliers hold the `>=` row's at zero and Newton meets the equality alone.
    // 17000035, 61000215: the LP stalled near a face and Newton alone did not pass.
    assert_every_seed_clean(&[29_000_257, 37_001_722, 2_159, 17_000_035, 61_000_215]);
}

/// Targets `1e-9` outside a face whose nearest point Wolfe's algorithm reached with a fourth
/// corral point at weight `3e-89` (101003454) or the like (43004970): the corral spans
/// every direction, and only the face of its heavier points gives the certificate.
#[test]
fn targets_just_outside_a_face_of_a_corral_with_a_negligible_point_are_certified() {
    let mut t = Tally::default();
    for seed in [43_004_970, 101_003_454] {
        judge(seed, &mut t);
    }
    assert_eq!(t.infeasible, 2, "{t:?}");
    assert_every_seed_clean(&[43_004_970, 101_003_454]);
}

/// Targets `1e-9` outside a face where a `>=` row is tight (seed 512000457: 60 states, a
/// binary `>=` row at `1 - 2e-9`, an integer `=` row and a row offset by `1e6` both `7e-9`
/// past the face): Wolfe's corral kept the `>=` row's ray and missed a state of the face,
/// so its direction had no component on that row and separated nothing; the certificate
/// (`theta` proportional to `(-3/2, 1/2, 0, -1)`, margin `3.3e-10 |theta_0|`) comes from the
/// corral's points with the exposed state and without the ray.
#[test]
fn targets_just_outside_a_face_whose_inequality_row_is_tight_are_certified() {
    let mut t = Tally::default();
    judge(512_000_457, &mut t);
    assert_eq!(t.infeasible, 1, "{t:?}");
    assert_every_seed_clean(&[512_000_457]);
}

/// Targets `1.3e-7` inside a vertex of reference mass `1e-263` (a row duplicated with an
/// offset of `1e6` as a slack `<=`): the answer needs mass `1e-8` on two other states, and
/// at the multipliers Newton reaches, the Hessian sees only one of them. The slope left in
/// its null space, 6.8 tolerances, runs along rows that vary over the states (a curvature
/// too small to see, not the rounding of dependent rows), and is followed.
#[test]
fn a_null_slope_along_rows_that_vary_is_followed_near_a_vertex_of_tiny_mass() {
    assert_every_seed_clean(&[197_003_710]);
}

/// Three rows that are one after scaling (a feature, the same offset by `1e6` and by `2e6`),
/// a `>=` on the first and `<=` on the other two, whose targets agree only up to the rounding
/// of the offsets (`4.6e-12` apart after scaling), near a vertex (multiplier `-441` after
/// scaling). Newton's pseudo-inverse step settles `E phi` between the three targets, `3e-12`
/// from the first, whose multiplier makes that a duality gap of `1.3e-9`, just above the
/// acceptance test. The balance's sweeps shrank the two `<=` multipliers geometrically, to
/// `1.8e-130`, never to 0; within rounding of the largest they are now set to 0, and Newton
/// resumes with them held there and meets the first row exactly.
#[test]
fn rows_that_disagree_by_their_offsets_rounding_leave_no_gap_near_a_vertex() {
    assert_every_seed_clean(&[257_003_150]);
}

/// Targets `1e-9` inside a vertex under reference masses down to `1e-262`, where Newton
/// reached a point whose residuals were within tolerance but whose duality gap `theta·r` was
/// not (`2e-8` to `5e-6`): the residual lay in the Hessian's null space (the states that
/// would move it carry mass `1e-100` or less), a slope below one tolerance that Newton left
/// alone. Seed 936003480: two `>=` rows held at multipliers `-126` and `-210` where both are
/// slack (multipliers `0` at the optimum); 748004486, 599002913 and 631002207: multipliers of
/// `2e4` to `3e6` on rows whose slope leads back towards `0`; 746001806 (a row and its copy
/// offset by `1e6`, targets `1e-9` from a vertex and inside the hull by an angle of `4 %`):
/// the slope leads outwards, along rows that vary over the states. Each slope is now
/// followed while the gap test fails because of it: converged, gaps below `2e-9` of `|D|`.
#[test]
fn a_null_slope_within_tolerance_that_leaves_a_duality_gap_is_followed() {
    assert_every_seed_clean(&[
        936_003_480,
        748_004_486,
        599_002_913,
        631_002_207,
        746_001_806,
    ]);
}

/// Seed 903001631: interior targets that need mass `0.8` on a state of reference mass
/// `8e-147`, multipliers `1172` and `293` at the optimum. Newton from `0` overshot to `7524`
/// and `1549`, where three states carry all the mass and the dual is a narrow curved valley
/// (Hessian eigenvalues `0.16` and `6e-7`), and moved a quarter of a unit per iteration until
/// its budget ran out. Continuation in the targets, from `E_0[phi]` to `c` in four stages,
/// reaches the optimum.
#[test]
fn interior_targets_in_a_curved_valley_are_reached_by_continuation() {
    let mut t = Tally::default();
    judge(903_001_631, &mut t);
    assert_eq!(t.converged, 1, "{t:?}");
    assert_every_seed_clean(&[903_001_631]);
}

/// Targets `1e-9 (1 + spread)` outside the hull. Seed 951000383 (outside a vertex, a row of
/// spread `760`, certificate margin `1.2e-9`): the feasibility LP called it a face of one
/// state, and the certificate LP on all states, whose optimum (`1e-9`) is inside the
/// interior-point solver's tolerance, returned a direction that did not separate; the LP
/// that asks the vertex to minimise `theta·phi` and maximises
/// `theta·(phi(x0) - c) / |phi(x0) - c|` has an optimum of order one and separates. Seed
/// 903003441: the feasibility LP stalled at both tolerances and no certificate LP was tried;
/// now it is, and separates (margin `9.4e-9`).
#[test]
fn targets_just_outside_a_vertex_are_certified_by_the_lp_at_that_vertex() {
    let mut t = Tally::default();
    judge(951_000_383, &mut t);
    judge(903_003_441, &mut t);
    assert_eq!(t.infeasible, 2, "{t:?}");
    assert_every_seed_clean(&[951_000_383, 903_003_441]);
}

/// Seed 1185000476: a row of spread `1` and copies offset by `1e6` and `3e6`, interior
/// targets. The answer was accepted on the solver's centred means, mapped back to the user's
/// units as if `sum P` were exactly 1; the returned `P*` summed to 1 only within `4e-16`, and
/// `3e6` times that moved the copy's `E phi` by `1.3e-9`: recomputed exactly from `P*` it
/// missed its target by `2.3e-9`, beyond the promised `2e-9`, with exit 0. `P*` now sums to
/// 1 within half a unit in the last place of its largest entry, and the acceptance test
/// judges `E phi` as an outside check computes it from the returned `P*`.
#[test]
fn an_answer_is_judged_on_the_distribution_it_returns() {
    assert_every_seed_clean(&[1_185_000_476]);
}

/// Seed 1338004597: three states of reference masses `0.71`, `1.8e-129` and `7.9e-284`,
/// interior targets, an `=` row whose multiplier must balance the first two states (`28.03`)
/// beside a slack `<=` row held at its bound. That row's curvature was subnormal (`1.2e-315`):
/// its scaled gradient step overflowed to `inf`, the whole direction was thrown away for a
/// gradient step `cap` long, and the line search halved it 25 times per iteration, bisecting
/// the multiplier until the budget ran out (80 iterations, 1,672 sweeps, `E phi` `8.4e-6` off:
/// `numerical`). The held row now takes its plain gradient step and the others keep their
/// Newton step: converged in 10 iterations and 23 sweeps.
#[test]
fn a_held_row_of_subnormal_curvature_leaves_the_others_their_newton_step() {
    let mut t = Tally::default();
    judge(1_338_004_597, &mut t);
    assert_eq!(t.converged, 1, "{t:?}");
    assert_every_seed_clean(&[1_338_004_597]);
}

/// Seed 410001779: a `<=` row, a `>=` row that is the first times `0.42` plus `-1.61` (its
/// values rounded at `2e-16` of a spread of `1.5e-3`), and an `=` row that is the second
/// offset by `1e6` (rounded at `1.2e-10`), beside an integer row. The `=` target asks for
/// `E phi` `3e-10` below the `>=` target: exactly infeasible, within both rows' tolerances
/// (`1e-9 (1 + spread)`). The LP failed at both tolerances, the dual was unbounded along the
/// difference of the two multipliers (Newton ran them to `3.9e12`), the integer row missed by
/// 4 tolerances, and no certificate separated beyond the offset row's rounding: `numerical`.
/// The three rows are now merged into one constrained where the conflict splits in
/// proportion to the tolerances, and its multiplier is shared between the `>=` and `=` rows
/// so that no duality gap is left.
///
/// Seed 223000669: an `=` row, a copy offset by `1e6` of a `<=` row, whose target lies `5e-9`
/// below the one state that an integer `<=` row at `-3 + 7e-9` leaves almost all the mass;
/// exactly infeasible, but the offset row's rounding hid every certificate (Newton ran to
/// `2e16`: `numerical`). The reduced problem (the copy's target on the unshifted row) is
/// certified; that direction, put on the member whose target bounds from the side it
/// pushes (the `=` copy), separates the original rows beyond their rounding.
///
/// Seed 447000737: an `=` row of spread `3.7e-3` and an `=` row offset by `1e6` whose values
/// vary by `1e-4` (parallel to the first only to about `1e-6` of its spread), targets that
/// disagree within tolerance. `P*` made again from the reduced problem's multiplier, shared
/// by the reduced `P*`'s misses, missed differently and failed the acceptance test; shared
/// again by its own misses, it passes.
///
/// Seeds 567002584 (a `<=` row and an `=` copy offset by `1e6`, on a face) and 561003138 (an
/// `=` row and two copies offset by `1e6` and `2e6`, under reference masses down to
/// `1e-238`): the group's multiplier has a sign only some members may carry, so the split
/// left the carrier its share of the conflict and a gap of `t` times it (`2e-9`, `1e-8`);
/// with the equality moved to the carrier's own target (the others still within tolerance)
/// and the reduced problem solved again, both converge.
///
/// Seed 657003271: an `=` row of spread `3.4e-3` and copies offset by `1e6` and `2e6`,
/// targets `1e-9` inside the hull's vertex that disagree within tolerance. The equality was
/// moved to the nearest member's target, the `1e6` copy's, and its multiplier (`3.3e4`) went
/// to that copy, whose `E phi` rounds at `1.2e-10`: a gap of `4e-8` however often it was
/// shared out again. The equality goes to the representative's own target first (every
/// member still within tolerance): converged, gap `7e-12`.
///
/// Seeds 486004243 (a `<=` row and an `=` copy offset by `1e6`, targets `1e-9` inside a
/// vertex under reference masses down to `1e-126`), 551002917 (an `=` row and copies offset
/// by `1e6` and `2e6`, targets `1e-9` outside a face) and 667004249 (two `>=` rows and a
/// negated `=` copy offset by `-1.7e6`, on a face): the group's multiplier has the sign only
/// the offset copy may carry, and `P*` remade on the copy's own values missed its target by
/// their rounding, a gap of `2e-8` to `8e-7`. The equality is now solved on the carrier's own
/// row at its own target: gaps `2e-14`, `6e-12`, `6e-13`.
///
/// Seed 1139001479: a `<=` row and a `>=` copy offset by `1e6` whose targets leave an interval
/// of `7e-11` for `E phi`, `3.3e-8` below the top of the hull's edge between two states `3.6e-5`
/// apart (one of reference mass `3e-64`). The reduced problem holds `E phi` at the interval's
/// lower end with multiplier `-5.2e6`, which only the copy may carry; `P*` remade on the
/// copy's values missed by their rounding (gap `20`, Newton on all rows ran to `1.8e12`). The
/// active side is now the copy's own constraint and the slack side is dropped: converged.
#[test]
fn parallel_rows_whose_targets_disagree_within_tolerance_are_merged() {
    assert_every_seed_clean(&[
        410_001_779,
        223_000_669,
        447_000_737,
        567_002_584,
        561_003_138,
        657_003_271,
        486_004_243,
        551_002_917,
        667_004_249,
        1_139_001_479,
    ]);
    // The multipliers shared among the rows keep their signs and give the reported F: the
    // dual evaluated at them (another sweep, on the original rows) agrees.
    let case = random_case(410_001_779);
    let h = Hierarchy::new(case.sizes.clone(), case.parents.clone()).unwrap();
    let problem = Problem::new(&h, &case.loss).unwrap();
    let mp = MomentProblem::new(&problem, &case.features, &case.targets, &case.weights)
        .and_then(|mp| mp.with_senses(&case.senses))
        .unwrap();
    let fit = mp.solve(&ConvexSettings::default()).unwrap();
    let theta = fit.multipliers.clone().unwrap();
    for (t, s) in theta.iter().zip(&case.senses) {
        assert!(match s {
            Sense::Eq => true,
            Sense::Le => *t >= 0.0,
            Sense::Ge => *t <= 0.0,
        });
    }
    let f = fit.free_energy.unwrap();
    let dual = mp.dual(&theta).unwrap();
    assert!(
        (dual.free_energy - f).abs() <= 1e-9 * (1.0 + f.abs()),
        "{} {f}",
        dual.free_energy
    );
}

#[test]
#[ignore = "a debugging aid: needs CAMPAIGN_SEED"]
fn one_seed() {
    let Ok(seed) = std::env::var("CAMPAIGN_SEED") else {
        return;
    };
    let seed: u64 = seed.parse().unwrap();
    let case = random_case(seed);
    eprintln!("{case:?}");
    let h = Hierarchy::new(case.sizes.clone(), case.parents.clone()).unwrap();
    let mut problem = Problem::new(&h, &case.loss).unwrap();
    if let Some(q) = &case.reference {
        problem = problem.with_reference(q).unwrap();
    }
    let result = MomentProblem::new(&problem, &case.features, &case.targets, &case.weights)
        .and_then(|mp| mp.with_senses(&case.senses))
        .and_then(|mp| mp.solve(&ConvexSettings::default()));
    match result {
        Ok(fit) => eprintln!(
            "status {:?}, iterations {}, sweeps {}, gradient norm {:e}, gap {:e}, \
             multipliers {:?}, E phi {:?}",
            fit.status,
            fit.iterations,
            fit.sweeps,
            fit.gradient_norm,
            fit.duality_gap,
            fit.multipliers,
            fit.expected_features
        ),
        Err(e) => eprintln!("error: {e}"),
    }
}
