# The original project's predefined image: a basic single-user Nix
# installation (`podman run IMAGE nix --version`).
{ pkgs, ... }:
{
  image = {
    name = "nix";
    interactive = true;
  };
  nix.enable = true;
  environment.systemPackages = [ pkgs.coreutils ];
}
