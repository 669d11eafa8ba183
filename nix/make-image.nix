# `lib.makeImage`: evaluates user modules with our module list and returns
# the image derivation, with the evaluated configuration attached.
#
# The package set is a module option (`nixpkgs.pkgs`, as in NixOS), so a
# flake can pick it from `nixpkgs.system`; the overlay and the hermetic
# test set pass theirs.
{
  lib,
  # system -> the package set modules get as `pkgs`.
  pkgsFor,
  # pkgs -> the helper executables: { image = "/nix/store/…/nci-image"; … }.
  toolsFor,
  # The system images are built for unless `nixpkgs.system` is set.
  defaultSystem,
  # NixOS service modules evaluated with ours (nix/nixos-modules.nix where
  # nixpkgs is at hand; stand-ins offline), so `services.nginx.enable`
  # works in an image.
  nixosModules ? [ ],
}:
let
  inherit (lib) concatMapStrings filter;
  modules = import ../modules;
in
module:
let
  eval = lib.evalModules {
    modules =
      modules
      ++ nixosModules
      ++ lib.toList module
      ++ [
        (
          { config, ... }:
          {
            nixpkgs.system = lib.mkDefault defaultSystem;
            nixpkgs.pkgs = lib.mkDefault (pkgsFor config.nixpkgs.system);
            _module.args.nciTools = toolsFor config.nixpkgs.pkgs;
          }
        )
      ];
  };
  inherit (eval) config;
  failed = map (a: a.message) (filter (a: !a.assertion) config.assertions);
  image =
    if failed != [ ] then
      throw "\nFailed assertions:\n${concatMapStrings (m: "- ${m}\n") failed}"
    else
      lib.showWarnings config.warnings config.system.build.image;
in
# Everything else the modules build (`init`, `stream`, `oci`,
# `imageTag`, ...) is reachable from the image, as the original
# project's `.init` was.
image
// removeAttrs config.system.build [ "image" ]
// {
  inherit config;
  inherit (eval) options;
  imageName = config.image.name;
}
