# Every module `lib.makeImage` evaluates, one concern per file.
[
  ./assertions.nix
  ./image.nix
  ./image-build.nix
  ./environment.nix
]
