# The NixOS service modules that `lib.makeImage` evaluates along with
# ours: with them, `services.nginx.enable = true;` in an image is NixOS'
# own module, and the systemd shim (modules/systemd.nix) runs the
# services it defines under s6. The flake, default.nix and the overlay
# pass their nixpkgs tree; the offline tests pass a tree holding
# byte-exact copies of these files (../shared/nixpkgs-modules), so the
# modules tested are the modules users get.
#
# Each module here evaluates unchanged against our module set
# (modules/nixos-compat.nix declares what NixOS modules read and set
# besides their own options). docs/systemd.md, "Adding a NixOS module",
# says how to add one. Any other NixOS module can be imported by a user
# (`imports = [ "${nixpkgs}/nixos/modules/…" ]`) and is handled the same.
{
  # A nixpkgs source tree (the flake input, `pkgs.path`), or a tree
  # laid out like one that holds some of these files.
  nixpkgs,
  # Keep only the modules the tree has (the offline copies hold a
  # subset); false: every module must be there.
  onlyPresent ? false,
}:
let
  paths = map (m: nixpkgs + "/nixos/modules/${m}") [
    "services/web-servers/nginx/default.nix"
    "services/databases/redis.nix"
    "services/databases/memcached.nix"
  ];
in
if onlyPresent then builtins.filter builtins.pathExists paths else paths
