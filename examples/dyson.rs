//! Dyson's hierarchical Ising model at `c = 2^(1/3)` (docs/dyson.md): Binder cumulant and
//! susceptibility against `beta` for `n = 6, 8, 10, 12, 14` (`2^n` spins), solved exactly by
//! the exchangeable-blocks flow, the crossings of the Binder curves of successive sizes
//! located by Brent's method, and the same with tempered coarse levels.
//!
//! The model is `f = -(beta / 2) sum_{k=1..n} (c/4)^k sum_b m_{k,b}^2` at `tau = (1, 0, ..., 0)`
//! (the Gibbs measure); "tempered" gives the three coarsest levels `tau_k = 0.5`.
//!
//! ```text
//! cargo run --release --example dyson              # the table and the crossings
//! cargo run --release --example dyson -- --json    # the same as JSON
//! cargo run --release --features plot --example dyson -- --svg DIR
//! ```

#[macro_use]
mod common;

use argmin::core::{CostFunction, Executor};
use argmin::solver::brent::BrentRoot;
use hmaxent::families::exchangeable::Exchangeable;
use hmaxent::Temperatures;
use serde_json::{json, Value};

const SIZES: [usize; 5] = [6, 8, 10, 12, 14];

/// Temperatures for `n` levels: `tau_0 = 1`, and `t` on the `top` coarsest levels.
fn temperatures(n: usize, top: usize, t: f64) -> Vec<f64> {
    let mut tau = vec![0.0; n + 1];
    tau[0] = 1.0;
    for x in tau.iter_mut().skip(n + 1 - top.min(n)) {
        *x = t;
    }
    tau
}

/// `(U, chi)` of `2^n` spins at `beta`.
fn observe(n: usize, beta: f64, tempered: bool) -> hmaxent::Result<(f64, f64)> {
    let c = 2f64.powf(1.0 / 3.0);
    let model = Exchangeable::hierarchical_ising(n, beta, c, 0.0)?;
    let tau = if tempered {
        temperatures(n, 3, 0.5)
    } else {
        temperatures(n, 0, 0.0)
    };
    let m = model.solve(&Temperatures::new(&tau)?)?.magnetisation;
    Ok((m.binder, m.susceptibility))
}

/// `U_n(beta) - U_{n+2}(beta)`, the function whose root is a crossing.
struct Crossing {
    n: usize,
    tempered: bool,
}

impl CostFunction for Crossing {
    type Param = f64;
    type Output = f64;
    fn cost(&self, beta: &f64) -> Result<f64, argmin::core::Error> {
        let (a, _) = observe(self.n, *beta, self.tempered)?;
        let (b, _) = observe(self.n + 2, *beta, self.tempered)?;
        Ok(a - b)
    }
}

/// The crossing of sizes `n` and `n + 2` inside the bracket `[lo, hi]` (sign change).
fn crossing(n: usize, lo: f64, hi: f64, tempered: bool) -> Result<f64, argmin::core::Error> {
    let res = Executor::new(Crossing { n, tempered }, BrentRoot::new(lo, hi, 1e-11))
        .configure(|s| s.param(0.5 * (lo + hi)).max_iters(100))
        .run()?;
    Ok(res.state.best_param.unwrap_or(f64::NAN))
}

/// The table on a grid of `beta`, then the crossings of successive sizes.
fn study(tempered: bool) -> Result<Value, Box<dyn std::error::Error>> {
    let betas: Vec<f64> = (0..=24).map(|i| 0.9 + 0.025 * f64::from(i)).collect();
    let mut rows = Vec::new();
    let mut binder = vec![Vec::new(); SIZES.len()];
    for (s, &n) in SIZES.iter().enumerate() {
        for &beta in &betas {
            let (u, chi) = observe(n, beta, tempered)?;
            binder[s].push(u);
            rows.push(json!({"n": n, "beta": beta, "binder": u, "susceptibility": chi}));
        }
    }
    let mut crossings = Vec::new();
    for s in 0..SIZES.len() - 1 {
        let d: Vec<f64> = binder[s]
            .iter()
            .zip(&binder[s + 1])
            .map(|(a, b)| a - b)
            .collect();
        if let Some(i) = (0..d.len() - 1).find(|&i| d[i] * d[i + 1] <= 0.0) {
            let beta = crossing(SIZES[s], betas[i], betas[i + 1], tempered)?;
            let (u, chi) = observe(SIZES[s], beta, tempered)?;
            crossings.push(
                json!({"sizes": [SIZES[s], SIZES[s + 1]], "beta": beta, "binder": u,
                                  "susceptibility": chi}),
            );
        }
    }
    let estimate = crossings
        .last()
        .map(|c| c["beta"].clone())
        .unwrap_or(Value::Null);
    // Aitken's extrapolation of the last three crossings (their gaps shrink geometrically).
    let x: Vec<f64> = crossings
        .iter()
        .filter_map(|c| c["beta"].as_f64())
        .collect();
    let extrapolated = match x.len() {
        l if l >= 3 => {
            let (d1, d2) = (x[l - 2] - x[l - 3], x[l - 1] - x[l - 2]);
            json!(x[l - 1] - d2 * d2 / (d2 - d1))
        }
        _ => Value::Null,
    };
    Ok(
        json!({"table": rows, "crossings": crossings, "beta_c_estimate": estimate,
              "beta_c_extrapolated": extrapolated}),
    )
}

