//! Rows that are one feature up to an affine map (a copy offset by `1e6`, a multiple, a
//! negation), whose targets disagree by no more than their tolerances: the last path of a
//! moment solve, taken only when every other path has failed and no certificate separates.
//!
//! **Why.** After centring and scaling (`super::super::scaling`), two such rows are the same
//! row up to sign and a constant, `phi'_j = sigma phi'_i + kappa`, to the rounding of their
//! values (`eps max|phi_j| / s_j`: `8e-8` for a copy offset by `1e6` of a row of spread
//! `1.5e-3`). Their targets, each rounded in its own units, can then ask for values of
//! `E phi'_i` that differ by more than the solver's stopping tolerance though less than the
//! promised one (a `>=` row and an `=` copy `3e-10` apart): exactly infeasible, so the dual is
//! unbounded along the difference of the two multipliers, Newton runs them to `1e12`, and the
//! other rows lose their digits to the cancellation.
//!
//! **What.** Each group of such rows becomes one row, its representative (the member whose
//! values carry the least rounding), constrained to the intersection of the members'
//! intervals for `E phi'_i`; an empty intersection no wider than the two bounding members'
//! acceptance tolerances becomes the equality at the point that splits the conflict in
//! proportion to those tolerances, and a nonempty one narrower than `1e-3` of the
//! representative's tolerance the equality at its middle. The reduced problem is solved by
//! the other paths; its multiplier is shared between the members on either side of the
//! answer whose senses allow its sign (`theta'_j = sigma_j a_j`, `sum a_j = theta'_rep`: the
//! same loss up to a constant, and no duality gap), `P*` is made again from those
//! multipliers on the original rows, and the answer is returned only if the acceptance test
//! passes on every original row. Rows parallel only to their rounding make the remade `P*`
//! miss a little differently from the reduced one, so a failed test shares the multiplier
//! out again by the remade `P*`'s misses (at most [`REMAKES`] times, stopping when the shares
//! repeat). A split equality whose multiplier only the members on one side may carry (a
//! `<=` row beside an `=` copy, the multiplier of the sign the `<=` row refuses) would leave
//! the carrier its share of the conflict and a gap of the multiplier times it; if every
//! path so far failed, the equality is moved to a carrier's own target, where every member
//! still meets its target within tolerance (the representative's if it may carry the sign,
//! since a share on a copy offset by `1e6` leaves a gap of that share times the copy's
//! rounding; else the nearest carrier's), and the reduced problem is solved once more.
//! When the representative may not carry a group's multiplier at all, the share goes to a
//! copy, and `P*` remade on the copy's own values (parallel only to their rounding) misses
//! the copy's target by that rounding, leaving a gap of the multiplier times it: the group's
//! equality is then put on the carrier's own row at its own target (where every member still
//! meets its target within tolerance), so that the reduced `P*` is the Gibbs distribution of
//! that row itself, and solved once more; the active side of an interval likewise becomes
//! the carrier's own constraint (its row, sense and target), the slack side dropped (a `<=`
//! row whose `>=` copy offset by `1e6` holds `E phi` at its lower end with a multiplier of
//! `-5e6`). A face answer (no multipliers) is kept only when
//! no target was moved by a split or a collapse. A certificate of the reduced problem goes,
//! group by group, to the member whose target bounds `E phi'_rep` most tightly from the side
//! it pushes, and is returned only if it separates the original rows beyond their rounding
//! (`super::super::feasibility::separation`).

use super::super::feasibility::separation;
use super::super::sense::Sense;
use super::solve::{acceptance, Scaled, ACCEPTANCE};
use super::{ConvexSettings, MomentProblem, MomentSolution, Status};
use crate::error::{Error, Result};
use std::sync::OnceLock;

/// Above this many values `m n_0` the rows are not compared.
const MAX_ENTRIES: usize = 1 << 24;

/// Roundings of a scaled value within which two rows count as one (a row's scaled values
/// carry about `eps (1 + max|phi| / s)` each, from the data and from the scaling).
const ROUNDINGS: f64 = 16.0;

