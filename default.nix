# For users without flakes, as the original project was used:
#   nix-build -E 'with import ./default.nix {}; lib.makeImage { config.image.name = "empty"; }'
#   nix-build -A dockerImages.hello
# nixpkgs defaults to the revision pinned in flake.lock.
{
  pkgs ? import ./nix/pinned-nixpkgs.nix { },
  # The helper executables; null: built from rust/ with pkgs.
  tools ? null,
}:
let
  inherit (pkgs) lib;
  built = import ./nix/packages.nix { inherit pkgs; };
  makeImage = import ./nix/make-image.nix {
    inherit lib;
    pkgsFor = _: pkgs;
    toolsFor = _: if tools != null then tools else built.tools;
    nixosModules = import ./nix/nixos-modules.nix { nixpkgs = pkgs.path; };
    defaultSystem = pkgs.stdenv.hostPlatform.system;
  };
in
{
  lib = {
    inherit makeImage;
  };
  packages = built.packages;
  dockerImages = import ./images { inherit lib makeImage; };
}
