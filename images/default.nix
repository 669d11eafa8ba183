# The example images: `dockerImages.<name>` of the flake and default.nix.
# Each file is a module; adding a file here adds an image.
{ lib, makeImage }:
let
  names = lib.mapAttrsToList (name: _: lib.removeSuffix ".nix" name) (
    lib.filterAttrs (n: t: t == "regular" && n != "default.nix" && lib.hasSuffix ".nix" n) (
      builtins.readDir ./.
    )
  );
in
lib.genAttrs names (name: makeImage (./. + "/${name}.nix"))
