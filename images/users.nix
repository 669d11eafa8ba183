# The original project's "reuse NixOS modules" example: a normal user
# (uid, home /home/alice, group users) and coreutils on the PATH.
# `podman run IMAGE id alice` shows the account.
{ pkgs, ... }:
{
  config = {
    image.name = "users";
    environment.systemPackages = [ pkgs.coreutils ];
    users.users.alice = {
      isNormalUser = true;
    };
  };
}
