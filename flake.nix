{
  description = "Declarative container images built with Nix, run by a real init (s6)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      builtFor = pkgs: import ./nix/packages.nix { inherit pkgs; };

      # `lib.makeImage module`: the package set and helpers follow the
      # module's `nixpkgs.system` (default x86_64-linux) or `nixpkgs.pkgs`.
      makeImageFor =
        defaultSystem:
        import ./nix/make-image.nix {
          inherit lib defaultSystem;
          pkgsFor = system: nixpkgs.legacyPackages.${system};
          toolsFor = pkgs: (builtFor pkgs).tools;
          nixosModules = import ./nix/nixos-modules.nix { nixpkgs = nixpkgs.outPath; };
        };
      dockerImagesFor =
        pkgs:
        import ./images {
          inherit lib;
          makeImage = makeImageFor pkgs.stdenv.hostPlatform.system;
        };
    in
    {
      # makeImage, imageHash, imageRef, makeContainerTest (nix/lib.nix).
      lib = import ./nix/lib.nix {
        inherit lib;
        makeImage = makeImageFor "x86_64-linux";
      };

      overlays.default = import ./overlay.nix;

      packages = forAllSystems (pkgs: (builtFor pkgs).packages);

      dockerImages = forAllSystems dockerImagesFor;

      # So that `nix build .#dockerImages.hello` finds the current system's.
      legacyPackages = forAllSystems (pkgs: {
        dockerImages = dockerImagesFor pkgs;
      });

      # Runnable on any builder (no KVM, no container engine).
      checks = forAllSystems (
        pkgs:
        import ./nix/checks.nix {
          inherit pkgs self;
          dockerImages = dockerImagesFor pkgs;
        }
      );

      # NixOS VM tests, for builders with the `kvm` and `nixos-test`
      # features: `nix build .#vmChecks.x86_64-linux.nginx` (docs/testing.md).
      vmChecks = lib.genAttrs [ "x86_64-linux" ] (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        {
          # NixOS' nginx module in an image, served in a NixOS VM.
          nginx = import ./nix/checks-nginx.nix {
            inherit pkgs;
            image = (dockerImagesFor pkgs).nginx;
          };
          # The original project's s6-image test file through lib.makeContainerTest.
          original-s6-image-test = import ./nix/checks-original-test.nix {
            inherit pkgs;
            nciLib = self.lib;
          };
        }
      );

      # RFC 166 style (`pkgs.nixfmt`; `nixfmt-rfc-style` is its deprecated alias).
      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.cargo
            pkgs.rustc
            pkgs.clippy
            pkgs.rustfmt
            pkgs.s6
            pkgs.execline
            pkgs.podman
            pkgs.skopeo
            pkgs.umoci
            pkgs.patchelf
            pkgs.nixfmt
          ];
        };
      });
    };
}