/// Row `j` of a group: `phi'_j = sign phi'_rep + shift` on the allowed states.
#[derive(Debug, Clone, Copy)]
struct Member {
    row: usize,
    sign: f64,
    shift: f64,
}

impl Member {
    /// The member's target for `E phi'_rep`: `sign (c'_j - shift)`.
    fn target(&self, scaled: &Scaled) -> f64 {
        self.sign * (scaled.targets[self.row] - self.shift)
    }
}

/// A group's constraint on `E phi'_rep`: a lower and an upper bound, each with the
/// acceptance tolerance (solver units) of the member that sets it.
#[derive(Debug, Clone, Copy)]
struct Interval {
    lo: (f64, f64),
    hi: (f64, f64),
}

impl MomentProblem<'_> {
    /// The answer with parallel rows merged (module docs): `Some(Ok)` an answer that passed
    /// the acceptance test on the original rows, `Some(Err)` a certificate that separates
    /// them; `None` when no rows are parallel, their targets conflict beyond their
    /// tolerances, the reduced problem finds nothing, or neither check passes.
    pub(super) fn merged_parallel_rows(
        &self,
        settings: &ConvexSettings,
    ) -> Option<Result<MomentSolution>> {
        if self.mean.is_some() {
            return None;
        }
        let scaled = self.scaled();
        let groups = groups(scaled, &self.allowed)?;
        let accept = acceptance(&scaled.map, settings);
        // The reduced rows: (group, representative, sense, target in the solver's units).
        let mut reduced = Vec::new();
        let mut moved = false;
        for (g, members) in groups.iter().enumerate() {
            let rep = members[0].row;
            let interval = self.interval(scaled, members, &accept)?;
            let (rows, at_a_member) = interval.constraints(accept[rep]);
            moved |= !at_a_member;
            for (sense, t) in rows {
                reduced.push((g, rep, sense, t));
            }
        }
        let problem = self.reduced_problem(scaled, &reduced);
        let fit = match problem.solve_paths(settings, false) {
            Ok(fit) if matches!(fit.status, Status::Converged | Status::Boundary) => fit,
            Err(Error::InfeasibleMoments { direction, .. }) => {
                // The reduced rows' certificate, on the members whose targets bound the
                // interval from the side it pushes, checked on the original rows.
                let mut theta = vec![0.0; self.rows.len()];
                for (members, &t) in groups
                    .iter()
                    .zip(&per_group(scaled, &groups, &reduced, &direction))
                {
                    if t != 0.0 {
                        let m = self.tightest(scaled, members, t)?;
                        theta[m.row] = m.sign * t / scaled.map.scale[m.row];
                    }
                }
                return separation(&self.rows, &self.allowed, &self.targets, &theta).map(Err);
            }
            _ => return None,
        };
        let group_theta =
            (fit.multipliers.as_deref()).map(|t| per_group(scaled, &groups, &reduced, t));
        let first = self.judged(scaled, fit, &groups, group_theta.clone(), moved, settings);
        if first.is_some() {
            return first.map(Ok);
        }
        let group_theta = group_theta?;
        if moved {
            if let Some(answer) =
                self.moved_to_a_carrier(scaled, &groups, &reduced, &group_theta, settings)
            {
                return Some(Ok(answer));
            }
        }
        // A group's multiplier that its representative may not carry goes to a copy; `P*`
        // remade on the copy's own values (parallel to the representative's only to their
        // rounding) misses the copy's target by that rounding, and the gap is the multiplier
        // times the miss. Such a group's equality is solved on the carrier's own row, at
        // its own target (where every member still meets its target within tolerance), so
        // that `P*` is the Gibbs distribution of that row itself.
        // The same for the active side of an interval (a `<=` representative whose `>=` copy
        // bounds `E phi` from below and carries the multiplier): that side becomes the
        // carrier's own constraint (its row, sense and target) and the slack side is dropped.
        let mut own = reduced.clone();
        let mut one_sided = Vec::new();
        for r in own.iter_mut() {
            let (members, t) = (&groups[r.0], group_theta[r.0]);
            let active = match r.2 {
                Sense::Eq => true,
                Sense::Ge => t < 0.0,
                Sense::Le => t > 0.0,
            };
            if !active || self.carries(&members[0], t) {
                continue;
            }
            let carrier = (members.iter())
                .filter(|m| {
                    self.carries(m, t) && self.admitted(scaled, members, m.target(scaled), &accept)
                })
                .min_by(|a, b| {
                    let d = |m: &Member| (m.target(scaled) - r.3).abs();
                    d(a).total_cmp(&d(b))
                });
            if let Some(m) = carrier {
                if r.2 != Sense::Eq {
                    one_sided.push((r.0, r.1));
                    r.2 = self.senses[m.row];
                }
                (r.1, r.3) = (m.row, scaled.targets[m.row]);
            }
        }
        // The slack sides: still on the representative's row, of a group made one-sided.
        own.retain(|r| !one_sided.contains(&(r.0, r.1)));
        (self.solved_again(scaled, &groups, &reduced, &own, moved, settings)).map(Ok)
    }

    /// The second try of [`Self::merged_parallel_rows`] after a split (`reduced` moved off
    /// every member's target): each split equality moved to a carrier's own target.
    fn moved_to_a_carrier(
        &self,
        scaled: &Scaled,
        groups: &[Vec<Member>],
        reduced: &[Reduced],
        group_theta: &[f64],
        settings: &ConvexSettings,
    ) -> Option<MomentSolution> {
        let accept = acceptance(&scaled.map, settings);
        // A split equality whose multiplier only members of one side may carry (a `<=` row
        // and an `=` copy, the multiplier of the sign the `<=` row refuses) leaves the carrier
        // the split's share of the conflict, and the gap `t` times it. So each such
        // equality is moved to a carrier's own target, where every member still meets its
        // target within tolerance, and the reduced problem is solved again.
        let mut again = reduced.to_vec();
        for r in again.iter_mut().filter(|r| r.2 == Sense::Eq) {
            let (members, t) = (&groups[r.0], group_theta[r.0]);
            let fits = |point: &f64| self.admitted(scaled, members, *point, &accept);
            // The representative's own target first: its values carry the least rounding,
            // so a multiplier on it leaves the gap with the least rounding too.
            let own = Some(&members[0])
                .filter(|m| self.carries(m, t))
                .map(|m| m.target(scaled))
                .filter(fits);
            let nearest = (members.iter())
                .filter(|m| self.carries(m, t))
                .map(|m| m.target(scaled))
                .min_by(|a, b| (a - r.3).abs().total_cmp(&(b - r.3).abs()))
                .filter(fits);
            if let Some(point) = own.or(nearest) {
                r.3 = point;
            }
        }
        self.solved_again(scaled, groups, reduced, &again, true, settings)
    }

    /// The reduced problem on `changed` (a changed copy of `reduced`; `None` if unchanged)
    /// solved and judged as an answer to this one.
    fn solved_again(
        &self,
        scaled: &Scaled,
        groups: &[Vec<Member>],
        reduced: &[Reduced],
        changed: &[Reduced],
        moved: bool,
        settings: &ConvexSettings,
    ) -> Option<MomentSolution> {
        if changed == reduced {
            return None;
        }
        let fit = match self
            .reduced_problem(scaled, changed)
            .solve_paths(settings, false)
        {
            Ok(fit) if fit.status == Status::Converged => fit,
            _ => return None,
        };
        let group_theta =
            (fit.multipliers.as_deref()).map(|t| per_group(scaled, groups, changed, t));
        self.judged(scaled, fit, groups, group_theta, moved, settings)
    }

    /// The problem on the rows `reduced` (group, row, sense, target in that row's solver
    /// units): each group's representative, or a member's own row.
    fn reduced_problem(&self, scaled: &Scaled, reduced: &[Reduced]) -> MomentProblem<'_> {
        MomentProblem {
            problem: self.problem,
            n_features: reduced.len(),
            rows: reduced.iter().map(|r| self.rows[r.1].clone()).collect(),
            targets: (reduced.iter())
                .map(|r| scaled.map.value_to_user(r.1, r.3))
                .collect(),
            senses: reduced.iter().map(|r| r.2).collect(),
            weights: self.weights.clone(),
            mean: None,
            allowed: self.allowed.clone(),
            scaled: OnceLock::new(),
        }
    }

    /// Whether `E phi'_rep = point` meets every member's target within its acceptance
    /// tolerance `accept[row]` ([`Self::admits`]).
    fn admitted(&self, scaled: &Scaled, members: &[Member], point: f64, accept: &[f64]) -> bool {
        (members.iter()).all(|m| self.admits(scaled, m, point, accept[m.row]))
    }

    /// Whether `E phi'_rep = point` meets member `m`'s target within its acceptance
    /// tolerance `a` (solver units), in its sense.
    fn admits(&self, scaled: &Scaled, m: &Member, point: f64, a: f64) -> bool {
        let t = m.target(scaled);
        let (lower, upper) = self.sides(m);
        (!lower || point >= t - a) && (!upper || point <= t + a)
    }

    /// Whether member `m` bounds `E phi'_rep` from below and from above (a negation swaps
    /// the sense).
    fn sides(&self, m: &Member) -> (bool, bool) {
        match (self.senses[m.row], m.sign > 0.0) {
            (Sense::Eq, _) => (true, true),
            (Sense::Ge, true) | (Sense::Le, false) => (true, false),
            (Sense::Le, true) | (Sense::Ge, false) => (false, true),
        }
    }

    /// The member whose target bounds `E phi'_rep` most tightly from the side a multiplier `t`
    /// (the representative's orientation) pushes: the least upper bound for `t > 0`, the
    /// greatest lower bound for `t < 0`, among members whose sense allows that sign.
    fn tightest(&self, scaled: &Scaled, members: &[Member], t: f64) -> Option<Member> {
        (members.iter())
            .filter(|m| self.carries(m, t))
            .map(|m| (*m, m.target(scaled) * t.signum()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(m, _)| m)
    }

    /// Whether member `m` may carry the share of a multiplier `t` (the representative's
    /// orientation): `theta'_m = sign t` within its sense's sign constraint.
    fn carries(&self, m: &Member, t: f64) -> bool {
        self.senses[m.row].bound().admits(m.sign * t)
    }

    /// The members' constraints on `E phi'_rep` intersected, `None` if they conflict by more
    /// than the two bounding members' tolerances together.
    fn interval(&self, scaled: &Scaled, members: &[Member], accept: &[f64]) -> Option<Interval> {
        let mut iv = Interval {
            lo: (f64::NEG_INFINITY, 0.0),
            hi: (f64::INFINITY, 0.0),
        };
        for m in members {
            // A negation swaps the sense.
            let t = m.target(scaled);
            let a = accept[m.row];
            let (lower, upper) = self.sides(m);
            if lower && t > iv.lo.0 {
                iv.lo = (t, a);
            }
            if upper && t < iv.hi.0 {
                iv.hi = (t, a);
            }
        }
        (iv.lo.0 - iv.hi.0 <= iv.lo.1 + iv.hi.1).then_some(iv)
    }

    /// `fit` (of the reduced problem) as an answer to this one. With multipliers, each
    /// group's `per_group` (its representative's solver units) is shared among its members
    /// ([`shares`], by their misses under the reduced `P*`), and `P*` is made again from those
    /// multipliers on the original rows (one more sweep) and put to the acceptance test of
    /// every answer, targets and duality gap. On a face (no multipliers) the reduced answer is
    /// kept only when no group's target was `moved` off a member's (a split conflict or a
    /// collapsed interval), so that its gap is the original problem's, and every original row
    /// meets its target to the acceptance tolerance.
    fn judged(
        &self,
        scaled: &Scaled,
        fit: MomentSolution,
        groups: &[Vec<Member>],
        per_group: Option<Vec<f64>>,
        moved: bool,
        settings: &ConvexSettings,
    ) -> Option<MomentSolution> {
        let map = &scaled.map;
        let p0 = fit.solution.marginal_block(0);
        let solver: Vec<f64> = scaled.rows.iter().map(|r| r.dot(p0)).collect();
        let Some(per_group) = per_group else {
            let tol = ACCEPTANCE * settings.gradient_tolerance;
            let expected = Self::expected_as_returned(map, p0, &solver);
            let meets = self.meets_targets(map, &expected, tol);
            return (meets && !moved).then_some(MomentSolution {
                expected_features: expected,
                ..fit
            });
        };
        let engine = self.engine(scaled, self.allowed.clone());
        let mut solver = solver;
        let mut sweeps = fit.sweeps;
        // The shares follow the misses under the reduced `P*`; rows parallel only to their
        // rounding make the remade `P*` miss a little differently, so the shares are made
        // again from its misses, a few times.
        let mut last = Vec::new();
        for _ in 0..REMAKES {
            let mut theta = vec![0.0; self.rows.len()];
            for (members, &t) in groups.iter().zip(&per_group) {
                // A member's miss in the representative's orientation, where it may carry `t`.
                let carriers: Vec<(usize, f64, f64)> = (members.iter())
                    .filter(|m| self.carries(m, t))
                    .map(|m| {
                        let miss = m.sign * (scaled.targets[m.row] - solver[m.row]);
                        (m.row, m.sign, miss)
                    })
                    .collect();
                for (row, share) in shares(t, &carriers)? {
                    theta[row] = share;
                }
            }
            if theta == last {
                return None;
            }
            let mut answer = self.answer(scaled, &engine, &theta, false, settings).ok()?;
            sweeps += answer.sweeps;
            last = theta;
            if answer.status == Status::Converged {
                answer.iterations = fit.iterations;
                answer.sweeps = sweeps;
                return Some(answer);
            }
            let p0 = answer.solution.marginal_block(0);
            solver = scaled.rows.iter().map(|r| r.dot(p0)).collect();
        }
        None
    }
}

