//! A seeded fuzz test of the front door: mutated inputs for `solve`, `pareto` and `flow`.
//!
//! Every run must end in one JSON object (exit 0) or one line `error: <kind>: ...` with a
//! known kind (exit 2): never a panic (exit 101), never longer than 10 s, never a resident
//! set over 1 GB. Most inputs go through the subcommands in-process (a panic is caught and
//! counted; the test process's own peak resident set is checked at the end); a sample goes
//! through the binary itself, which checks the exit status and the streams, kills a run at
//! 10 s, and reads the children's peak resident set (`getrusage(RUSAGE_CHILDREN)`, Linux).

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmaxent::cli;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Valid inputs the mutations start from.
fn seeds() -> Vec<(&'static str, Value)> {
    vec![
        (
            "solve",
            json!({"parents": [[0, 0, 1, 1]], "loss": [0.5, 1.0, null, 2.0],
                   "temperatures": [1.0, 0.5]}),
        ),
        (
            "solve",
            json!({"tree": {"branching": 2, "depth": 2}, "loss": [0, 1, 2, 3],
                   "weights": [1, 0.5, 0.25], "mean": 1.2}),
        ),
        (
            "solve",
            json!({"parents": [], "weights": [1], "features": [[0, 1, 0, 0],
                   [1000001, 1000001, 1000000, 1000000]], "targets": [0.1, 1000000.3]}),
        ),
        (
            "solve",
            json!({"parents": [[0, 0, 1]], "weights": [1, 0.5], "loss": [0, 1, 2],
                   "features": [[1, 0, 0], {"indices": [2], "values": [1]}],
                   "targets": [0.2, 0.3], "sense": ["le", "ge"],
                   "reference": [1e-15, 1, 1]}),
        ),
        (
            "pareto",
            json!({"parents": [[0, 0, 1, 1]], "loss": [0, 1, 2, 3],
                   "weights_grid": {"steps": 4}}),
        ),
        (
            "pareto",
            json!({"parents": [[0, 0, 1, 1]], "loss": [0, 1, 2, 3], "mean": 1.5,
                   "weights": [[1, 0], [0.5, 0.5]]}),
        ),
        (
            "flow",
            json!({"family": "chain", "levels": 3, "boundary": "open",
                   "bond": [[0, 1], [1, 0]], "temperatures": [1, 1, 1, 1]}),
        ),
        (
            "flow",
            json!({"family": "log-cascade", "branching": 2, "depth": 3, "kappa": 1.5,
                   "temperatures": [1, 1, 1, 1]}),
        ),
    ]
}

/// Replacement values: wrong types, extremes, huge sizes.
fn wild(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(0),
        3 => json!(1e308),
        4 => json!(-1e308),
        5 => json!(1e-300),
        6 => json!("x"),
        7 => json!([]),
        8 => json!({}),
        9 => json!(100000000u64),
        10 => json!(18446744073709551615u64),
        11 => json!([1e300, -1e300]),
        12 => json!({"branching": 1, "depth": 100000000}),
        13 => json!({"branching": 2, "depth": 40}),
        14 => json!(true),
        _ => json!(rng.random_range(-5.0..5.0)),
    }
}

/// One random edit somewhere in `v`.
fn mutate(v: &mut Value, rng: &mut StdRng, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = keys[rng.random_range(0..keys.len())].clone();
            match rng.random_range(0..6) {
                0 => {
                    m.remove(&k);
                }
                1 => {
                    m.insert(k, wild(rng));
                }
                2 => {
                    m.insert(format!("{k}_extra"), wild(rng));
                }
                _ if depth < 4 => mutate(m.get_mut(&k).unwrap(), rng, depth + 1),
                _ => {
                    m.insert(k, wild(rng));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => match rng.random_range(0..6) {
            0 => {
                a.pop();
            }
            1 => {
                let x = a[rng.random_range(0..a.len())].clone();
                a.push(x);
            }
            2 => {
                let i = rng.random_range(0..a.len());
                a[i] = wild(rng);
            }
            _ if depth < 4 => {
                let i = rng.random_range(0..a.len());
                mutate(&mut a[i], rng, depth + 1);
            }
            _ => a.clear(),
        },
        _ => *v = wild(rng),
    }
}

/// A mutated input as text (sometimes with a text-level edit: a duplicated key, a cut).
fn input(rng: &mut StdRng) -> (&'static str, String) {
    let all = seeds();
    let (cmd, mut v) = all[rng.random_range(0..all.len())].clone();
    for _ in 0..rng.random_range(0..4) {
        mutate(&mut v, rng, 0);
    }
    let mut text = v.to_string();
    match rng.random_range(0..12) {
        0 if text.len() > 2 => {
            let cut = rng.random_range(1..text.len());
            text.truncate(cut);
        }
        1 if text.starts_with('{') && text.len() > 2 => {
            // The first key twice.
            if let Some(end) = text.find(',') {
                let first = text[1..end].to_string();
                text = format!("{{{first},{}", &text[1..]);
            }
        }
        _ => {}
    }
    (cmd, text)
}

const KINDS: [&str; 4] = ["invalid_input", "infeasible", "numerical", "io"];

/// Runs one input in-process: `Ok(())` when the outcome keeps the contract.
fn in_process(cmd: &str, text: &str) -> Result<(), String> {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let v = cli::parse(text)?;
        match cmd {
            "solve" => cli::solve::run(&v, true),
            "pareto" => cli::pareto::run(&v, None),
            _ => cli::flow::run(&v, true),
        }
    }));
    if start.elapsed() > TIME_LIMIT {
        return Err(format!("took {:?}", start.elapsed()));
    }
    match outcome {
        Err(_) => Err("panicked".to_string()),
        Ok(Ok(Value::Object(_))) => Ok(()),
        Ok(Ok(v)) => Err(format!("not an object: {v}")),
        Ok(Err(e)) => {
            let line = cli::error_line(&e);
            let kind = line
                .strip_prefix("error: ")
                .and_then(|r| r.split(':').next())
                .unwrap_or("");
            if KINDS.contains(&kind) && !line.contains('\n') {
                Ok(())
            } else {
                Err(format!("bad error line {line:?}"))
            }
        }
    }
}

