//! Strict readers for the CLI's JSON input and a checked writer for its output.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

fn bad(msg: String) -> Error {
    Error::InvalidInput(msg)
}

/// The input as an object whose keys are all in `allowed`.
///
/// # Errors
/// [`Error::InvalidInput`] if `v` is not an object or has an unknown field.
pub fn object<'a>(v: &'a Value, what: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>> {
    let m = v
        .as_object()
        .ok_or_else(|| bad(format!("{what} must be a JSON object")))?;
    known_fields(m, what, &[allowed])?;
    Ok(m)
}

/// Every key of `m` is in one of the `allowed` lists.
///
/// # Errors
/// [`Error::InvalidInput`] naming the first unknown field, `what`, and every allowed field.
pub fn known_fields(m: &Map<String, Value>, what: &str, allowed: &[&[&str]]) -> Result<()> {
    let known = |k: &str| allowed.iter().any(|list| list.contains(&k));
    match m.keys().find(|k| !known(k)) {
        Some(k) => Err(bad(format!(
            "unknown field `{k}` in {what}; allowed fields: {}",
            allowed.concat().join(", ")
        ))),
        None => Ok(()),
    }
}

/// A required field.
///
/// # Errors
/// [`Error::InvalidInput`] if missing.
pub fn required<'a>(m: &'a Map<String, Value>, field: &str) -> Result<&'a Value> {
    m.get(field)
        .ok_or_else(|| bad(format!("missing field `{field}`")))
}

/// A finite number.
///
/// # Errors
/// [`Error::InvalidInput`] for a non-number.
pub fn number(v: &Value, field: &str) -> Result<f64> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| bad(format!("{field} must be a finite number, got {}", short(v))))
}

/// A non-negative integer: a JSON integer, or a number with an integer value below `2^53`
/// written as a float (`1.0`, `-0`, `2e3`).
///
/// # Errors
/// [`Error::InvalidInput`] otherwise.
pub fn index(v: &Value, field: &str) -> Result<usize> {
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|x| *x >= 0.0 && *x == x.trunc() && *x < 9_007_199_254_740_992.0)
                .map(|x| x as u64)
        })
        .and_then(|x| usize::try_from(x).ok())
        .ok_or_else(|| {
            bad(format!(
                "{field} must be a non-negative integer, got {}",
                short(v)
            ))
        })
}

/// An array (of any length when `len` is `None`).
///
/// # Errors
/// [`Error::InvalidInput`] / [`Error::LengthMismatch`].
pub fn array<'a>(v: &'a Value, field: &str, len: Option<usize>) -> Result<&'a Vec<Value>> {
    let a = v
        .as_array()
        .ok_or_else(|| bad(format!("{field} must be an array, got {}", short(v))))?;
    if let Some(n) = len {
        if a.len() != n {
            return Err(Error::length(field, a.len(), n));
        }
    }
    Ok(a)
}

/// An array of finite numbers.
///
/// # Errors
/// As [`array()`] and [`number`].
pub fn numbers(v: &Value, field: &str, len: Option<usize>) -> Result<Vec<f64>> {
    array(v, field, len)?
        .iter()
        .enumerate()
        .map(|(i, x)| number(x, &format!("{field}[{i}]")))
        .collect()
}

/// An array of losses: finite numbers or `null` (`+inf`).
///
/// # Errors
/// As [`numbers`].
pub fn losses(v: &Value, field: &str, len: Option<usize>) -> Result<Vec<f64>> {
    array(v, field, len)?
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if x.is_null() {
                Ok(f64::INFINITY)
            } else {
                number(x, &format!("{field}[{i}]"))
            }
        })
        .collect()
}

/// An array of non-negative integers.
///
/// # Errors
/// As [`array()`] and [`index`].
pub fn indices(v: &Value, field: &str) -> Result<Vec<usize>> {
    array(v, field, None)?
        .iter()
        .enumerate()
        .map(|(i, x)| index(x, &format!("{field}[{i}]")))
        .collect()
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(37).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// A finite output number.
///
/// # Errors
/// [`Error::Overflow`] naming `field` if `x` is infinite, [`Error::Numerical`] if it is NaN
/// (JSON carries neither).
pub fn out(x: f64, field: &str) -> Result<Value> {
    if x.is_finite() {
        // `-0.0` prints as `0.0`: a zero temperature or gap has no sign worth reporting.
        Ok(Value::from(if x == 0.0 { 0.0 } else { x }))
    } else if x.is_nan() {
        Err(Error::Numerical(format!(
            "{field} is not a number (NaN): an intermediate overflow met a zero"
        )))
    } else {
        Err(Error::overflow(field, None, None))
    }
}

/// An array of finite output numbers.
///
/// # Errors
/// As [`out`], naming the entry.
pub fn out_vec(xs: &[f64], field: &str) -> Result<Value> {
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            if x.is_finite() {
                out(x, field)
            } else {
                out(x, &format!("{field}[{i}]"))
            }
        })
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

/// Inserts the finite number `x` as `key` (see [`out`]).
///
/// # Errors
/// As [`out`].
pub fn put(o: &mut Map<String, Value>, key: &str, x: f64) -> Result<()> {
    o.insert(key.to_string(), out(x, key)?);
    Ok(())
}

/// Inserts the finite numbers `xs` as the array `key` (see [`out_vec`]).
///
/// # Errors
/// As [`out_vec`].
pub fn put_vec(o: &mut Map<String, Value>, key: &str, xs: &[f64]) -> Result<()> {
    o.insert(key.to_string(), out_vec(xs, key)?);
    Ok(())
}

/// JSON text parsed into a [`Value`], refusing an object that repeats a key (the last
/// would otherwise win silently).
///
/// # Errors
/// [`Error::InvalidInput`] for malformed JSON or a duplicate key (named, with its line and
/// column).
///
/// ```
/// # use hmaxent::cli::json::parse_strict;
/// assert!(parse_strict(r#"{"a": [1, {"b": 2}]}"#).is_ok());
/// let e = parse_strict(r#"{"a": 1, "b": {"c": 1, "c": 2}}"#).unwrap_err();
/// assert!(e.to_string().contains("duplicate key `c`"));
/// # Ok::<(), hmaxent::Error>(())
/// ```
pub fn parse_strict(text: &str) -> Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde::de::DeserializeSeed::deserialize(Strict, &mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| bad(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// A [`Value`] seed that fails on a repeated key in any object.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> serde::de::DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key `{key}`"
                )));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}
