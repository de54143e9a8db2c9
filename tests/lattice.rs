//! Lattice block spins against a direct enumeration written independently: spins as a 2D
//! array, energies by summing over the four neighbours of every site (halved), majority and
//! decimation from the array.

use hmaxent::lattice::{BlockMap, BlockRule, Lattice};
use hmaxent::Error;

/// Configuration `x` as a `rows x columns` array of `±1` (bit `col + Lx row`).
fn grid(x: usize, lx: usize, ly: usize) -> Vec<Vec<i32>> {
    (0..ly)
        .map(|r| {
            (0..lx)
                .map(|c| if x & (1 << (c + lx * r)) != 0 { 1 } else { -1 })
                .collect()
        })
        .collect()
}

fn energy(g: &[Vec<i32>]) -> f64 {
    let (ly, lx) = (g.len(), g[0].len());
    let mut twice = 0;
    for r in 0..ly {
        for c in 0..lx {
            let nb = g[r][(c + 1) % lx]
                + g[r][(c + lx - 1) % lx]
                + g[(r + 1) % ly][c]
                + g[(r + ly - 1) % ly][c];
            twice -= g[r][c] * nb;
        }
    }
    f64::from(twice) / 2.0
}

fn block(g: &[Vec<i32>], b: usize, rule: BlockRule) -> Vec<Vec<i32>> {
    let (ly, lx) = (g.len(), g[0].len());
    (0..ly / b)
        .map(|br| {
            (0..lx / b)
                .map(|bc| {
                    let corner = g[br * b][bc * b];
                    let sum: i32 = (0..b)
                        .flat_map(|r| (0..b).map(move |c| (r, c)))
                        .map(|(r, c)| g[br * b + r][bc * b + c])
                        .sum();
                    match rule {
                        BlockRule::Decimation => corner,
                        BlockRule::Majority if sum == 0 => corner,
                        BlockRule::Majority => sum.signum(),
                    }
                })
                .collect()
        })
        .collect()
}

fn index(g: &[Vec<i32>]) -> usize {
    let lx = g[0].len();
    let mut x = 0;
    for (r, row) in g.iter().enumerate() {
        for (c, &s) in row.iter().enumerate() {
            if s == 1 {
                x |= 1 << (c + lx * r);
            }
        }
    }
    x
}

#[test]
fn energies_and_magnetisations_match_the_enumeration() {
    for (lx, ly) in [(4, 4), (2, 2), (3, 2), (4, 2), (1, 3), (2, 6)] {
        let lat = Lattice::new(lx, ly).unwrap();
        assert_eq!(lat.bonds().len(), 2 * lx * ly);
        for x in 0..lat.configurations() {
            let g = grid(x, lx, ly);
            // Bonds counted twice on a side of 2 and as self-bonds on a side of 1: the sum over
            // right and lower neighbours equals half the sum over all four neighbours.
            assert_eq!(lat.energy(x), energy(&g), "{lx}x{ly}, x = {x}");
            let m: i32 = g.iter().flatten().sum();
            assert_eq!(lat.magnetisation(x), m);
            let from_bonds: i32 = lat
                .bonds()
                .iter()
                .map(|&(i, j)| -lat.spin(x, i) * lat.spin(x, j))
                .sum();
            assert_eq!(f64::from(from_bonds), lat.energy(x));
        }
    }
    let lat = Lattice::new(4, 4).unwrap();
    assert_eq!(lat.energy(0xFFFF), -32.0);
    assert_eq!(lat.energy(0b1010_0101_1010_0101), 32.0);
}

#[test]
fn block_spins_and_their_hierarchy_match_the_enumeration() {
    for (lx, ly, b) in [(4, 4, 2), (4, 2, 2), (6, 3, 3), (4, 4, 4)] {
        let lat = Lattice::new(lx, ly).unwrap();
        for rule in [BlockRule::Majority, BlockRule::Decimation] {
            let map = BlockMap { side: b, rule };
            let h = lat.hierarchy(&[map], true).unwrap();
            let coarse = lat.coarse(map).unwrap();
            assert_eq!(h.sizes(), &[1 << (lx * ly), 1 << (lx * ly / (b * b)), 1]);
            for x in 0..lat.configurations() {
                let want = index(&block(&grid(x, lx, ly), b, rule));
                assert_eq!(
                    lat.block_spins(x, map).unwrap(),
                    want,
                    "{lx}x{ly} b={b} {rule:?} x={x}"
                );
                assert_eq!(h.parent(0, x), want);
            }
            assert_eq!(coarse.sites(), lx * ly / (b * b));
        }
    }
    // Two majority steps on the 4 x 4 torus: 2^16 -> 2^4 -> 2 -> 1.
    let lat = Lattice::new(4, 4).unwrap();
    let h = lat
        .hierarchy(&[BlockMap::majority(2), BlockMap::majority(2)], true)
        .unwrap();
    assert_eq!(h.sizes(), &[1 << 16, 16, 2, 1]);
    for x in (0..1 << 16).step_by(97) {
        let g1 = block(&grid(x, 4, 4), 2, BlockRule::Majority);
        let g2 = block(&g1, 2, BlockRule::Majority);
        assert_eq!(h.parent(1, h.parent(0, x)), index(&g2));
    }
}

#[test]
fn bad_lattices_and_maps_are_refused() {
    assert!(matches!(Lattice::new(5, 5), Err(Error::TooLarge { .. })));
    assert!(matches!(Lattice::new(0, 3), Err(Error::InvalidInput(_))));
    let lat = Lattice::new(4, 3).unwrap();
    assert!(matches!(
        lat.coarse(BlockMap::majority(2)),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        lat.hierarchy(&[BlockMap::decimation(0)], false),
        Err(Error::InvalidInput(_))
    ));
}
