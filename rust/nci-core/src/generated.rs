//! The files under `nix/` that the Rust side states and the modules read
//! (`rules.json`, `s6-defaults.json`, `users-defaults.json`,
//! `etc-defaults.json`, `systemd-settings.json`; docs/rules.md): one check
//! that each committed file is what the code makes, as docs/options.md is
//! checked for staleness.

use std::path::PathBuf;

/// Asserts that `nix/<name>` holds `value` as pretty JSON ending in a
/// newline. With `NCI_UPDATE_GOLDEN` set it writes the file first.
/// `owner` names what states the values and `filter` the `cargo test`
/// filter that runs the check, for the message that says how to update.
pub(crate) fn assert_nix_file_is(name: &str, value: &serde_json::Value, owner: &str, filter: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../nix")
        .join(name);
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    if std::env::var_os("NCI_UPDATE_GOLDEN").is_some() {
        if let Err(e) = std::fs::write(&path, &text) {
            panic!("cannot write {}: {e}", path.display());
        }
    }
    assert!(
        std::fs::read_to_string(&path).unwrap_or_default() == text,
        "nix/{name} is out of sync with {owner}: run NCI_UPDATE_GOLDEN=1 cargo test -p nci-core {filter}"
    );
}
