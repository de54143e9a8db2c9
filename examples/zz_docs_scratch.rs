use hmaxent::dual::Dual;
use hmaxent::rg::{reconstruct, sweep, tabulated::Tabulated};
use hmaxent::{inverse::surprisal, Hierarchy, MeanConstraint, Problem, Temperatures};
fn main() -> hmaxent::Result<()> {
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
    let f = [0.0, 0.0, 0.0, 1.0];
    let t = Temperatures::new(&[1.0, 1.0])?;
    let p = Problem::new(&h, &f)?;
    let s = p.solve(&t)?;
    println!("F = {:.17}", s.free_energy());
    println!("g1 = {:?}", s.renormalised_loss(1));
    println!("P0 = {:?}", s.marginal(0));
    println!("P1 = {:?}", s.marginal(1));
    println!(
        "H = {:?} Hcond = {:?} {:?}",
        s.entropies(),
        s.conditional_entropy(0),
        s.conditional_entropy(1)
    );
    println!("E = {:?}", s.expected_level_losses());
    println!(
        "cond A {:?} cond B {:?}",
        s.conditional(0, 0),
        s.conditional(0, 1)
    );
    println!("objective(P*) = {:.17}", p.objective(&s.marginal(0), &t)?);
    println!("objective(unif) = {:.17}", p.objective(&[0.25; 4], &t)?);
    let g = p.solve(&Temperatures::new(&[1.0, 0.0])?)?;
    println!("gibbs tau=(1,0): {:?} F={}", g.marginal(0), g.free_energy());
    // envelope: finite differences
    let e = 1e-6;
    for j in 0..2 {
        let mut tp = [1.0, 1.0];
        tp[j] += e;
        let mut tm = [1.0, 1.0];
        tm[j] -= e;
        let d = (p.solve(&Temperatures::new(&tp)?)?.free_energy()
            - p.solve(&Temperatures::new(&tm)?)?.free_energy())
            / (2.0 * e);
        println!("dF/dtau_{j} = {d:.9} vs -H = {:.9}", -s.entropy(j));
    }
    // dual numbers through the driver
    let pots: Vec<Option<Vec<Dual<2>>>> = vec![];
    let eng = Tabulated::new(&h, &pots);
    let g0: Vec<Dual<2>> = f.iter().map(|&x| Dual::constant(x)).collect();
    let t0 = Dual::<2>::variable(1.0, 0);
    let t1 = Dual::<2>::variable(1.0, 1);
    let cum = [t0, t0 + t1];
    let flow = sweep(&eng, &g0, &cum)?;
    println!("dual F = {:?}", flow.free_energy);
    let rec = reconstruct(&eng, flow.conditionals);
    println!(
        "dual marg0 = {:?}",
        rec.marginals[0].iter().map(|x| x.re).collect::<Vec<_>>()
    );
    // Theorem B
    let q = [0.1, 0.2, 0.3, 0.4];
    let reward = [1.0, 0.0, 0.0, 2.0];
    let u: Vec<f64> = reward.iter().map(|r| -r).collect();
    let pb = Problem::new(&h, &u)?.with_reference(&q)?;
    let sb = pb.solve(&t)?;
    println!(
        "ThmB: F = {:.12} Lambda = {:.12} P0 = {:?} D = {:?}",
        sb.free_energy(),
        -sb.free_energy(),
        sb.marginal(0),
        sb.relative_entropies()
    );
    // flat reference vs counting measure, unequal blocks
    let h3 = Hierarchy::new(vec![3, 2], vec![vec![0, 0, 1]])?;
    let a = Problem::new(&h3, &[0.0; 3])?.solve(&t)?;
    let b = Problem::new(&h3, &[0.0; 3])?
        .with_reference(&[1.0; 3])?
        .solve(&t)?;
    println!("counting {:?} uniform-Q {:?}", a.marginal(0), b.marginal(0));
    // mean constraint
    for c in [0.1, 0.5, 0.0, 1.0] {
        let m = p.solve_mean(&[1.0, 1.0], MeanConstraint::Equal(c))?;
        println!(
            "mean {c}: lambda {:?} boundary {} P0 {:?} obj {} tau {:?} F {:?}",
            m.multiplier,
            m.boundary,
            m.solution.marginal(0),
            m.objective,
            m.temperatures,
            m.free_energy
        );
    }
    let m = p.solve_mean(&[1.0, 1.0], MeanConstraint::AtMost(0.5))?;
    println!("atmost 0.5: {:?}", m.multiplier);
    println!(
        "infeasible: {:?}",
        p.solve_mean(&[1.0, 1.0], MeanConstraint::Equal(2.0))
            .map(|m| m.multiplier)
    );
    let die = Problem::new(&Hierarchy::flat(6)?, &[1., 2., 3., 4., 5., 6.])?;
    for c in [4.5, 2.5] {
        let m = die.solve_mean(&[1.0], MeanConstraint::Equal(c))?;
        println!("die {c}: {:?} {:?}", m.multiplier, m.solution.marginal(0));
    }
    // inverse
    let pp = [0.1, 0.2, 0.3, 0.4];
    let fp = surprisal(&h, &pp, &t)?;
    let sp = Problem::new(&h, &fp)?.solve(&t)?;
    let ef: f64 = pp.iter().zip(&fp).map(|(a, b)| a * b).sum();
    println!(
        "surprisal {:?} back {:?} F {} E f - F = {} sumtauH = {}",
        fp,
        sp.marginal(0),
        sp.free_energy(),
        ef - sp.free_energy(),
        sp.entropies().iter().sum::<f64>()
    );
    // tiny temps & huge losses
    let ht =
        Problem::new(&h, &[0.0, 1e300, -1e300, 5.0])?.solve(&Temperatures::new(&[1e-12, 0.0])?)?;
    println!("extreme: F {} P {:?}", ht.free_energy(), ht.marginal(0));
    println!(
        "errors: {} / {}",
        hmaxent::Error::Infeasible {
            target: 2.0,
            min: 0.0,
            max: 1.0
        }
        .kind(),
        Temperatures::new(&[0.0]).unwrap_err()
    );
    println!(
        "{:?}",
        Hierarchy::new(vec![4, 2], vec![vec![0, 2, 1, 1]]).unwrap_err()
    );
    println!(
        "{}",
        Problem::new(&h, &[0.0, f64::NAN, 0.0, 0.0]).unwrap_err()
    );
    Ok(())
}
