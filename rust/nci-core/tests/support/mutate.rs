//! Specs "around" a valid one, for the helpers' property tests (issue
//! 16.6): one place of the valid spec (a field, an array element) removed
//! or replaced by a value of the wrong type, a huge one, odd characters
//! or a store path that does not exist. Each helper's `tests/fuzz.rs`
//! includes this file (`#[path]`) and runs its real binary on them.

#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

/// A store path that does not exist.
pub const MISSING: &str = "/nix/store/00000000000000000000000000000000-gone";

/// Cases per property: bounded, from a fixed seed, so that the suite runs
/// the same cases every time (`NCI_FUZZ_CASES`, `NCI_FUZZ_SEED` for more
/// and others).
pub fn config() -> ProptestConfig {
    fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
        std::env::var(name).ok().and_then(|c| c.parse().ok())
    }
    ProptestConfig {
        cases: env("NCI_FUZZ_CASES").unwrap_or(64),
        rng_seed: proptest::test_runner::RngSeed::Fixed(env("NCI_FUZZ_SEED").unwrap_or(16)),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every place of `v` (JSON pointers), parents before children.
pub fn places(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    walk(c, p, out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    walk(c, p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// Values a careless or hostile user might put anywhere.
pub fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(true)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(1e300)),
        Just(json!([])),
        Just(json!({})),
        Just(json!([1, "x"])),
        Just(json!({"x": 1})),
        Just(json!("")),
        Just(json!("x".repeat(1 << 16))),
        Just(json!("../../../etc/passwd")),
        Just(json!("a\nb")),
        Just(json!("nul\u{0}byte")),
        Just(json!("A=B")),
        Just(json!("é ü 😀 \u{202e}")),
        Just(json!(MISSING)),
        Just(json!(format!("{MISSING}/bin/x"))),
        "[ -~]{0,24}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
    ]
}

/// A mutation: the place, and the new value (`None`: removed).
pub fn mutation(valid: &Value) -> impl Strategy<Value = (String, Option<Value>)> {
    let places = places(valid);
    assert!(!places.is_empty());
    (0..places.len(), prop::option::weighted(0.8, odd_value()))
        .prop_map(move |(i, new)| (places[i].clone(), new))
}

/// `valid` with the mutation applied.
pub fn apply(valid: &Value, place: &str, new: Option<Value>) -> Value {
    let mut v = valid.clone();
    let (parent, last) = place.rsplit_once('/').unwrap_or(("", place));
    let last = last.replace("~1", "/").replace("~0", "~");
    if let Some(p) = v.pointer_mut(parent) {
        match (p, new) {
            (Value::Object(m), None) => {
                m.remove(&last);
            }
            (Value::Object(m), Some(n)) => {
                m.insert(last, n);
            }
            (Value::Array(a), None) => {
                if let Ok(i) = last.parse::<usize>() {
                    a.remove(i);
                }
            }
            (Value::Array(a), Some(n)) => {
                if let Ok(i) = last.parse::<usize>() {
                    a[i] = n;
                }
            }
            _ => {}
        }
    }
    v
}

/// What every run must show: an exit, never a panic or a signal; on
/// failure (any other code than 0) one message, of a readable size, from the helper, and nothing
/// written at `out`.
pub fn check_run(helper: &str, o: &Output, out: &Path) -> Result<(), TestCaseError> {
    let stderr = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    // 101 is Rust's exit code after a panic; no code means a signal.
    prop_assert!(
        matches!(code, Some(c) if c != 101),
        "exit {:?} (a panic or a signal): {}",
        o.status,
        stderr
    );
    if code != Some(0) {
        let prefix = format!("{helper}: error: ");
        prop_assert!(stderr.starts_with(&prefix), "not one message: {stderr}");
        prop_assert!(
            stderr.len() <= 4096,
            "a message of {} bytes: {}",
            stderr.len(),
            &stderr[..stderr.len().min(600)]
        );
        prop_assert!(!out.exists(), "{} written by a failed run", out.display());
    }
    Ok(())
}

/// Whether a failure message points at the mutated place: it names the
/// field (its last name, any case, `_` and camelCase alike) or one of
/// the fields above it; an array element is named `[i]`.
pub fn names_place(stderr: &str, place: &str) -> bool {
    let squash = |s: &str| s.to_lowercase().replace(['_', '-'], "");
    let text = squash(stderr);
    place.split('/').filter(|s| !s.is_empty()).any(|s| {
        if s.parse::<usize>().is_ok() {
            stderr.contains(&format!("[{s}]"))
        } else {
            text.contains(&squash(&s.replace("~1", "/").replace("~0", "~")))
        }
    })
}