/// A reduced row: group, row (the representative's, or a member's own), sense, target in
/// that row's solver units.
type Reduced = (usize, usize, Sense, f64);

/// Each group's multiplier (or certificate) in its representative's solver units and
/// orientation, from the multipliers `theta` (user units) of the reduced problem on `rows`:
/// `theta'_rep = sum sign_j theta_j s_j` over the group's rows `j`.
fn per_group(scaled: &Scaled, groups: &[Vec<Member>], rows: &[Reduced], theta: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; groups.len()];
    for (r, t) in rows.iter().zip(theta) {
        let sign = (groups[r.0].iter().find(|m| m.row == r.1)).map_or(1.0, |m| m.sign);
        out[r.0] += sign * t * scaled.map.scale[r.1];
    }
    out
}

/// Times the merged rows' multipliers are shared out and `P*` made again at most.
const REMAKES: usize = 4;

/// A group's multiplier `t` (its representative's orientation) shared among the members that
/// may carry its sign, `carriers` as `(row, sign, miss)` with `miss` the member's
/// `c'_j - E phi'_j` in that orientation, so that the shares `a_j` (`sum a_j = t`, each of
/// `t`'s sign) leave no duality gap, `sum a_j miss_j = 0`: one member that meets its target
/// takes all; else the nearest on each side of `E phi'`, `a_+ = t (-miss_-) / (miss_+ -
/// miss_-)`, `a_- = t miss_+ / (miss_+ - miss_-)`; else the nearest alone. The loss is the
/// same (`theta'_j = sign_j a_j`, members being the representative up to sign and a constant).
/// Returns `(row, theta'_j)`; `None` when no member may carry `t`.
fn shares(t: f64, carriers: &[(usize, f64, f64)]) -> Option<Vec<(usize, f64)>> {
    if t == 0.0 {
        return Some(Vec::new());
    }
    let nearest = |side: f64| {
        (carriers.iter())
            .filter(|c| c.2 * side > 0.0)
            .min_by(|a, b| a.2.abs().total_cmp(&b.2.abs()))
    };
    if let Some(exact) = carriers.iter().find(|c| c.2 == 0.0) {
        return Some(vec![(exact.0, exact.1 * t)]);
    }
    match (nearest(1.0), nearest(-1.0)) {
        (Some(p), Some(n)) => {
            let (a_p, a_n) = (t * -n.2 / (p.2 - n.2), t * p.2 / (p.2 - n.2));
            Some(vec![(p.0, p.1 * a_p), (n.0, n.1 * a_n)])
        }
        (Some(one), None) | (None, Some(one)) => Some(vec![(one.0, one.1 * t)]),
        (None, None) => None,
    }
}

