//! The `hmaxent` binary's contract (docs/cli.md): JSON in, JSON out; every bad input is exit
//! status 2, nothing on stdout, and exactly one stderr line `error: <kind>: <message>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args`, feeding `stdin`.
fn run(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // A process that fails before reading stdin closes the pipe: ignore that write error.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A file holding `text`, unique to this test process.
fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("hmaxent-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn ok_json(r: &Run, what: &str) -> Value {
    assert_eq!(r.code, Some(0), "{what}: stderr {}", r.stderr);
    assert!(r.stderr.is_empty(), "{what}: stderr {}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{what}: one line of JSON");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{what}: {e}: {}", r.stdout))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

/// Theorem A's hierarchy: {0, 1} -> 0, {2, 3} -> 1.
const GOOD: &str = r#"{"parents": [[0, 0, 1, 1]], "loss": [0, 0, 0, 0], "temperatures": [1, 1]}"#;

#[test]
fn a_good_problem_prints_its_solution_as_json() {
    let v = ok_json(&run(&["solve"], GOOD), "stdin");
    // Zero loss, tau = (1, 1): uniform, F = -(log 4 + log 2).
    let ln2 = 2f64.ln();
    assert!((num(&v["free_energy"]) + 3.0 * ln2).abs() < 1e-14);
    assert_eq!(nums(&v["temperatures"]), vec![1.0, 1.0]);
    assert_eq!(nums(&v["cumulative_temperatures"]), vec![1.0, 2.0]);
    let h = nums(&v["entropies"]);
    assert!((h[0] - 2.0 * ln2).abs() < 1e-14 && (h[1] - ln2).abs() < 1e-14);
    assert_eq!(num(&v["expected_loss"]), 0.0);
    assert_eq!(nums(&v["expected_level_losses"]), vec![0.0, 0.0]);
    let m = v["marginals"].as_array().unwrap();
    assert_eq!(nums(&m[0]), vec![0.25; 4]);
    assert_eq!(nums(&m[1]), vec![0.5; 2]);
    assert!(v.get("relative_entropies").is_none());

    // `null` forbids a state; a reference adds relative entropies.
    let v = ok_json(
        &run(
            &["solve"],
            r#"{"parents": [[0, 0, 1, 1]], "loss": [0, null, 0, 1], "reference": [1, 1, 2, 0],
                "temperatures": [1, 0]}"#,
        ),
        "null and reference",
    );
    // tau_1 = 0: P* ∝ Q exp(-f) on the allowed states {0, 2}: (1/3, 0, 2/3, 0).
    let p = nums(&v["marginals"][0]);
    for (got, want) in p.iter().zip([1.0 / 3.0, 0.0, 2.0 / 3.0, 0.0]) {
        assert!((got - want).abs() < 1e-15);
    }
    assert_eq!(nums(&v["relative_entropies"]).len(), 2);
}

#[test]
fn the_summary_omits_the_marginals_only() {
    let full = ok_json(&run(&["solve"], GOOD), "full");
    let summary = ok_json(&run(&["solve", "--summary"], GOOD), "summary");
    assert!(summary.get("marginals").is_none());
    let mut without = full.as_object().unwrap().clone();
    without.remove("marginals");
    assert_eq!(&without, summary.as_object().unwrap());
}

#[test]
fn input_comes_from_a_file_from_a_dash_or_from_stdin() {
    let path = file("good.json", GOOD);
    let from_file = ok_json(&run(&["solve", path.to_str().unwrap()], ""), "file");
    let from_dash = ok_json(&run(&["solve", "-"], GOOD), "dash");
    let from_stdin = ok_json(&run(&["solve"], GOOD), "stdin");
    assert_eq!(from_file, from_dash);
    assert_eq!(from_file, from_stdin);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_mean_constrained_problem_reports_its_multiplier() {
    // Jaynes' die with mean 4.5: lambda = -0.371048938081033338 (maximum entropy with a
    // mean above the unconstrained 3.5 gives a negative multiplier).
    let v = ok_json(
        &run(
            &["solve", "--summary"],
            r#"{"parents": [], "loss": [1, 2, 3, 4, 5, 6], "weights": [1], "mean": 4.5}"#,
        ),
        "die",
    );
    assert!((num(&v["multiplier"]) + 0.371_048_938_081_033).abs() < 1e-12);
    assert_eq!(v["boundary"], Value::Bool(false));
    assert!((num(&v["expected_loss"]) - 4.5).abs() < 1e-12);
    assert!((num(&v["objective"]) - nums(&v["entropies"])[0]).abs() < 1e-15);
    // Slack inequality: multiplier 0.
    let v = ok_json(
        &run(
            &["solve", "--summary"],
            r#"{"parents": [], "loss": [1, 2, 3, 4, 5, 6], "weights": [1], "mean_at_most": 5}"#,
        ),
        "slack",
    );
    assert_eq!(num(&v["multiplier"]), 0.0);
    // Boundary: multiplier null, flagged.
    let v = ok_json(
        &run(
            &["solve"],
            r#"{"parents": [[0, 0, 1, 1]], "loss": [0, 0, 0, 1], "weights": [1, 1], "mean": 0}"#,
        ),
        "boundary",
    );
    assert!(v["multiplier"].is_null());
    assert_eq!(v["boundary"], Value::Bool(true));
}

/// Bad inputs on stdin, and the kind each must report.
const BAD: &[(&str, &str, &str)] = &[
    (
        "malformed JSON",
        r#"{"parents": [[0, 0]], "loss": [0, "#,
        "invalid_input",
    ),
    ("empty input", "", "invalid_input"),
    (
        "bare NaN",
        r#"{"parents": [], "loss": [NaN], "temperatures": [1]}"#,
        "invalid_input",
    ),
    (
        "NaN as a string",
        r#"{"parents": [], "loss": ["NaN"], "temperatures": [1]}"#,
        "invalid_input",
    ),
    (
        "number beyond f64",
        r#"{"parents": [], "loss": [1e400], "temperatures": [1]}"#,
        "invalid_input",
    ),
    ("top level not an object", r#"[1, 2]"#, "invalid_input"),
    (
        "unknown field",
        r#"{"parents": [], "loss": [1], "temperatures": [1], "temperature": [1]}"#,
        "invalid_input",
    ),
    (
        "missing loss",
        r#"{"parents": [[0, 0]], "temperatures": [1, 1]}"#,
        "invalid_input",
    ),
    (
        "loss not an array",
        r#"{"parents": [], "loss": 1, "temperatures": [1]}"#,
        "invalid_input",
    ),
    (
        "loss of the wrong length",
        r#"{"parents": [[0, 0, 1, 1]], "loss": [0, 0, 0], "temperatures": [1, 1]}"#,
        "invalid_input",
    ),
    (
        "temperatures of the wrong length",
        r#"{"parents": [[0, 0, 1, 1]], "loss": [0, 0, 0, 0], "temperatures": [1]}"#,
        "invalid_input",
    ),
    (
        "potentials of the wrong length",
        r#"{"parents": [[0, 0, 1, 1]], "loss": [0, 0, 0, 0], "potentials": [[1]], "temperatures": [1, 1]}"#,
        "invalid_input",
    ),
    (
        "negative temperature",
        r#"{"parents": [[0, 0]], "loss": [0, 0], "temperatures": [1, -1]}"#,
        "invalid_input",
    ),
    (
        "zero tau_0",
        r#"{"parents": [[0, 0]], "loss": [0, 0], "temperatures": [0, 1]}"#,
        "invalid_input",
    ),
    (
        "temperature as a string",
        r#"{"parents": [], "loss": [0], "temperatures": ["1"]}"#,
        "invalid_input",
    ),
    (
        "negative parent index",
        r#"{"parents": [[0, -1]], "loss": [0, 0], "temperatures": [1, 1]}"#,
        "invalid_input",
    ),
    (
        "fractional parent index",
        r#"{"parents": [[0, 0.5]], "loss": [0, 0], "temperatures": [1, 1]}"#,
        "invalid_input",
    ),
    (
        "parent index beyond the finer level",
        r#"{"parents": [[0, 5]], "loss": [0, 0], "temperatures": [1, 1]}"#,
        "invalid_input",
    ),
    (
        "growing level sizes",
        r#"{"parents": [[0, 0, 1], [0, 2]], "loss": [0, 0, 0], "temperatures": [1, 1, 1]}"#,
        "invalid_input",
    ),
    (
        "parents of the wrong length",
        r#"{"parents": [[0, 0, 1], [0]], "loss": [0, 0, 0], "temperatures": [1, 1, 1]}"#,
        "invalid_input",
    ),
    (
        "both parents and tree",
        r#"{"parents": [], "tree": {"branching": 2, "depth": 1}, "loss": [0], "temperatures": [1]}"#,
        "invalid_input",
    ),
    (
        "tree too large for memory",
        r#"{"tree": {"branching": 2, "depth": 48}, "loss": [], "temperatures": [1]}"#,
        "invalid_input",
    ),
    (
        "tree with branching 0",
        r#"{"tree": {"branching": 0, "depth": 2}, "loss": [], "temperatures": [1, 1, 1]}"#,
        "invalid_input",
    ),
    (
        "both temperatures and weights",
        r#"{"parents": [], "loss": [0, 1], "temperatures": [1], "weights": [1], "mean": 0.5}"#,
        "invalid_input",
    ),
    (
        "neither temperatures nor weights",
        r#"{"parents": [], "loss": [0, 1]}"#,
        "invalid_input",
    ),
    (
        "mean with temperatures",
        r#"{"parents": [], "loss": [0, 1], "temperatures": [1], "mean": 0.5}"#,
        "invalid_input",
    ),
    (
        "weights without a mean",
        r#"{"parents": [], "loss": [0, 1], "weights": [1]}"#,
        "invalid_input",
    ),
    (
        "both mean and mean_at_most",
        r#"{"parents": [], "loss": [0, 1], "weights": [1], "mean": 0.5, "mean_at_most": 0.5}"#,
        "invalid_input",
    ),
    (
        "zero w_0",
        r#"{"parents": [[0, 0]], "loss": [0, 1], "weights": [0, 1], "mean": 0.5}"#,
        "invalid_input",
    ),
    (
        "a mean beside features without a loss",
        r#"{"parents": [[0, 0, 1, 1]], "features": [[1, 2, 3, 4]], "targets": [2], "weights": [1, 1], "mean": 0}"#,
        "invalid_input",
    ),
    (
        "negative reference",
        r#"{"parents": [], "loss": [0, 1], "reference": [1, -1], "temperatures": [1]}"#,
        "invalid_input",
    ),
    (
        "every state forbidden",
        r#"{"parents": [[0, 0]], "loss": [null, null], "temperatures": [1, 1]}"#,
        "infeasible",
    ),
    (
        "zero reference",
        r#"{"parents": [], "loss": [0, 1], "reference": [0, 0], "temperatures": [1]}"#,
        "infeasible",
    ),
    (
        "reference zero where allowed",
        r#"{"parents": [], "loss": [0, null], "reference": [0, 1], "temperatures": [1]}"#,
        "infeasible",
    ),
    (
        "mean above the attainable range",
        r#"{"parents": [], "loss": [0, 1], "weights": [1], "mean": 2}"#,
        "infeasible",
    ),
    (
        "mean below the attainable range",
        r#"{"parents": [], "loss": [0, 1], "weights": [1], "mean_at_most": -1}"#,
        "infeasible",
    ),
];

/// Exit 2, nothing on stdout, one stderr line `error: <kind>: <message>`.
fn assert_refused(r: &Run, kind: &str, what: &str) {
    assert_eq!(
        r.code,
        Some(2),
        "{what}: exit {:?}, stderr {}",
        r.code,
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{what}: stdout {}", r.stdout);
    assert!(r.stderr.ends_with('\n'), "{what}: stderr {:?}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{what}: stderr {:?}", r.stderr);
    let prefix = format!("error: {kind}: ");
    assert!(
        r.stderr.starts_with(&prefix) && r.stderr.trim_end().len() > prefix.len(),
        "{what}: stderr {:?}, want {prefix:?}",
        r.stderr
    );
}

#[test]
fn every_bad_input_is_exit_2_with_one_error_line_of_its_kind() {
    for (what, input, kind) in BAD {
        assert_refused(&run(&["solve"], input), kind, what);
        assert_refused(&run(&["solve", "--summary", "-"], input), kind, what);
    }
}

#[test]
fn an_unreadable_file_is_an_io_error() {
    let missing =
        std::env::temp_dir().join(format!("hmaxent-cli-{}-missing.json", std::process::id()));
    assert_refused(
        &run(&["solve", missing.to_str().unwrap()], ""),
        "io",
        "missing file",
    );
    let dir = std::env::temp_dir();
    assert_refused(
        &run(&["solve", dir.to_str().unwrap()], ""),
        "io",
        "a directory",
    );
    let bad_utf8 =
        std::env::temp_dir().join(format!("hmaxent-cli-{}-latin1.json", std::process::id()));
    std::fs::write(&bad_utf8, b"{\"loss\": [\xff]}").unwrap();
    let r = run(&["solve", bad_utf8.to_str().unwrap()], "");
    assert_eq!(r.code, Some(2));
    assert!(r.stdout.is_empty());
    std::fs::remove_file(bad_utf8).unwrap();
}

#[test]
fn usage_errors_exit_2_with_a_usage_message() {
    for args in [
        &["frobnicate"][..],
        &["solve", "--no-such-flag"],
        &["solve", "a.json", "b.json"],
        &[],
    ] {
        let r = run(args, GOOD);
        assert_eq!(r.code, Some(2), "{args:?}: exit {:?}", r.code);
        assert!(r.stdout.is_empty(), "{args:?}: stdout {}", r.stdout);
        assert!(
            r.stderr.to_lowercase().contains("usage"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // --help is not an error.
    let r = run(&["--help"], "");
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("solve"));
}

#[test]
fn integer_valued_floats_are_indices() {
    // `1.0`, `-0` and `1e0` are the integers 1, 0 and 1; `1.5` is not an index.
    let solve = |text: &str| run(&["solve", "--summary"], text);
    let a =
        solve(r#"{"parents": [[0, 1.0, -0, 1e0]], "loss": [0, 1, 2, 3], "temperatures": [1, 1]}"#);
    let b = solve(r#"{"parents": [[0, 1, 0, 1]], "loss": [0, 1, 2, 3], "temperatures": [1, 1]}"#);
    assert_eq!((a.code, b.code), (Some(0), Some(0)), "{}", a.stderr);
    assert_eq!(a.stdout, b.stdout);
    let c = solve(r#"{"parents": [[0, 1.5]], "loss": [0, 1], "temperatures": [1, 1]}"#);
    assert_eq!(c.code, Some(2));
    assert!(
        c.stderr.starts_with("error: invalid_input: parents[0][1]"),
        "{}",
        c.stderr
    );
}

/// Valid input whose work would run far beyond a few seconds is refused before any of it,
/// naming the limit: a chain's `q^3` decimation kernel times its levels, a constrained
/// chain's root search, Dyson's model's `4^n`, a quadratic's `sum_k m_k^3`, a frontier's
/// points times their solves.
#[test]
fn work_beyond_the_limits_is_refused_at_once_naming_the_limit() {
    let chain = |q: usize, levels: usize, tail: &str| {
        let row = vec!["0.5"; q].join(",");
        let bond = vec![format!("[{row}]"); q].join(",");
        format!(
            r#"{{"family": "chain", "levels": {levels}, "boundary": "open", "bond": [{bond}], {tail}}}"#
        )
    };
    let ones = |n: usize| vec!["1"; n].join(",");
    let zeros = |n: usize| vec!["0"; n].join(",");
    let square = |n: usize, rows: usize| {
        let row = format!("[{}]", zeros(n));
        format!("[{}]", vec![row; rows].join(","))
    };
    let cases = [
        (
            "flow",
            chain(256, 1000, &format!(r#""temperatures": [{}]"#, ones(1001))),
            "the limit is 67108864 (MAX_FLOW_WORK",
        ),
        (
            "flow",
            chain(
                64,
                16,
                &format!(r#""weights": [{}], "mean": 100"#, ones(17)),
            ),
            "16 solve(s)",
        ),
        (
            "flow",
            format!(
                r#"{{"family": "hierarchical-ising", "levels": 17, "coupling": 1, "c": 1.5, "temperatures": [{}]}}"#,
                ones(18)
            ),
            "at most 16 levels",
        ),
        (
            "flow",
            format!(
                r#"{{"family": "quadratic", "A": {}, "b": [{}], "maps": [{}], "temperatures": [1, 1]}}"#,
                square(1024, 1024),
                zeros(1024),
                square(1024, 1000)
            ),
            "the limit is 1073741824 (MAX_WORK",
        ),
        (
            "pareto",
            format!(
                r#"{{"tree": {{"branching": 2, "depth": 12}}, "loss": [{}], "mean": 0.5, "weights": [{}]}}"#,
                (0..4096)
                    .map(|i| (i % 2).to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                vec![format!("[{}]", ones(13)); 50_000].join(",")
            ),
            "exceed the limit of one solve's work",
        ),
    ];
    for (command, input, limit) in cases {
        let start = std::time::Instant::now();
        let r = run(&[command], &input);
        assert_refused(&r, "invalid_input", limit);
        assert!(r.stderr.contains(limit), "{limit}: {}", r.stderr);
        assert!(
            start.elapsed().as_secs_f64() < 3.0,
            "{limit}: {:?}",
            start.elapsed()
        );
    }
}

/// The input limit is a thirty-second of the memory budget (`HMAXENT_MEMORY_BUDGET` sets
/// it): 32 MiB of budget reads at most 1 MiB, and a larger text is refused naming the limit.
#[test]
fn the_input_limit_follows_the_memory_budget() {
    let text = format!(
        r#"{{"parents": [], "loss": [{}], "temperatures": [1]}}"#,
        vec!["0"; 600_000].join(",")
    );
    let path = file("input-limit.json", &text);
    let out = Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .args(["solve", "--summary", path.to_str().unwrap()])
        .env("HMAXENT_MEMORY_BUDGET", (32u64 << 20).to_string())
        .output()
        .unwrap();
    let r = Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert_refused(&r, "invalid_input", "input limit");
    assert!(
        r.stderr.contains("input limit of 1048576 bytes"),
        "{}",
        r.stderr
    );
    // The same text within the default budget is solved: 600,000 free states.
    let r = run(&["solve", "--summary", path.to_str().unwrap()], "");
    let v = ok_json(&r, "default budget");
    let h0 = num(&v["entropies"][0]);
    assert!((h0 - 600_000f64.ln()).abs() < 1e-9, "{h0}");
    let _ = std::fs::remove_file(path);
}

/// Hundreds of sparse features (one state each, `<=` a third of its uniform mass) on 4,096
/// leaves are solved and meet their targets; one more than the limit of 512 is refused by
/// name before anything is built.
#[test]
fn hundreds_of_sparse_features_are_solved_and_too_many_are_refused() {
    let problem = |m: usize| {
        let features: Vec<String> = (0..m)
            .map(|i| format!(r#"{{"indices": [{}], "values": [1]}}"#, 7 * i))
            .collect();
        let c = 1.0 / 4096.0 / 3.0;
        format!(
            r#"{{"tree": {{"branching": 2, "depth": 12}}, "weights": [{}], "features": [{}], "targets": [{}], "sense": [{}]}}"#,
            vec!["1"; 13].join(","),
            features.join(","),
            vec![c.to_string(); m].join(","),
            vec![r#""le""#; m].join(",")
        )
    };
    let r = run(&["solve", "--summary"], &problem(300));
    let v = ok_json(&r, "300 sparse features");
    let c = 1.0 / 4096.0 / 3.0;
    let got = nums(&v["expected_features"]);
    assert_eq!(got.len(), 300);
    for (i, e) in got.iter().enumerate() {
        assert!(
            (e - c).abs() <= 1e-9 * (1.0 + 1.0),
            "feature {i}: {e} vs {c}"
        );
    }
    assert_eq!(v["boundary"], Value::Bool(false));
    let r = run(&["solve", "--summary"], &problem(513));
    assert_refused(&r, "invalid_input", "513 features");
    assert!(r.stderr.contains("512"), "{}", r.stderr);
}

/// Inputs an outside fuzzer found breaking the contract, each now a checked answer:
/// reference masses whose normalised values underflow `f64` (once forbidden silently, or an
/// overflow), a slack inequality under a weight of `1e12` (once a panic on an empty
/// matrix), weights of `1e9` (a duality gap at its rounding floor, once `numerical`), and
/// a single-level problem with sparse features whose size the reference gives.
#[test]
fn edge_inputs_found_by_fuzzing_are_answered() {
    let met = |input: &str, expected: &[f64]| {
        let v = ok_json(&run(&["solve", "--summary"], input), input);
        let got = nums(&v["expected_features"]);
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() <= 2e-9 * (1.0 + e.abs()), "{input}: {got:?}");
        }
        v
    };
    // Q = (1e-400, 1): state 0 is allowed; D(P || Q) = 0.5 (log 0.5 + 400 log 10) + 0.5 log 0.5.
    let v = met(
        r#"{"parents":[],"weights":[1],"reference":[1e-200,1e200],"targets":[0.5],"features":[[0,1]]}"#,
        &[0.5],
    );
    let d = 0.5 * (0.5f64.ln() + 400.0 * 10f64.ln()) + 0.5 * 0.5f64.ln();
    assert!((num(&v["objective"]) + d).abs() <= 1e-12 * d, "{v}");
    met(
        r#"{"parents":[],"weights":[1],"reference":[5e-324,2],"targets":[0.5],"features":[[0,1]]}"#,
        &[0.5],
    );
    met(
        r#"{"parents":[],"weights":[1],"reference":[1e-307,99],"targets":[0.5],"features":[[0,1]]}"#,
        &[0.5],
    );
    met(
        r#"{"parents":[],"weights":[1e12],"reference":[0.9,1],"sense":["le"],"targets":[1],"features":[[0,0.5]]}"#,
        &[0.5 / 1.9],
    );
    met(
        r#"{"parents":[[0,1]],"weights":[1,1e9],"reference":[1,1],"sense":["le"],"targets":[1],"features":[[0,0.5]]}"#,
        &[0.25],
    );
    met(
        r#"{"parents":[],"weights":[1e9],"reference":[1.0,0.5],"sense":["eq"],"targets":[1.0],"features":[[1.0,1.0]]}"#,
        &[1.0],
    );
    met(
        r#"{"parents":[],"weights":[1],"reference":[1,1,1],"features":[{"indices":[0],"values":[1]}],"targets":[0.5]}"#,
        &[0.5],
    );
    met(
        r#"{"parents":[],"weights":[1],"features":[{"indices":[0],"values":[1]},[1,2,3]],"targets":[0.5,2]}"#,
        &[0.5, 2.0],
    );
    // A weight of 1e3 on the top level: D near 0 is what is left of terms near 3e3
    // (-1e3 log Q_2), with their rounding (4e-13 from point to point); a rounding bound from
    // |D| and |F| alone (1.5e-14) made the line search refuse every Newton step near the
    // answer ('numerical' after 17 iterations and 368 sweeps).
    let spread = 1_980_710.682 + 1_342_046.304;
    let input = r#"{"parents": [[0, 1, 2, 3, 1, 2, 2, 1, 0, 1, 3, 3, 2, 3, 2, 0], [0, 1, 2, 1]], "weights": [1.0, 1.0, 1000.0], "features": [[1631000.441, -305556.122, 1536258.266, -1342046.304, -1290254.258, -1077589.303, -1293120.077, -1305644.985, 40666.774, -561234.385, 54949.602, 239561.265, 1980710.682, -217449.552, -341316.022, 101462.868]], "targets": [-121684.97993110666], "reference": [1.8215, 0.7603, 1.2073, 0.7557, 1.725, 0.9192, 1.9121, 0.8297, 1.4903, 1.3271, 0.5373, 0.5942, 1.0212, 1.055, 1.6026, 1.3403]}"#;
    let v = met(input, &[-121_684.979_931_106_66]);
    assert!(num(&v["duality_gap"]).abs() <= 1e-9 * (1.0 + spread), "{v}");
}