/// The limits of one run of the binary.
const TIME_LIMIT: Duration = Duration::from_secs(10);
const RSS_LIMIT_KB: i64 = 1 << 20;

/// The largest resident set (KB) of any child process waited for so far
/// (`getrusage(RUSAGE_CHILDREN)`, Linux only; `None` elsewhere).
#[cfg(target_os = "linux")]
fn children_max_rss_kb() -> Option<i64> {
    // SAFETY: getrusage writes one `rusage` into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    (rc == 0).then_some(usage.ru_maxrss as i64)
}

#[cfg(not(target_os = "linux"))]
fn children_max_rss_kb() -> Option<i64> {
    None
}

/// Runs one input through the binary: exit 0 with one JSON object on stdout, or exit 2 with
/// one error line on stderr and nothing on stdout; killed (and failed) after 10 s, failed if
/// a child's resident set ever exceeded 1 GB.
fn through_binary(cmd: &str, text: &str) -> Result<(), String> {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .args(
            [cmd, "--summary"]
                .iter()
                .take(if cmd == "pareto" { 1 } else { 2 }),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().unwrap();
    let text = text.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {:?}", start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let out = std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if let Some(kb) = children_max_rss_kb().filter(|&kb| kb > RSS_LIMIT_KB) {
        return Err(format!("a child's resident set reached {kb} KB"));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => match serde_json::from_str::<Value>(stdout.trim_end()) {
            Ok(Value::Object(_)) if stdout.ends_with('\n') && stdout.lines().count() == 1 => Ok(()),
            _ => Err(format!("exit 0 without one JSON object: {stdout:.200}")),
        },
        Some(2) => {
            let kind = stderr
                .strip_prefix("error: ")
                .and_then(|r| r.split(':').next())
                .unwrap_or("");
            if stdout.is_empty() && stderr.lines().count() == 1 && KINDS.contains(&kind) {
                Ok(())
            } else {
                Err(format!("exit 2 with stderr {stderr:?}"))
            }
        }
        c => Err(format!("exit {c:?}, stderr {stderr:.300}")),
    }
}

