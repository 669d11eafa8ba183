# For users without flakes, as the original project was used:
#   nix-build -E 'with import ./default.nix {}; lib.makeImage { config.image.name = "empty"; }'
#   nix-build -A dockerImages.hello
# nixpkgs defaults to the revision pinned in flake.lock.
{
  pkgs ? import ./nix/pinned-nixpkgs.nix { },
  # The helper executables; null: built from rust/ with pkgs.
  tools ? null,
  # The NixOS service modules evaluated with ours (nix/nixos-modules.nix
  # from pkgs' own nixpkgs tree by default).
  nixosModules ? import ./nix/nixos-modules.nix { nixpkgs = pkgs.path; },
}:
let
  inherit (pkgs) lib;
  built = import ./nix/packages.nix { inherit pkgs; };
  makeImage = import ./nix/make-image.nix {
    inherit lib;
    # Another system's images (nixpkgs.system, lib.makeMultiArchImage)
    # get the same nixpkgs for that system.
    pkgsFor =
      system:
      if system == pkgs.stdenv.hostPlatform.system then pkgs else import pkgs.path { inherit system; };
    toolsFor =
      p:
      if tools != null then
        tools
      else if p.stdenv.hostPlatform.system == pkgs.stdenv.hostPlatform.system then
        built.tools
      else
        (import ./nix/packages.nix { pkgs = p; }).tools;
    inherit nixosModules;
    defaultSystem = pkgs.stdenv.hostPlatform.system;
  };
in
{
  # makeImage, imageHash, imageRef, makeContainerTest (nix/lib.nix).
  lib = import ./nix/lib.nix { inherit lib makeImage; };
  packages = built.packages;
  dockerImages = import ./images { inherit lib makeImage; };
}
