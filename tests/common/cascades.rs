//! Random small cascades shared by the constraint tests over families.

use hmaxent::families::cascade::Cascade;
use rand::rngs::StdRng;
use rand::Rng;

/// A random cascade: `b` in {2, 3}, depth 1..=3, homogeneous or general, some zeros.
pub fn random_cascade(
    b: usize,
    depth: usize,
    general: bool,
    kappa: f64,
    rng: &mut StdRng,
) -> Cascade {
    let n = |k: usize| {
        if general {
            b.pow((depth - k) as u32)
        } else {
            b
        }
    };
    let conditionals: Vec<Vec<f64>> = (0..depth)
        .map(|k| {
            let mut v: Vec<f64> = (0..n(k))
                .map(|_| {
                    if rng.random::<f64>() < 0.1 {
                        0.0
                    } else {
                        rng.random_range(0.05..1.0)
                    }
                })
                .collect();
            for block in v.chunks_mut(b) {
                if block.iter().all(|&x| x == 0.0) {
                    block[0] = 1.0;
                }
                let s: f64 = block.iter().sum();
                block.iter_mut().for_each(|x| *x /= s);
            }
            v
        })
        .collect();
    if general {
        Cascade::general(kappa, b, depth, conditionals).unwrap()
    } else {
        Cascade::homogeneous(kappa, b, depth, &conditionals).unwrap()
    }
}
