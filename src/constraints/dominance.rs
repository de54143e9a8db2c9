//! Pareto dominance among many points, with ties per criterion.
//!
//! Every criterion is maximised. Two values `a`, `b` of one criterion **tie** when
//! `|a - b| <= 1e-9 max(1, |a|, |b|)`; `a` is *at least* `b` when `a > b` or they tie, and
//! *above* `b` when `a > b` without a tie. Point `i` **dominates** `j` when each criterion of
//! `i` is at least that of `j` and one is above.
//!
//! Both relations are monotone in `a` (`a - b -+ 1e-9 max(1, |a|, |b|)` increases with `a`),
//! so after sorting by the first criterion, descending, the points at least as good as `j`
//! there form a prefix. The sweep inserts that prefix into a segment tree over the ranks of
//! the second criterion that keeps the largest third criterion of every node, and reports
//! the inserted points at least as good as `j` in the second and third criteria by descending
//! only into nodes that can hold one; further criteria are checked pair by pair. Cost:
//! `O(p log p + (r_3 + t) log p)` for `p` points, where `r_3` counts the pairs that dominate in
//! the first three criteria (for up to three criteria: the output itself) and `t` the pairs
//! tied in all of them. A consistent frontier of `10^5` points costs a sort and `10^5`
//! tree operations. Proof and cost: proofs/dominance.md.

/// The relative tie tolerance, with absolute floor `1` on the scale.
pub const TIE: f64 = 1e-9;

/// `|a - b| <= TIE max(1, |a|, |b|)`.
pub fn tie(a: f64, b: f64) -> bool {
    (a - b).abs() <= TIE * 1f64.max(a.abs()).max(b.abs())
}

/// `a > b` or a tie.
fn at_least(a: f64, b: f64) -> bool {
    a > b || tie(a, b)
}

/// `a > b` and not a tie.
fn above(a: f64, b: f64) -> bool {
    a > b && !tie(a, b)
}

/// Whether `a` dominates `b` (module docs).
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(&x, &y)| at_least(x, y)) && a.iter().zip(b).any(|(&x, &y)| above(x, y))
}

/// A segment tree over ranks `0..n` holding, per inserted rank, a value and a point, and
/// per node the largest value below it.
struct MaxTree {
    size: usize,
    max: Vec<f64>,
    point: Vec<usize>,
}

impl MaxTree {
    fn new(n: usize) -> Self {
        let size = n.next_power_of_two();
        Self {
            size,
            max: vec![f64::NEG_INFINITY; 2 * size],
            point: vec![usize::MAX; size],
        }
    }

    fn insert(&mut self, rank: usize, value: f64, point: usize) {
        self.point[rank] = point;
        let mut node = rank + self.size;
        self.max[node] = value;
        while node > 1 {
            node /= 2;
            self.max[node] = self.max[2 * node].max(self.max[2 * node + 1]);
        }
    }

    /// Every inserted point at rank `>= from` whose value is `>= low`.
    fn report(&self, from: usize, low: f64, out: &mut Vec<usize>) {
        let mut stack = vec![(1usize, 0usize, self.size)];
        while let Some((node, lo, hi)) = stack.pop() {
            if hi <= from || self.max[node] < low || self.max[node] == f64::NEG_INFINITY {
                continue;
            }
            if hi - lo == 1 {
                out.push(self.point[lo]);
                continue;
            }
            let mid = (lo + hi) / 2;
            stack.push((2 * node + 1, mid, hi));
            stack.push((2 * node, lo, mid));
        }
    }
}

/// Every pair `(i, j)` where point `i` dominates point `j`, in lexicographic order. All
/// points have the same number of criteria; non-finite criteria are compared as given.
///
/// ```
/// # use hmaxent::constraints::dominance::dominated_pairs;
/// let pts = vec![vec![1.0, 1.0], vec![0.5, 0.5], vec![2.0, 0.0], vec![1.0 + 1e-12, 1.0]];
/// assert_eq!(dominated_pairs(&pts), vec![(0, 1), (3, 1)]);
/// ```
pub fn dominated_pairs(points: &[Vec<f64>]) -> Vec<(usize, usize)> {
    // Copies of one point (bit for bit) relate alike to every other point and never to each
    // other (no criterion is above): the sweep runs over distinct points only, so a grid
    // whose points all coincide (a slack constraint) costs a sort, not `p^2` candidates.
    let keys: Vec<Vec<u64>> = points
        .iter()
        .map(|v| v.iter().map(|x| x.to_bits()).collect())
        .collect();
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then(a.cmp(&b)));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if n > 0 && keys[order[n - 1]] == keys[i] => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    if groups.len() == points.len() {
        return sweep(points);
    }
    let distinct: Vec<Vec<f64>> = groups.iter().map(|g| points[g[0]].clone()).collect();
    let mut out = Vec::new();
    for (a, b) in sweep(&distinct) {
        for &i in &groups[a] {
            out.extend(groups[b].iter().map(|&j| (i, j)));
        }
    }
    out.sort_unstable();
    out
}

