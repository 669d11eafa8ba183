# `ids.uids` and `ids.gids`: the fixed ids NixOS gives system accounts and
# the services that need one (`users.users.nginx.uid = config.ids.uids.nginx`
# is how NixOS service modules use them). The values are NixOS' own, for
# the base accounts and the common services; a module may add more.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  # interface
  options.ids = {
    uids = mkOption {
      type = types.attrsOf types.int;
      default = { };
      internal = true;
      example = {
        myservice = 390;
      };
      description = "User ids of system accounts, by name, as NixOS assigns them.";
    };

    gids = mkOption {
      type = types.attrsOf types.int;
      default = { };
      internal = true;
      example = {
        myservice = 390;
      };
      description = "Group ids of system groups, by name, as NixOS assigns them.";
    };
  };

  # implementation
  config.ids = {
    uids = {
      root = 0;
      messagebus = 4;
      ftp = 8;
      postfix = 13;
      dovecot = 15;
      tomcat = 16;
      git = 41;
      mpd = 50;
      clamav = 51;
      wwwrun = 54;
      nginx = 60;
      chrony = 61;
      postgres = 71;
      lighttpd = 77;
      mysql = 84;
      rabbitmq = 85;
      elasticsearch = 92;
      jenkins = 109;
      vault = 115;
      hydra = 122;
      influxdb = 125;
      gitlab = 165;
      grafana = 196;
      uwsgi = 201;
      matrix-synapse = 224;
      syncthing = 237;
      caddy = 239;
      mosquitto = 246;
      prometheus = 255;
      minio = 280;
      cassandra = 300;
      nixbld = 30000;
      nobody = 65534;
    };
    gids = {
      root = 0;
      wheel = 1;
      kmem = 2;
      tty = 3;
      messagebus = 4;
      disk = 6;
      ftp = 8;
      postfix = 13;
      postdrop = 14;
      dovecot = 15;
      tomcat = 16;
      audio = 17;
      floppy = 18;
      uucp = 19;
      lp = 20;
      cdrom = 24;
      tape = 25;
      video = 26;
      dialout = 27;
      utmp = 29;
      git = 41;
      mpd = 50;
      clamav = 51;
      wwwrun = 54;
      adm = 55;
      nginx = 60;
      chrony = 61;
      systemd-journal = 62;
      postgres = 71;
      lighttpd = 77;
      mysql = 84;
      rabbitmq = 85;
      elasticsearch = 92;
      keys = 96;
      users = 100;
      jenkins = 109;
      vault = 115;
      hydra = 122;
      influxdb = 125;
      gitlab = 165;
      input = 174;
      uwsgi = 201;
      matrix-synapse = 224;
      syncthing = 237;
      caddy = 239;
      mosquitto = 246;
      prometheus = 255;
      minio = 280;
      cassandra = 300;
      kvm = 302;
      render = 303;
      sgx = 304;
      shadow = 318;
      nixbld = 30000;
      nogroup = 65534;
    };
  };
}
