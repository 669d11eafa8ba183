# `nix flake check` (L5, machines with nixpkgs): every example image
# builds with the nixpkgs-built helpers, example images' inits run in the
# build (nix/checks-init.nix) and the committed options reference is up
# to date. Nothing here needs KVM: the VM tests are `vmChecks`. (Formatting is checked by the suite, with
# the formatter `nix fmt` runs, where nixfmt is installed.)
{
  pkgs,
  self,
  dockerImages,
}:
let
  inherit (pkgs) lib;
  optionsDoc = import ./options-doc.nix {
    inherit lib;
    inherit (self.lib.makeImage { nixpkgs.pkgs = pkgs; image.name = "options"; }) options;
  };
in
lib.mapAttrs' (name: image: lib.nameValuePair "image-${name}" image) dockerImages
// import ./checks-init.nix { inherit pkgs dockerImages; }
// {
  options-doc = pkgs.runCommand "check-options-doc" { passAsFile = [ "doc" ]; doc = optionsDoc; } ''
    if ! diff -u ${self}/docs/options.md "$docPath"; then
      echo "docs/options.md is out of sync with the modules: run docs/generate" >&2
      exit 1
    fi
    touch $out
  '';
}
