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
  # pkgs -> the helper executables: { image = "/nix/store/…/nci-image"; … },
  # built for pkgs' host platform. The image steps run the build
  # platform's (`pkgs.buildPackages`, the same set unless `nixpkgs.pkgs` is
  # a cross set); the image carries the host platform's `init`.
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
            _module.args.nciTools =
              let
                pkgs = config.nixpkgs.pkgs;
              in
              toolsFor (pkgs.buildPackages or pkgs) // { inherit (toolsFor pkgs) init; };
          }
        )
      ];
  };
  inherit (eval) config;
  inherit (config.system) build;
  # Failed assertions abort with one message; warnings are printed.
  checked =
    assertions: value:
    let
      failed = map (a: a.message) (filter (a: !a.assertion) assertions);
    in
    if failed != [ ] then
      throw "\nFailed assertions:\n${concatMapStrings (m: "- ${m}\n") failed}"
    else
      lib.showWarnings config.warnings value;
  # The outputs that carry the image's reference (name:tag) are checked
  # against every assertion; the rest (`init`, ...) against all but those
  # marked `reference` (the name and tag grammar), as the original project
  # let an s6 test named `stopIfOneshotFail` run its `.init`.
  referenceOutputs = [
    "stream"
    "oci"
    "imageTag"
    "copyToRegistry"
    "plan"
    "copyToPodman"
    "copyToDockerDaemon"
  ];
  withoutReference = filter (a: !(a.reference or false)) config.assertions;
  image = checked config.assertions build.image;
in
# The result is the image derivation (its attribute names are known
# without the checks, so `.config` never fails), with everything else the
# modules build (`init`, `stream`, `oci`, `imageTag`, ...) beside it, as
# the original project's `.init` was.
lib.mapAttrs (name: _: image.${name}) build.image
// lib.mapAttrs (
  name: value:
  checked (if lib.elem name referenceOutputs then config.assertions else withoutReference) value
) (removeAttrs build [ "image" ])
// {
  inherit config;
  inherit (eval) options;
  imageName = config.image.name;
  # The helpers the image is written with (build platform's), as
  # lib.makeMultiArchImage writes the index with them.
  inherit (eval._module.args) nciTools;
}
