# The nixpkgs overlay: `pkgs.lib.makeImage`, `imageHash`, `imageRef` and
# `makeContainerTest` (as the original project offered them, nix/lib.nix)
# and the helpers under `pkgs.nix-container-images`.
final: prev:
let
  built = import ./nix/packages.nix { pkgs = final; };
in
{
  nix-container-images = built.packages;
  lib = prev.lib.extend (
    _: _:
    import ./nix/lib.nix {
      lib = prev.lib;
      makeImage = import ./nix/make-image.nix {
        lib = prev.lib;
        # Another system's images (nixpkgs.system,
        # lib.makeMultiArchImage) get the same nixpkgs for that system.
        pkgsFor =
          system:
          if system == final.stdenv.hostPlatform.system then
            final
          else
            import final.path { inherit system; };
        toolsFor =
          p:
          if p.stdenv.hostPlatform.system == final.stdenv.hostPlatform.system then
            built.tools
          else
            (import ./nix/packages.nix { pkgs = p; }).tools;
        nixosModules = import ./nix/nixos-modules.nix { nixpkgs = final.path; };
        defaultSystem = final.stdenv.hostPlatform.system;
      };
    }
  );
}
