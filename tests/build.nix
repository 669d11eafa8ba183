# Builds one image with the hermetic package set: what the tests and the
# offline example runner use (`nix-build tests/build.nix --arg module ...`).
{
  module,
  toolsDir ? ../rust/target/nci-tools,
}:
(import ./hermetic { inherit toolsDir; }).makeImage module
