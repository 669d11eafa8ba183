# `nixpkgs.pkgs` and `nixpkgs.system`: the package set modules receive as
# `pkgs`, as NixOS' nixpkgs module provides it.
{ config, lib, ... }:
let
  inherit (lib) mkOption types literalExpression;
in
{
  # interface
  options.nixpkgs = {
    system = mkOption {
      type = types.str;
      example = "aarch64-linux";
      description = ''
        The Nix system the image is built for; with the flake's
        `lib.makeImage` it selects the nixpkgs package set and the helpers.
      '';
    };

    pkgs = mkOption {
      type = types.lazyAttrsOf types.raw;
      defaultText = literalExpression "nixpkgs.legacyPackages.\${config.nixpkgs.system}";
      example = literalExpression "import nixpkgs { system = \"x86_64-linux\"; overlays = [ ]; }";
      description = ''
        The package set passed to modules as `pkgs`: the flake's pinned
        nixpkgs for `nixpkgs.system` by default, or the one the overlay was
        applied to.
      '';
    };
  };

  # implementation
  config._module.args.pkgs = config.nixpkgs.pkgs;
}
