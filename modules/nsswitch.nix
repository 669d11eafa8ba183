# `/etc/nsswitch.conf`: which sources glibc's name lookups use. In an
# image, accounts and hosts come from files (/etc/passwd, /etc/hosts),
# then DNS for hosts; the databases are NixOS' `system.nssDatabases`.
{ config, lib, ... }:
let
  inherit (lib) mkOption types concatStringsSep;
  cfg = config.system.nssDatabases;
  database =
    name: default:
    mkOption {
      type = types.listOf types.str;
      inherit default;
      example = default ++ [ "ldap" ];
      description = "Sources of the `${name}` database, in order (a line of /etc/nsswitch.conf).";
    };
in
{
  # interface
  options.system.nssDatabases = {
    passwd = database "passwd" [ "files" ];
    group = database "group" [ "files" ];
    shadow = database "shadow" [ "files" ];
    hosts = database "hosts" [
      "files"
      "dns"
    ];
    services = database "services" [ "files" ];
  };

  # implementation
  config.environment.etc."nsswitch.conf".text = ''
    passwd:    ${concatStringsSep " " cfg.passwd}
    group:     ${concatStringsSep " " cfg.group}
    shadow:    ${concatStringsSep " " cfg.shadow}

    hosts:     ${concatStringsSep " " cfg.hosts}
    networks:  files

    ethers:    files
    services:  ${concatStringsSep " " cfg.services}
    protocols: files
    rpc:       files
  '';
}
