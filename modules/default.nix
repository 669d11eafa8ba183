# Every module `lib.makeImage` evaluates, one concern per file.
[
  ./assertions.nix
  ./nixpkgs.nix
  ./image.nix
  ./image-build.nix
  ./environment.nix
  ./ids.nix
  ./users.nix
  ./etc.nix
  ./nsswitch.nix
  ./hosts.nix
  ./os-release.nix
  ./pki.nix
  ./s6.nix
]
