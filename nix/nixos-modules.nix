# The NixOS service modules that `lib.makeImage` evaluates along with
# ours when it has a real nixpkgs (the flake, default.nix, the overlay):
# with them, `services.nginx.enable = true;` in an image is NixOS' own
# module, and the systemd shim (modules/systemd.nix) runs the services it
# defines under s6. Offline, the test package set passes stand-ins shaped
# like them instead (tests/modules/nginx-fixture.nix).
#
# Each module here is one that evaluates unchanged against our module set
# (modules/nixos-compat.nix declares what they read and set besides their
# own options); add a service by adding its path and a test.
{
  # A nixpkgs source tree: the flake input, or `pkgs.path`.
  nixpkgs,
}:
map (m: nixpkgs + "/nixos/modules/${m}") [
  "services/web-servers/nginx/default.nix"
]
