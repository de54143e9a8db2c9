//! Reading the high-precision reference files in `tests/data` (how they were made, and to how
//! many digits: `tests/data/README.md`).
#![allow(dead_code)]

use serde_json::Value;

/// A reference file, parsed.
pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A reference number: a decimal string, a JSON number, or `null` (`+inf`).
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.as_f64().unwrap(),
        Value::Null => f64::INFINITY,
        _ => panic!("not a number: {v}"),
    }
}

/// An array of reference numbers.
pub fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

/// `|got - want| <= rel * max(|want|, 1)`: the testdata tolerance (relative on the scale
/// `max(|x|, 1)`).
pub fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1.0)
}
