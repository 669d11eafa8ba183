# The multi-architecture test image (tests/cases/multiarch.sh): GNU hello
# and busybox, the same module for every system. Offline the aarch64
# stand-ins carry no nci-init (tests/hermetic/arm64.nix), so the program
# runs as PID 1 itself.
{ pkgs, ... }:
{
  image = {
    name = "nci/multi";
    tag = "v1";
    entryPoint = [ "${pkgs.hello}/bin/hello" ];
    pid1 = false;
  };
  environment.systemPackages = [ pkgs.busybox ];
}
