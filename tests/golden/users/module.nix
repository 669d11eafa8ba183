# Fixture of the users golden test. `tests/run users golden` checks that
# this module evaluates to spec.json exactly (L3); nci-etc's golden test
# writes expected/ from spec.json (L1). Refresh both: tests/golden/refresh.
{ config, ... }:
{
  image.name = "users-golden";
  users.users = {
    alice = {
      isNormalUser = true;
      description = "Alice Q. User";
      extraGroups = [
        "wheel"
        "devs"
      ];
      hashedPassword = "$6$abcdefgh$Is3kZSztnMPZAznDT2TCAPxT9phlTw5Pdn18vOhvb7Xdi.wDEuVZcrX3YdfoOhgdEOLvVEE/l8Vev0nuc3Obx0";
    };
    bob = {
      isNormalUser = true;
      uid = 1500;
      initialPassword = "hunter2";
      shell = "/bin/bash";
    };
    carol = {
      isNormalUser = true;
      password = "secret";
      subUidRanges = [
        {
          startUid = 200000;
          count = 1000;
        }
      ];
      subGidRanges = [
        {
          startGid = 200000;
          count = 1000;
        }
      ];
    };
    nginx = {
      isSystemUser = true;
      group = "nginx";
      uid = config.ids.uids.nginx;
    };
    svc = {
      isSystemUser = true;
      group = "svc";
      createHome = true;
      home = "/var/lib/svc";
      homeMode = "750";
    };
    gone = {
      enable = false;
      isSystemUser = true;
      group = "nogroup";
    };
  };
  users.groups = {
    nginx.gid = config.ids.gids.nginx;
    svc = { };
    devs.members = [ "bob" ];
  };
}
