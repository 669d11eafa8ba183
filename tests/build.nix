# Builds one image with the hermetic package set: what the tests and the
# offline example runner use (`nix-build tests/build.nix --arg module ...`).
{
  module,
  toolsDir ? ../rust/target/x86_64-unknown-linux-gnu/release,
}:
(import ./hermetic { inherit toolsDir; }).makeImage module
