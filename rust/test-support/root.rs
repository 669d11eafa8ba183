//! Shared by the integration tests of several crates (`#[path]` into
//! each): the root check of the L2 tests, written once.

/// Whether to skip a test that needs root, saying so: as another user the
/// test returns at once after printing why on the real standard error
/// (written past the harness's capture, so `cargo test` shows it).
/// tests/run runs as root, where every such test runs.
pub fn skip_unless_root(why: &str) -> bool {
    use std::io::Write;
    if nix::unistd::Uid::effective().is_root() {
        return false;
    }
    let name = std::thread::current().name().unwrap_or("test").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {name}: needs root ({why}); tests/run runs it as root"
    );
    true
}