fn fuzz(seed: u64, count: usize, every_binary: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut failures = Vec::new();
    for n in 0..count {
        let (cmd, text) = input(&mut rng);
        let check = if n % every_binary == 0 {
            through_binary(cmd, &text)
        } else {
            in_process(cmd, &text)
        };
        if let Err(why) = check {
            failures.push(format!("{cmd} {text:.300}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if let Some(kb) = own_max_rss_kb() {
        assert!(kb <= RSS_LIMIT_KB, "the in-process runs reached {kb} KB");
    }
}

/// The test process's own peak resident set (KB), Linux only.
#[cfg(target_os = "linux")]
fn own_max_rss_kb() -> Option<i64> {
    // SAFETY: as in `children_max_rss_kb`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    (rc == 0).then_some(usage.ru_maxrss as i64)
}

#[cfg(not(target_os = "linux"))]
fn own_max_rss_kb() -> Option<i64> {
    None
}

#[test]
fn mutated_inputs_keep_the_contract() {
    fuzz(7, 600, 20);
}

/// The long run (`cargo test --test fuzz_cli -- --ignored`); `FUZZ_SEED=<seed>` and
/// `FUZZ_COUNT=<inputs>` run another stream.
#[test]
#[ignore = "minutes; the default run covers 600 inputs"]
fn many_mutated_inputs_keep_the_contract() {
    let var = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| v.parse().expect("an integer"))
    };
    let count = usize::try_from(var("FUZZ_COUNT", 20_000)).expect("a count");
    fuzz(var("FUZZ_SEED", 1_000_003), count, 50);
}

#[test]
fn a_closed_stdout_ends_quietly_not_in_a_panic() {
    let text = json!({"tree": {"branching": 2, "depth": 16}, "loss": vec![0.0; 1 << 16],
                      "temperatures": vec![1.0; 17]})
    .to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .arg("solve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    // Close our end of stdout at once: the binary's write fails with a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(141),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn a_control_byte_is_malformed_json() {
    let path = std::env::temp_dir().join(format!("hmaxent-ctl-{}.json", std::process::id()));
    std::fs::write(
        &path,
        b"{\"parents\": [], \"loss\": [0, \x01 1], \"temperatures\": [1]}",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .args(["solve", path.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: invalid_input: malformed JSON") && err.contains("0x01"),
        "{err}"
    );
}

#[test]
fn devices_and_directories_are_io_errors() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hmaxent"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for path in ["/dev/zero", "/tmp"] {
        let out = run(&["solve", path]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: io: "));
    }
    // `/dev/zero` as stdin, too.
    let out = Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .arg("solve")
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: io: cannot read stdin: a device")
    );
}

#[test]
fn a_path_that_is_a_pipe_is_read_like_a_file() {
    use std::io::Write;
    // `/dev/stdin` is the pipe below, as `<(...)` would be in a shell.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .args(["solve", "--summary", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"parents": [], "loss": [0, 1], "temperatures": [1]}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["free_energy"].as_f64().unwrap();
    assert!((f + (1.0 + (-1f64).exp()).ln()).abs() < 1e-15, "{f}");
}

#[test]
fn duplicate_keys_are_refused_by_name() {
    for text in [
        r#"{"parents": [], "loss": [1, 2], "loss": [1, 2], "temperatures": [1]}"#,
        r#"{"tree": {"branching": 2, "branching": 2, "depth": 1}, "loss": [0, 0], "temperatures": [1, 1]}"#,
    ] {
        let e = cli::parse(text).unwrap_err();
        let line = cli::error_line(&e);
        assert!(line.starts_with("error: invalid_input: "), "{line}");
        assert!(line.contains("duplicate key"), "{line}");
    }
}

#[test]
fn sizes_are_checked_before_allocation_and_name_their_limit() {
    let cases = [
        (
            "solve",
            json!({"tree": {"branching": 1, "depth": 100000000}, "loss": [0], "temperatures": [1]}),
            "memory budget",
        ),
        (
            "solve",
            json!({"tree": {"branching": 2, "depth": 48}, "loss": [0], "temperatures": [1]}),
            "limit",
        ),
        (
            // Moment mode without a loss: nothing of the tree's size is read from the input.
            "solve",
            json!({"tree": {"branching": 2, "depth": 31}, "weights": vec![1.0; 32],
                   "features": [{"indices": [0], "values": [1.0]}], "targets": [0.5]}),
            "memory budget",
        ),
        (
            // A small tree, but more features than one Newton step can diagonalise.
            "solve",
            json!({"tree": {"branching": 2, "depth": 4}, "weights": vec![1.0; 5],
                   "features": vec![json!({"indices": [0], "values": [1.0]}); 513],
                   "targets": vec![0.5; 513]}),
            "limit of 512",
        ),
        (
            "pareto",
            json!({"parents": [[0, 0]], "loss": [0, 1], "weights_grid": {"steps": 1000000}}),
            "100000",
        ),
    ];
    for (cmd, v, limit) in cases {
        let e = match cmd {
            "solve" => cli::solve::run(&v, true),
            _ => cli::pareto::run(&v, None),
        }
        .unwrap_err();
        let line = cli::error_line(&e);
        assert!(line.starts_with("error: invalid_input: "), "{line}");
        assert!(line.contains(limit), "{line}");
    }
    let q = 1000;
    let bond = vec![vec![0.0; q]; q];
    let v = json!({"family": "chain", "levels": 2, "boundary": "open", "bond": bond,
                   "temperatures": [1, 1, 1]});
    let line = cli::error_line(&cli::flow::run(&v, true).unwrap_err());
    assert!(line.contains("256"), "{line}");
}

#[test]
fn features_near_the_largest_float_end_in_an_error_not_a_panic() {
    // Found by the long run (seeds 11, 12, 13 x 1000003): differences of points near
    // `f64::MAX` overflowed into the nearest-point search, whose SVD panicked on NaN.
    for text in [
        r#"{"features":[[0,1,0,0],[1000001,1000001,-1e+308,1000000]],"parents":[],"targets":[0.1,1e+308],"weights":[1]}"#,
        r#"{"features":[[0,1,-1e+308,0],[1000001,1000001,1000000,1000000]],"parents":[],"targets":[1e+308,1000000.3],"weights":[1]}"#,
        r#"{"features":[[0,1,0,0],[1000001,1000001,1e+308,1000000]],"parents":[],"targets":[0.1,-1e+308],"weights":[1]}"#,
    ] {
        in_process("solve", text).unwrap();
    }
}
