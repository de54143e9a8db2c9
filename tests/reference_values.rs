//! `hmaxent solve` against high-precision reference values (`tests/data`: about 30 digits,
//! marginals about 20, computed with mpmath at 50 digits by enumeration and an independent
//! sweep; see `tests/data/README.md`).
//!
//! Tolerances (docs/concepts.md, "11. Numerical policy", testdata/README.md): relative `1e-12` on the scale `max(|x|, 1)`;
//! marginals `1e-12 p + 1e-15`. Cases whose losses are large against `tau_0` get the fair
//! float64 allowance `eps * max|u| / tau_0` on top.

#[path = "common/reference.rs"]
mod reference;
use reference::{load, num};

use hmaxent::cli;
use serde_json::Value;

/// `eps * max|u| / tau_0`: what any float64 method loses on this problem.
fn allowance(problem: &Value) -> f64 {
    let mut max_u: f64 = 0.0;
    let mut scan = |v: &Value| {
        for x in v.as_array().into_iter().flatten() {
            if let Some(x) = x.as_f64() {
                max_u = max_u.max(x.abs());
            }
        }
    };
    scan(&problem["loss"]);
    for p in problem["potentials"].as_array().into_iter().flatten() {
        scan(p);
    }
    let tau0 = problem
        .get("temperatures")
        .or_else(|| problem.get("weights"))
        .map_or(1.0, |t| num(&t[0]));
    f64::EPSILON * max_u / tau0
}

fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1.0) + abs
}

fn check_case(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let problem = &case["problem"];
    let expected = &case["expected"];
    let got = cli::solve::run(problem, false).unwrap_or_else(|e| panic!("{name}: {e}"));
    let extra = allowance(problem);
    for (key, want) in expected.as_object().unwrap() {
        if key.starts_with('_') {
            continue;
        }
        let g = &got[key.as_str()];
        match key.as_str() {
            "marginals" => {
                for (k, (gl, wl)) in g
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(want.as_array().unwrap())
                    .enumerate()
                {
                    for (i, (gp, wp)) in gl
                        .as_array()
                        .unwrap()
                        .iter()
                        .zip(wl.as_array().unwrap())
                        .enumerate()
                    {
                        let (gp, wp) = (num(gp), num(wp));
                        assert!(
                            (gp - wp).abs() <= 1e-12 * wp + 1e-15 + extra,
                            "{name}: marginals[{k}][{i}] = {gp}, want {wp}"
                        );
                    }
                }
            }
            _ if want.is_null() => assert!(g.is_null(), "{name}: {key} = {g}, want null"),
            _ if want.is_array() => {
                let (ga, wa) = (g.as_array().unwrap(), want.as_array().unwrap());
                assert_eq!(ga.len(), wa.len(), "{name}: {key} length");
                for (i, (gx, wx)) in ga.iter().zip(wa).enumerate() {
                    let (gx, wx) = (num(gx), num(wx));
                    assert!(
                        close(gx, wx, 1e-12, extra),
                        "{name}: {key}[{i}] = {gx}, want {wx}"
                    );
                }
            }
            _ => {
                let (gx, wx) = (num(g), num(want));
                assert!(
                    close(gx, wx, 1e-12, extra),
                    "{name}: {key} = {gx}, want {wx}"
                );
            }
        }
    }
}

#[test]
fn solve_matches_fifty_digit_references() {
    for case in load("solve-reference.json")["cases"].as_array().unwrap() {
        check_case(case);
    }
}

#[test]
fn constrained_solve_matches_fifty_digit_references() {
    for case in load("solve-constrained.json")["cases"].as_array().unwrap() {
        if let Some(kind) = case.get("error") {
            let name = case["name"].as_str().unwrap();
            let err = cli::solve::run(&case["problem"], false).expect_err(name);
            assert_eq!(
                hmaxent::cli::kind_word(err.kind()),
                kind.as_str().unwrap(),
                "{name}"
            );
        } else {
            check_case(case);
        }
    }
}
