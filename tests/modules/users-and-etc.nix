# Accounts and /etc files for the users and etc tests in podman: a normal
# user running the image, a system user with a home, a secret owned by a
# user, per-user packages, a local-file source and a disabled entry.
{ pkgs, ... }:
{
  image = {
    name = "users-and-etc";
    user = "alice";
    entryPoint = [
      "/bin/sh"
      "-c"
    ];
  };
  environment.systemPackages = [ pkgs.busybox ];
  users.users = {
    alice = {
      isNormalUser = true;
      description = "Alice Q. User";
      extraGroups = [ "wheel" ];
      packages = [ pkgs.hello ];
      shell = pkgs.bashInteractive;
    };
    svc = {
      isSystemUser = true;
      group = "svc";
      createHome = true;
      home = "/var/lib/svc";
      homeMode = "750";
    };
  };
  users.groups.svc = { };
  environment.etc = {
    "app/secret.conf" = {
      text = "token=42\n";
      mode = "0600";
      user = "alice";
      group = "users";
    };
    "svc.conf" = {
      source = ./users-and-etc.conf;
      mode = "0440";
      group = "svc";
    };
    motd.text = "Try ${pkgs.hello}/bin/hello\n";
    disabled = {
      enable = false;
      text = "never";
    };
  };
  networking.extraHosts = "10.11.12.13 db.internal";
}
