//! The table of bad inputs, `tests/golden/bad-inputs.json`, as the L1
//! tests of the specs read it. The modules' L3 test
//! (`tests/bad-inputs.nix`) reads the same rows, so each message is
//! checked on both sides from one place.

use serde_json::Value;

/// The table's rows whose option starts with `prefix` (`"s6."`, `"users."`).
pub(crate) fn rows(prefix: &str) -> Vec<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/bad-inputs.json");
    let text = std::fs::read_to_string(&path).expect("tests/golden/bad-inputs.json is readable");
    let table: Vec<Value> = serde_json::from_str(&text).expect("bad-inputs.json is JSON");
    table
        .into_iter()
        .filter(|r| r["option"].as_str().is_some_and(|o| o.starts_with(prefix)))
        .collect()
}

/// Asserts that the row's message is the whole error, `got`, or one of
/// the problems it lists (`- ` lines).
pub(crate) fn assert_reported(row: &Value, got: &str) {
    let option = &row["option"];
    let message = row["message"].as_str().expect("a row has a message");
    assert!(
        got == message || got.lines().any(|l| l.strip_prefix("- ") == Some(message)),
        "{option}: expected {message}, got {got}"
    );
}
