# `/etc/hosts`: a placeholder for when the runtime mounts none (podman
# and Docker write their own, starting from the image's), with NixOS'
# `networking.hosts` and `networking.extraHosts`. Copied, not linked, so
# that a runtime bind-mounting /etc/hosts never follows a link into the
# store.
{ config, lib, ... }:
let
  inherit (lib) mkOption types concatStrings mapAttrsToList;
  cfg = config.networking;
in
{
  # interface
  options.networking = {
    hosts = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
      example = {
        "127.0.0.1" = [ "foo.bar.baz" ];
        "192.168.0.2" = [
          "fileserver.local"
          "nameserver.local"
        ];
      };
      description = ''
        Host names by IP address, written to /etc/hosts. `localhost` for
        127.0.0.1 and ::1 is always there.
      '';
    };

    extraHosts = mkOption {
      type = types.lines;
      default = "";
      example = "192.168.0.1 lanlocalhost";
      description = "Lines appended to /etc/hosts as they are.";
    };
  };

  # implementation
  config = {
    networking.hosts = {
      "127.0.0.1" = lib.mkBefore [ "localhost" ];
      "::1" = lib.mkBefore [ "localhost" ];
    };
    environment.etc.hosts = {
      mode = "0644";
      text =
        concatStrings (
          mapAttrsToList (ip: names: "${ip} ${lib.concatStringsSep " " names}\n") (
            lib.filterAttrs (_: names: names != [ ]) cfg.hosts
          )
        )
        + cfg.extraHosts
        + lib.optionalString (cfg.extraHosts != "" && !lib.hasSuffix "\n" cfg.extraHosts) "\n";
    };
  };
}