impl Interval {
    /// The reduced rows of the group: the equality at the conflict's split point or at the
    /// middle of an interval narrower than `rounding` (the representative's tolerance by
    /// `1e-3`), else each finite bound in its sense.
    /// Also whether every reduced target is a member's own (not moved by a split or a
    /// collapse).
    fn constraints(self, rep_accept: f64) -> (Vec<(Sense, f64)>, bool) {
        let ((lo, a_lo), (hi, a_hi)) = (self.lo, self.hi);
        if lo > hi {
            let split = hi + (lo - hi) * a_hi / (a_lo + a_hi);
            return (vec![(Sense::Eq, split)], false);
        }
        if lo == hi {
            return (vec![(Sense::Eq, lo)], true);
        }
        if hi - lo <= 1e-3 * rep_accept {
            return (vec![(Sense::Eq, 0.5 * lo + 0.5 * hi)], false);
        }
        let mut out = Vec::new();
        if lo.is_finite() {
            out.push((Sense::Ge, lo));
        }
        if hi.is_finite() {
            out.push((Sense::Le, hi));
        }
        (out, true)
    }
}

/// The rows as groups of parallel rows (module docs), each led by its representative
/// (`sign 1`, `shift 0`); `None` when no two rows are parallel or the rows are too many
/// values to compare.
fn groups(scaled: &Scaled, allowed: &[bool]) -> Option<Vec<Vec<Member>>> {
    let m = scaled.rows.len();
    let states: Vec<usize> = (0..allowed.len()).filter(|&x| allowed[x]).collect();
    if m < 2 || states.is_empty() || m.saturating_mul(states.len()) > MAX_ENTRIES {
        return None;
    }
    let mut column = vec![usize::MAX; allowed.len()];
    for (j, &x) in states.iter().enumerate() {
        column[x] = j;
    }
    let values: Vec<Vec<f64>> = (scaled.rows.iter())
        .map(|row| {
            let mut v = vec![0.0; states.len()];
            row.for_each(|x, value| {
                if column[x] != usize::MAX {
                    v[column[x]] = value;
                }
            });
            v
        })
        .collect();
    // The rounding each row's scaled values carry.
    let map = &scaled.map;
    let rounding: Vec<f64> = (0..m)
        .map(|i| {
            let big = map.range[i].map_or(0.0, |(lo, hi)| lo.abs().max(hi.abs()));
            f64::EPSILON * (1.0 + big / map.scale[i])
        })
        .collect();
    let mut group_of = vec![usize::MAX; m];
    // Each group's rows with their relation to its first row (the anchor).
    let mut groups: Vec<Vec<Member>> = Vec::new();
    for i in 0..m {
        if group_of[i] != usize::MAX {
            continue;
        }
        group_of[i] = groups.len();
        let mut members = vec![Member {
            row: i,
            sign: 1.0,
            shift: 0.0,
        }];
        for j in i + 1..m {
            if group_of[j] != usize::MAX {
                continue;
            }
            let within = ROUNDINGS * (rounding[i] + rounding[j]);
            if let Some((sign, shift)) = relation(&values[i], &values[j], within) {
                group_of[j] = groups.len();
                members.push(Member {
                    row: j,
                    sign,
                    shift,
                });
            }
        }
        groups.push(members);
    }
    if groups.len() == m {
        return None;
    }
    // Led by the member with the least rounding: with `phi'_j = s_j phi'_i + k_j` and
    // `phi'_r = s_r phi'_i + k_r` for the anchor `i`,
    // `phi'_j = s_j s_r phi'_r + k_j - s_j s_r k_r`.
    let led = groups
        .into_iter()
        .map(|members| {
            let lead = (0..members.len())
                .min_by(|&a, &b| rounding[members[a].row].total_cmp(&rounding[members[b].row]))
                .unwrap_or(0);
            let r = members[lead];
            let mut out = vec![Member {
                row: r.row,
                sign: 1.0,
                shift: 0.0,
            }];
            out.extend(members.iter().filter(|m| m.row != r.row).map(|m| Member {
                row: m.row,
                sign: m.sign * r.sign,
                shift: m.shift - m.sign * r.sign * r.shift,
            }));
            out
        })
        .collect();
    Some(led)
}

