# A stand-in for NixOS' nginx module (nixos/modules/services/web-servers/
# nginx/default.nix) for offline tests: a subset of its `services.nginx`
# options, and, when enabled, exactly the configuration the real module
# sets (systemd.services.nginx with its config test in preStart and every
# serviceConfig setting, the nginx user and group with their NixOS ids,
# logrotate settings, ACME certificates, the IPv6 switch it reads). Only
# the nginx.conf differs where Debian's nginx (the stand-in package) has
# other compiled-in paths: its temporary files go to /var/cache/nginx, as
# NixOS' nginx package puts them. With real nixpkgs, images/nginx.nix uses
# the real module instead (nix/nixos-modules.nix).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption mkIf types;
  cfg = config.services.nginx;

  vhostOptions =
    { name, ... }:
    {
      options = {
        serverName = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "The server name (the attribute name when null).";
        };
        root = mkOption {
          type = types.nullOr types.path;
          default = null;
          description = "The document root.";
        };
        listenAddresses = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Addresses to listen on (defaultListenAddresses when empty).";
        };
        extraConfig = mkOption {
          type = types.lines;
          default = "";
          description = "Lines added to the server block.";
        };
      };
    };

  listen =
    vhost:
    let
      addrs = if vhost.listenAddresses != [ ] then vhost.listenAddresses else cfg.defaultListenAddresses;
    in
    lib.concatMapStrings (a: "listen ${a}:${toString cfg.defaultHTTPListenPort};\n") addrs;

  vhosts = lib.concatStrings (
    lib.mapAttrsToList (name: v: ''
      server {
        ${listen v}
        server_name ${if v.serverName != null then v.serverName else name};
        ${lib.optionalString (v.root != null) "root ${v.root};"}
        ${v.extraConfig}
      }
    '') cfg.virtualHosts
  );

  configFile = pkgs.writeText "nginx.conf" ''
    pid /run/nginx/nginx.pid;
    error_log ${cfg.logError};
    daemon off;

    events {
    }

    http {
      include ${cfg.defaultMimeTypes};
      default_type application/octet-stream;
      # Debian's nginx: temporary files where NixOS' package has them.
      client_body_temp_path /var/cache/nginx/client_body;
      proxy_temp_path /var/cache/nginx/proxy;
      fastcgi_temp_path /var/cache/nginx/fastcgi;
      uwsgi_temp_path /var/cache/nginx/uwsgi;
      scgi_temp_path /var/cache/nginx/scgi;
      server_tokens off;
      ${vhosts}
      ${cfg.appendHttpConfig}
    }
  '';

  execCommand = "${cfg.package}/bin/nginx -c '${configFile}'";
in
{
  # interface
  options.services.nginx = {
    enable = lib.mkEnableOption "Nginx Web Server";
    package = mkOption {
      type = types.package;
      default = pkgs.nginx;
      description = "The nginx package.";
    };
    user = mkOption {
      type = types.str;
      default = "nginx";
      description = "User account under which nginx runs.";
    };
    group = mkOption {
      type = types.str;
      default = "nginx";
      description = "Group account under which nginx runs.";
    };
    logError = mkOption {
      type = types.str;
      default = "stderr";
      description = "The error log.";
    };
    preStart = mkOption {
      type = types.lines;
      default = "";
      description = "Shell commands run before nginx starts.";
    };
    defaultHTTPListenPort = mkOption {
      type = types.port;
      default = 80;
      description = "The HTTP port of virtual hosts.";
    };
    defaultListenAddresses = mkOption {
      type = types.listOf types.str;
      default = [ "0.0.0.0" ] ++ lib.optional config.networking.enableIPv6 "[::0]";
      description = "Addresses virtual hosts listen on.";
    };
    defaultMimeTypes = mkOption {
      type = types.path;
      default = pkgs.writeText "mime.types" ''
        types {
          text/html html htm;
          text/plain txt;
          application/octet-stream bin;
        }
      '';
      description = "The MIME types file (NixOS: mailcap's).";
    };
    appendHttpConfig = mkOption {
      type = types.lines;
      default = "";
      description = "Lines appended to the http block.";
    };
    virtualHosts = mkOption {
      type = types.attrsOf (types.submodule vhostOptions);
      default = {
        localhost = { };
      };
      description = "Virtual hosts.";
    };
  };

  # implementation: what the NixOS module sets.
  config = mkIf cfg.enable {
    systemd.services.nginx = {
      description = "Nginx Web Server";
      wantedBy = [ "multi-user.target" ];
      wants = [ ];
      after = [ "network.target" ];
      before = [ ];
      stopIfChanged = false;
      preStart = ''
        ${cfg.preStart}
        ${execCommand} -t
      '';

      startLimitIntervalSec = 60;
      serviceConfig = {
        ExecStart = execCommand;
        ExecReload = [
          "${execCommand} -t"
          "${pkgs.coreutils}/bin/kill -HUP $MAINPID"
        ];
        Restart = "always";
        RestartSec = "10s";
        # User and group
        User = cfg.user;
        Group = cfg.group;
        # Runtime directory and mode
        RuntimeDirectory = "nginx";
        RuntimeDirectoryMode = "0750";
        # Cache directory and mode
        CacheDirectory = "nginx";
        CacheDirectoryMode = "0750";
        # Logs directory and mode
        LogsDirectory = "nginx";
        LogsDirectoryMode = "0750";
        # Proc filesystem
        ProcSubset = "pid";
        ProtectProc = "invisible";
        # New file permissions
        UMask = "0027"; # 0640 / 0750
        # Capabilities
        AmbientCapabilities = [
          "CAP_NET_BIND_SERVICE"
          "CAP_SYS_RESOURCE"
        ];
        CapabilityBoundingSet = [
          "CAP_NET_BIND_SERVICE"
          "CAP_SYS_RESOURCE"
        ];
        # Security
        NoNewPrivileges = true;
        # Sandboxing
        ProtectSystem = "strict";
        ProtectHome = lib.mkDefault true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
        ];
        RestrictNamespaces = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RemoveIPC = true;
        PrivateMounts = true;
        # System Call Filtering
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "~@cpu-emulation @debug @keyring @mount @obsolete @privileged @setuid"
          "~@ipc"
        ];
      };
    };

    security.acme.certs = lib.listToAttrs [ ];

    users.users = lib.optionalAttrs (cfg.user == "nginx") {
      nginx = {
        group = cfg.group;
        isSystemUser = true;
        uid = config.ids.uids.nginx;
      };
    };

    users.groups = lib.optionalAttrs (cfg.group == "nginx") {
      nginx.gid = config.ids.gids.nginx;
    };

    services.logrotate.settings.nginx = lib.mapAttrs (_: lib.mkDefault) {
      files = "/var/log/nginx/*.log";
      frequency = "weekly";
      su = "${cfg.user} ${cfg.group}";
      rotate = 26;
      compress = true;
      delaycompress = true;
      postrotate = "[ ! -f /var/run/nginx/nginx.pid ] || kill -USR1 `cat /var/run/nginx/nginx.pid`";
    };
  };
}
