{ pkgs, ... }:
{
  image.name = "users";
  image.user = "alice";                       # the container runs as alice
  environment.systemPackages = [ pkgs.coreutils ];
  users.users.alice = {
    isNormalUser = true;                      # /home/alice 0700, group users
    extraGroups = [ "wheel" ];
    packages = [ pkgs.hello ];                # /etc/profiles/per-user/alice
  };
  users.users.app = { isSystemUser = true; group = "app"; };
  users.groups.app = { };
  environment.etc."app/secret.conf" = {
    text = "token=42\n";
    mode = "0600";                            # copied, owned by app
    user = "app";
  };
}