/// `(sign, shift)` with `b = sign a + shift` to within `within` on every value (the shift the
/// middle of the differences' range), or `None`.
fn relation(a: &[f64], b: &[f64], within: f64) -> Option<(f64, f64)> {
    [1.0, -1.0].into_iter().find_map(|sign| {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (&a, &b) in a.iter().zip(b) {
            let d = b - sign * a;
            (lo, hi) = (lo.min(d), hi.max(d));
            // Most pairs of rows part within a few states (the values are finite).
            if hi - lo > within {
                return None;
            }
        }
        Some((sign, 0.5 * lo + 0.5 * hi))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_a_negation_and_a_multiple_are_one_row_and_others_are_not() {
        let a = [0.0, 0.25, -0.5, 0.5];
        let copy: Vec<f64> = a.iter().map(|v| v + 0.125).collect();
        let negated: Vec<f64> = a.iter().map(|v| 0.3 - v).collect();
        let (sign, shift) = relation(&a, &copy, 1e-15).unwrap();
        assert_eq!((sign, shift), (1.0, 0.125));
        let (sign, shift) = relation(&a, &negated, 1e-15).unwrap();
        assert_eq!(sign, -1.0);
        assert!((shift - 0.3).abs() < 1e-15);
        let other = [0.0, 0.25, -0.5, 0.5 + 1e-9];
        assert!(relation(&a, &other, 1e-12).is_none());
        assert!(relation(&a, &other, 1e-8).is_some());
    }

    #[test]
    fn conflicting_bounds_meet_where_the_misses_are_in_proportion_to_the_tolerances() {
        let conflict = Interval {
            lo: (1.0 + 3e-10, 2e-10),
            hi: (1.0, 1e-10),
        };
        let (rows, at_a_member) = conflict.constraints(1e-10);
        assert!(!at_a_member);
        assert_eq!(rows.len(), 1);
        let (sense, t) = rows[0];
        assert_eq!(sense, Sense::Eq);
        // Misses 2e-10 and 1e-10, in proportion to the tolerances.
        assert!((t - (1.0 + 1e-10)).abs() < 1e-15, "{t}");
        let open = Interval {
            lo: (0.0, 1e-10),
            hi: (f64::INFINITY, 0.0),
        };
        assert_eq!(open.constraints(1e-10), (vec![(Sense::Ge, 0.0)], true));
        let both = Interval {
            lo: (0.0, 1e-10),
            hi: (0.5, 1e-10),
        };
        assert_eq!(
            both.constraints(1e-10),
            (vec![(Sense::Ge, 0.0), (Sense::Le, 0.5)], true)
        );
    }
}
