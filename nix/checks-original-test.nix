# The original project's tests/s6-image.nix, its image and its test
# script as written for NixOS' old Perl driver, through our
# `lib.makeContainerTest` (a NixOS VM running Docker: needs KVM, L5).
{
  pkgs,
  # The flake's `lib` (nix/lib.nix).
  nciLib,
}:
let
  inherit (pkgs) jq;
  lib = nciLib;
  image = lib.makeImage {
    config = {
      nixpkgs.pkgs = pkgs;
      image = {
        name = "s6";
      };
      s6.services.stopContainer = {
        script = ''
          echo stopContainer
          exit 1
        '';
      };
    };
  };
in
lib.makeContainerTest {
  inherit image;
  testScript = ''
    $machine->waitForUnit("docker.service");
    $machine->succeed("docker load -i ${image}");
    $machine->succeed("docker run --name container -d ${lib.imageRef image}");
    $machine->waitUntilSucceeds("docker inspect container | ${jq}/bin/jq -e '.[].State.Status == \"exited\"'");
    $machine->succeed("docker logs container | grep -q stopContainer");
    $machine->succeed("docker logs container | grep -q 'sending all processes the TERM signal'");
  '';
}
