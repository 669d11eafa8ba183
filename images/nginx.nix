# The headline: NixOS' own nginx module in an image, run by the systemd
# shim under s6. With the flake (real nixpkgs) `services.nginx` is the
# NixOS module itself; offline, tests/modules/nginx-fixture.nix stands in
# for it. `podman run -p 8000:80 nginx` serves /plop, as the original
# project's nginx test did.
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
  # The hardening settings of the NixOS module have no meaning in a
  # container (the container is the sandbox): read, and silenced.
  systemd.shim.silencedWarnings = map (s: "nginx.${s}") [
    "ProcSubset"
    "ProtectProc"
    "ProtectSystem"
    "ProtectHome"
    "PrivateTmp"
    "PrivateDevices"
    "ProtectHostname"
    "ProtectClock"
    "ProtectKernelTunables"
    "ProtectKernelModules"
    "ProtectKernelLogs"
    "ProtectControlGroups"
    "RestrictAddressFamilies"
    "RestrictNamespaces"
    "LockPersonality"
    "MemoryDenyWriteExecute"
    "RestrictRealtime"
    "RestrictSUIDSGID"
    "RemoveIPC"
    "PrivateMounts"
    "SystemCallArchitectures"
    "SystemCallFilter"
  ];
}
