# The headline: NixOS' own nginx module in an image, run by the systemd
# shim under s6 (nix/nixos-modules.nix brings the module, from nixpkgs
# with the flake, from byte-exact copies of it offline). Its sandboxing
# settings are the container's job and need no word here.
# `podman run -p 8000:80 nginx` serves /plop, as the original project's
# nginx test did.
{ pkgs, ... }:
let
  www = pkgs.runCommand "www" { } ''
    mkdir $out
    echo plop > $out/plop
  '';
in
{
  image = {
    name = "nginx";
    exposedPorts."80/tcp" = { };
  };
  services.nginx = {
    enable = true;
    virtualHosts.localhost.root = www;
  };
}