/// [`dominated_pairs`] by the sweep of the module docs.
fn sweep(points: &[Vec<f64>]) -> Vec<(usize, usize)> {
    let p = points.len();
    let k = points.first().map_or(0, Vec::len);
    if p < 2 || k == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&a, &b| points[b][0].total_cmp(&points[a][0]).then(a.cmp(&b)));
    let mut out = Vec::new();
    if k == 1 {
        // The points above j form a prefix of the descending order.
        for &j in &order {
            let x = points[j][0];
            for &i in order.iter().take_while(|&&i| above(points[i][0], x)) {
                out.push((i, j));
            }
        }
        out.sort_unstable();
        return out;
    }
    // Second-criterion ranks, and a max-tree of the third criterion over them (a constant
    // when there are two criteria): inserted points at rank >= r with third criterion >= z
    // are reported in O((1 + reported) log p).
    let mut by_y: Vec<usize> = (0..p).collect();
    by_y.sort_by(|&a, &b| points[a][1].total_cmp(&points[b][1]).then(a.cmp(&b)));
    let mut rank = vec![0; p];
    for (r, &i) in by_y.iter().enumerate() {
        rank[i] = r;
    }
    let third = |i: usize| if k > 2 { points[i][2] } else { 0.0 };
    let mut tree = MaxTree::new(p);
    let mut inserted = 0;
    let mut found = Vec::new();
    for &j in &order {
        let x = points[j][0];
        // Grow the prefix of points at least as good as j in the first criterion.
        while inserted < p && at_least(points[order[inserted]][0], x) {
            let i = order[inserted];
            tree.insert(rank[i], third(i), i);
            inserted += 1;
        }
        // Candidates: within a superset of the tolerance below j's second and third values
        // (a tie's tolerance never exceeds 1e-9 max(1, 2|v|) near v).
        let low = |v: f64| v - 2.0 * TIE * 1f64.max(2.0 * v.abs());
        let y_low = low(points[j][1]);
        let from = by_y.partition_point(|&i| points[i][1] < y_low);
        found.clear();
        tree.report(from, low(third(j)), &mut found);
        for &i in &found {
            if i != j && dominates(&points[i], &points[j]) {
                out.push((i, j));
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, pair by pair.
    fn brute(points: &[Vec<f64>]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (i, a) in points.iter().enumerate() {
            for (j, b) in points.iter().enumerate() {
                if i != j && dominates(a, b) {
                    out.push((i, j));
                }
            }
        }
        out
    }

    /// proofs/dominance.md, §2–§3 (the theorem).
    #[test]
    fn the_sweep_reports_exactly_the_pairs_of_the_definition() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for round in 0..300 {
            let p = rng.random_range(0..40);
            let k = rng.random_range(1..=4);
            // Few distinct values (many exact ties) and near-ties at 1e-9 relative.
            let points: Vec<Vec<f64>> = (0..p)
                .map(|_| {
                    (0..k)
                        .map(|_| {
                            let base =
                                f64::from(rng.random_range(-3i32..3)) * 10f64.powi(round % 5 - 2);
                            base * (1.0 + rng.random_range(-2e-9..2e-9))
                                + rng.random_range(-2e-9..2e-9)
                        })
                        .collect()
                })
                .collect();
            assert_eq!(dominated_pairs(&points), brute(&points), "{points:?}");
        }
    }

    #[test]
    fn copies_of_points_relate_like_their_original() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..200 {
            let k = rng.random_range(1..=4);
            let pool: Vec<Vec<f64>> = (0..rng.random_range(1..6))
                .map(|_| {
                    (0..k)
                        .map(|_| f64::from(rng.random_range(-2i32..3)))
                        .collect()
                })
                .collect();
            let points: Vec<Vec<f64>> = (0..rng.random_range(0..50))
                .map(|_| pool[rng.random_range(0..pool.len())].clone())
                .collect();
            assert_eq!(dominated_pairs(&points), brute(&points), "{points:?}");
        }
    }

    /// proofs/dominance.md, "Definitions" (the absolute floor of the tie scale).
    #[test]
    fn values_near_zero_tie_on_the_absolute_floor() {
        // 2e-3 and 2e-3 (1 + 3e-9) tie (their difference is below 1e-9), as do 0 and 1e-10.
        assert!(tie(2e-3, 2e-3 * (1.0 + 3e-9)));
        assert!(tie(0.0, 1e-10));
        assert!(!tie(1.0, 1.0 + 2e-9));
        assert!(dominated_pairs(&[vec![2e-3, 1.0], vec![2e-3 * (1.0 + 3e-9), 1.0]]).is_empty());
    }
}