#[cfg(feature = "plot")]
fn draw(dir: &str, name: &str, study: &Value) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    std::fs::create_dir_all(dir)?;
    let path = format!("{dir}/{name}.svg");
    let root = SVGBackend::new(&path, (640, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Binder cumulant against beta ({name})"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.9..1.5, 0.0..0.7)?;
    chart.configure_mesh().x_desc("beta").y_desc("U").draw()?;
    let colours = [RED, GREEN, BLUE, MAGENTA, BLACK];
    for (s, &n) in SIZES.iter().enumerate() {
        let pts: Vec<(f64, f64)> = study["table"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["n"] == n)
            .map(|r| {
                (
                    r["beta"].as_f64().unwrap_or(0.0),
                    r["binder"].as_f64().unwrap_or(0.0),
                )
            })
            .collect();
        chart
            .draw_series(LineSeries::new(pts, colours[s]))?
            .label(format!("n = {n}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colours[s]));
    }
    let cross: Vec<(f64, f64)> = study["crossings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["beta"].as_f64().unwrap_or(0.0),
                c["binder"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    chart.draw_series(cross.iter().map(|&p| Circle::new(p, 4, BLACK.filled())))?;
    chart.configure_series_labels().border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

#[cfg(not(feature = "plot"))]
fn draw(_dir: &str, _name: &str, _study: &Value) -> Result<(), Box<dyn std::error::Error>> {
    Err("--svg needs the `plot` feature (cargo run --features plot --example dyson)".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_out = args.iter().any(|a| a == "--json");
    let svg = args
        .iter()
        .position(|a| a == "--svg")
        .map(|i| args.get(i + 1).cloned());
    if let Some(a) = args
        .iter()
        .find(|a| !["--json", "--svg"].contains(&a.as_str()))
    {
        if svg.as_ref().and_then(|s| s.as_ref()) != Some(a) {
            eprintln!("error: unknown argument {a} (use --json, --svg DIR)");
            std::process::exit(2);
        }
    }
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let start = std::time::Instant::now();
        let gibbs = study(false)?;
        let tempered = study(true)?;
        if let Some(dir) = &svg {
            let dir = dir.as_deref().ok_or("--svg needs a directory")?;
            draw(dir, "gibbs", &gibbs)?;
            draw(dir, "tempered", &tempered)?;
        }
        if json_out {
            println!(
                "{}",
                json!({"c": 2f64.powf(1.0 / 3.0), "sizes": SIZES, "gibbs": gibbs,
                                  "tempered": tempered})
            );
            return Ok(());
        }
        for (name, st) in [
            ("Gibbs measure, tau = (1, 0, ..., 0)", &gibbs),
            ("tempered: tau_k = 0.5 on the 3 coarsest levels", &tempered),
        ] {
            println!("{name}");
            println!("{:>6} {:>4} {:>10} {:>12}", "beta", "n", "binder", "chi");
            for r in st["table"].as_array().into_iter().flatten().step_by(4) {
                println!(
                    "{:6.3} {:4} {:10.6} {:12.4}",
                    r["beta"].as_f64().unwrap_or(0.0),
                    r["n"],
                    r["binder"].as_f64().unwrap_or(0.0),
                    r["susceptibility"].as_f64().unwrap_or(0.0)
                );
            }
            for c in st["crossings"].as_array().into_iter().flatten() {
                println!(
                    "crossing {}: beta = {:.10}, U = {:.6}",
                    c["sizes"],
                    c["beta"].as_f64().unwrap_or(0.0),
                    c["binder"].as_f64().unwrap_or(0.0)
                );
            }
            println!(
                "beta_c: last crossing {}, Aitken-extrapolated {}",
                st["beta_c_estimate"], st["beta_c_extrapolated"]
            );
            println!();
        }
        println!("({:.1} s)", start.elapsed().as_secs_f64());
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
