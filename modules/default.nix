# Every module `lib.makeImage` evaluates, one concern per file.
[
  ./assertions.nix
  ./nixpkgs.nix
  ./image.nix
  ./image-build.nix
  ./environment.nix
]
