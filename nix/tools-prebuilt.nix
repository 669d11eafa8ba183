# The helpers as built by `cargo build` (static binaries), imported into
# the store by content: the offline path of DESIGN.md. The flake builds
# the same crates with nixpkgs' Rust tooling instead (nix/packages.nix).
{ dir }:
let
  import' =
    name:
    builtins.path {
      path = dir + "/${name}";
      inherit name;
    };
in
{
  image = import' "nci-image";
  nixdb = import' "nci-nixdb";
  etc = import' "nci-etc";
  init = import' "nci-init";
  s6 = import' "nci-s6";
  systemd = import' "nci-systemd";
  push = import' "nci-push";
}
