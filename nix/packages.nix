# The Rust helpers built with nixpkgs' Rust tooling (the flake and overlay
# path; offline tests use the cargo-built binaries of tools-prebuilt.nix).
# Static (musl) so that they run as builders and inside images that carry
# no libc.
{ pkgs }:
let
  inherit (pkgs) lib;
  rustPlatform = pkgs.pkgsStatic.rustPlatform;
  # The workspace without cargo's build directory.
  src = lib.cleanSourceWith {
    src = ../rust;
    filter = path: _type: baseNameOf path != "target";
  };
  # The short names modules use (`nciTools.image`, ...), as tools-prebuilt
  # lists them; each is the binary `nci-<short>` of the crate of that name.
  shortNames = builtins.attrNames (import ./tools-prebuilt.nix { dir = /nonexistent; });
  # Static (musl's default, said anyway) and not position-independent:
  # tests/build-tools passes the same.
  initRustflags = "-C target-feature=+crt-static -C relocation-model=static";
  helper =
    short:
    rustPlatform.buildRustPackage (
      {
        pname = "nci-${short}";
        version = (lib.importTOML ../rust/Cargo.toml).workspace.package.version;
        inherit src;
        cargoLock.lockFile = ../rust/Cargo.lock;
        cargoBuildFlags = [ "-p" "nci-${short}" ];
        # The suite (tests/run) runs the tests with real s6 and podman.
        doCheck = false;
        meta = {
          description = "nix-container-images helper nci-${short}";
          mainProgram = "nci-${short}";
          license = lib.licenses.mit;
        };
      }
      # nci-init goes into images: the same flags and the same step after
      # linking as tests/build-tools (docs/s6.md, "Size of nci-init").
      // lib.optionalAttrs (short == "init") {
        RUSTFLAGS = initRustflags;
        cargoBuildFlags = [
          "-p"
          "nci-init"
          "--config"
          "nci-init/release.toml"
        ];
        postInstall = ''
          sh ${src}/nci-init/drop-unwind-tables $out/bin/nci-init
        '';
      }
    );
  packages = lib.listToAttrs (
    map (short: {
      name = "nci-${short}";
      value = helper short;
    }) shortNames
  );
in
{
  inherit packages;
  tools = lib.genAttrs shortNames (short: lib.getExe packages."nci-${short}");
}
