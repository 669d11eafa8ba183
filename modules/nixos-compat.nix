# NixOS options that service modules read or set when enabled, declared
# here so that those modules (`services.nginx`, ...) evaluate unchanged in
# an image. They have no effect in an image; where a setting would matter
# (a firewall port, a sysctl, an ACME certificate, ...) a warning says so.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMap
    mkOption
    types
    literalExpression
    optional
    ;
  anyAttrs = types.attrsOf types.anything;
  ignored =
    what:
    "Accepted so that NixOS modules evaluate; ${what}";
  flag =
    default: what:
    mkOption {
      type = types.bool;
      inherit default;
      example = !default;
      description = ignored what;
    };
  attrsIgnored =
    what:
    mkOption {
      type = anyAttrs;
      default = { };
      example = { };
      description = ignored what;
    };
  listIgnored =
    elemType: what:
    mkOption {
      type = types.listOf elemType;
      default = [ ];
      example = [ ];
      description = ignored what;
    };
  cfg = config;
  nonEmpty = path: v: what: optional (v != [ ] && v != { } && v != "") "${path} is set but ${what}";
in
{
  # interface
  options = {
    networking = {
      enableIPv6 = mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = ''
          Whether services should also listen on IPv6 (NixOS modules read
          it, e.g. nginx's default listen addresses). Off by default in an
          image: container networks often have no IPv6.
        '';
      };
      hostName = mkOption {
        type = types.str;
        default = "nixos";
        example = "web";
        description = ignored "the container runtime sets the host name (`podman run --hostname`).";
      };
      domain = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "example.org";
        description = ignored "read by modules that build a fully qualified name.";
      };
      fqdn = mkOption {
        type = types.str;
        default =
          if cfg.networking.domain != null then
            "${cfg.networking.hostName}.${cfg.networking.domain}"
          else
            cfg.networking.hostName;
        defaultText = literalExpression "\"\${networking.hostName}.\${networking.domain}\"";
        example = "web.example.org";
        description = "The host name with its domain, as NixOS computes it (read by modules).";
      };
      fqdnOrHostName = mkOption {
        type = types.str;
        default = cfg.networking.fqdn;
        defaultText = literalExpression "config.networking.fqdn";
        example = "web.example.org";
        description = "As `networking.fqdn` (read by modules).";
      };
      nameservers = listIgnored types.str "the container runtime writes /etc/resolv.conf.";
      proxy.envVars = attrsIgnored "set proxy variables with `image.env`.";
      proxy.default = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://proxy:3128";
        description = ignored "set proxy variables with `image.env`.";
      };
      useDHCP = flag false "the container runtime configures the network.";
      firewall = {
        enable = flag false "there is no firewall in an image.";
        allowedTCPPorts = listIgnored types.port "publish ports with `image.exposedPorts` and `podman run -p` (a warning says so when set).";
        allowedUDPPorts = listIgnored types.port "publish ports with `image.exposedPorts` and `podman run -p` (a warning says so when set).";
        allowedTCPPortRanges = listIgnored anyAttrs "publish ports with `podman run -p`.";
        allowedUDPPortRanges = listIgnored anyAttrs "publish ports with `podman run -p`.";
        trustedInterfaces = listIgnored types.str "there is no firewall in an image.";
        interfaces = attrsIgnored "there is no firewall in an image.";
        extraCommands = mkOption {
          type = types.lines;
          default = "";
          example = "iptables -A INPUT -j DROP";
          description = ignored "there is no firewall in an image.";
        };
      };
      nftables.enable = flag false "there is no firewall in an image.";
      networkmanager.enable = flag false "the container runtime configures the network.";
      # NixOS' resolvconf (nixos/modules/config/resolvconf.nix): DNS
      # servers modules (dnsmasq, unbound, ...) set `useLocalResolver` so
      # that the host asks them. In a container the runtime writes
      # /etc/resolv.conf (`podman run --dns 127.0.0.1` points the image's
      # own processes at a resolver it runs).
      resolvconf = {
        enable = flag false "the container runtime writes /etc/resolv.conf.";
        package = mkOption {
          type = types.nullOr types.package;
          default = null;
          example = literalExpression "pkgs.openresolv";
          description = ignored "the container runtime writes /etc/resolv.conf; no resolvconf program is installed.";
        };
        useLocalResolver = flag false "the container runtime writes /etc/resolv.conf: to have the image's processes ask a resolver the image runs, `podman run --dns 127.0.0.1`.";
        dnsExtensionMechanism = flag true "the container runtime writes /etc/resolv.conf and its options.";
        dnsSingleRequest = flag false "the container runtime writes /etc/resolv.conf and its options.";
        extraOptions = listIgnored types.str "the container runtime writes /etc/resolv.conf and its options (`podman run --dns-option`).";
        extraConfig = mkOption {
          type = types.lines;
          default = "";
          example = "libc=NO";
          description = ignored "there is no resolvconf in an image.";
        };
        subscriberFiles = listIgnored types.path "there is no resolvconf in an image.";
      };
    };

    security = {
      acme = {
        acceptTerms = flag false "certificates are not obtained in an image.";
        defaults = attrsIgnored "certificates are not obtained in an image.";
        certs = mkOption {
          type = types.attrsOf (
            types.submodule (
              { name, ... }:
              {
                freeformType = anyAttrs;
                options = {
                  directory = mkOption {
                    type = types.str;
                    default = "/var/lib/acme/${name}";
                    defaultText = literalExpression "\"/var/lib/acme/\${name}\"";
                    example = "/var/lib/acme/example.org";
                    description = "Where NixOS would keep the certificate (read by modules).";
                  };
                  group = mkOption {
                    type = types.str;
                    default = "acme";
                    example = "nginx";
                    description = "The group NixOS would give the certificate (read by modules).";
                  };
                };
              }
            )
          );
          default = { };
          example = { };
          description = ''
            ACME certificates: accepted so that modules with `enableACME`
            evaluate, never obtained in an image (a warning names each).
            Mount certificates into the container instead.
          '';
        };
      };
      wrappers = attrsIgnored "setuid wrappers are not created in an image (a warning names each).";
      pam.services = attrsIgnored "there is no PAM login in an image.";
      sudo.enable = flag false "there is no sudo in an image unless you add it.";
      polkit.enable = flag false "there is no polkit in an image.";
      apparmor.enable = flag false "the container runtime applies AppArmor profiles.";
      apparmor.policies = attrsIgnored "the container runtime applies AppArmor profiles.";
      audit.enable = flag false "there is no audit daemon in an image.";
      dhparams = {
        enable = flag false "DH parameters are not generated in an image.";
        params = attrsIgnored "DH parameters are not generated in an image.";
      };
    };

    boot = {
      isContainer = flag true "an image is always a container.";
      # The target of NixOS' rename of `nix.readOnlyStore`.
      readOnlyNixStore = flag true "the image's store is as writable as its root (`podman run --read-only` makes both read-only).";
      kernelPackages = mkOption {
        type = types.raw;
        default = pkgs.linuxPackages;
        defaultText = literalExpression "pkgs.linuxPackages";
        example = literalExpression "pkgs.linuxPackages_latest";
        description = ''
          The kernel package set NixOS modules read (nginx turns on kTLS when
          `kernel.version` is at least 4.17). An image carries no kernel: a
          container runs on its host's, so nothing of this set enters the
          image; set it to the host's kernel where a module's choice depends
          on it.
        '';
      };
      kernel.sysctl = attrsIgnored "a container runs on its host's kernel: sysctls are set on the host or with `podman run --sysctl` (listed by `systemd.shim.strict`).";
      kernelModules = listIgnored types.str "a container runs on its host's kernel, which loads modules (listed by `systemd.shim.strict`).";
      kernelParams = listIgnored types.str "there is no kernel command line in an image.";
      extraModulePackages = listIgnored types.package "a container cannot load kernel modules.";
      initrd.kernelModules = listIgnored types.str "there is no initrd in an image.";
      initrd.availableKernelModules = listIgnored types.str "there is no initrd in an image.";
      specialFileSystems = attrsIgnored "the container runtime mounts /proc, /sys and /dev.";
      supportedFilesystems = mkOption {
        type = types.either (types.listOf types.str) (types.attrsOf types.bool);
        default = [ ];
        example = [ "btrfs" ];
        description = ignored "a container mounts no file systems itself.";
      };
      postBootCommands = mkOption {
        type = types.lines;
        default = "";
        example = "echo booted";
        description = ignored "use a oneshot service instead (a warning says so when set).";
      };
    };

    # The Nix daemon's scheduling, targets of NixOS' renames
    # (`nix.daemonIONiceLevel`) and removal message (`nix.daemonNiceLevel`):
    # an image's Nix is single-user, with no daemon to schedule.
    nix = {
      daemonCPUSchedPolicy = mkOption {
        type = types.enum [
          "other"
          "batch"
          "idle"
        ];
        default = "other";
        example = "batch";
        description = ignored "there is no nix-daemon in an image (Nix is single-user).";
      };
      daemonIOSchedClass = mkOption {
        type = types.enum [
          "best-effort"
          "idle"
        ];
        default = "best-effort";
        example = "idle";
        description = ignored "there is no nix-daemon in an image (Nix is single-user).";
      };
      daemonIOSchedPriority = mkOption {
        type = types.int;
        default = 4;
        example = 1;
        description = ignored "there is no nix-daemon in an image (Nix is single-user).";
      };
    };

    # systemd's manager settings (system.conf), the target of NixOS'
    # renames of `systemd.watchdog.*`: an image has no systemd manager
    # (nci-init is PID 1, `nci-systemd run` supervises each service), so a
    # value set here is not applied (a warning names it).
    systemd.settings.Manager = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf (
          types.oneOf [
            types.str
            types.int
            types.bool
            (types.listOf types.str)
          ]
        );
        options =
          lib.genAttrs [ "RuntimeWatchdogSec" "RebootWatchdogSec" "KExecWatchdogSec" ] (
            name:
            mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "30s";
              description = "systemd's ${name} (the hardware watchdog): not applied in an image, which has no systemd manager.";
            }
          )
          // {
            WatchdogDevice = mkOption {
              type = types.nullOr types.path;
              default = null;
              example = "/dev/watchdog";
              description = "systemd's WatchdogDevice: not applied in an image, which has no systemd manager.";
            };
          };
      };
      default = { };
      example = {
        DefaultTimeoutStopSec = "10s";
      };
      description = ''
        systemd's manager settings (`[Manager]` of system.conf), as NixOS
        declares them: accepted so that NixOS modules and configurations
        evaluate, never applied (an image has no systemd manager: a warning
        names each one set). A service's own settings
        (`systemd.services.<name>.serviceConfig`) are applied.
      '';
    };

    # The system bus: modules hand it their packages' policy files
    # (dnsmasq, avahi, ...). An image runs no D-Bus daemon; a
    # `Type=dbus` service runs as `simple` (a warning says so).
    services.dbus = {
      enable = flag false "an image runs no D-Bus system bus (a `Type=dbus` service gives a warning).";
      packages = listIgnored types.path "an image runs no D-Bus system bus: policy and service files are not installed.";
    };

    services.logrotate = {
      enable = flag false "there is no logrotate timer in an image (a warning says so when enabled).";
      settings = attrsIgnored "there is no logrotate timer in an image.";
    };

    system = {
      stateVersion = mkOption {
        type = types.str;
        default = lib.trivial.release;
        defaultText = literalExpression "lib.trivial.release";
        example = "25.11";
        description = "The NixOS release whose defaults stateful services keep (read by modules).";
      };
      activationScripts = attrsIgnored "there is no activation in an image; use a oneshot service (a warning names each).";
      nssModules = listIgnored types.path "the image's /etc/nsswitch.conf is fixed.";
      requiredKernelConfig = listIgnored types.anything "the kernel is the host's.";
      extraDependencies = listIgnored types.package "add packages with `environment.systemPackages`.";
      checks = mkOption {
        type = types.listOf types.package;
        default = [ ];
        example = literalExpression ''[ (pkgs.runCommand "config-check" { } "test -s ''${./app.conf} && touch $out") ]'';
        description = ''
          Derivations built with the image, as NixOS builds them with the
          system (postgresql's `postgres -C config_file` check of its
          configuration): a check that fails fails the image build, naming
          its derivation. Their outputs are not put in the image.
        '';
      };
    };

    meta = {
      maintainers = listIgnored types.raw "module metadata.";
      teams = listIgnored types.raw "module metadata.";
      doc = mkOption {
        type = types.nullOr (types.either types.path types.str);
        default = null;
        example = null;
        description = ignored "module metadata.";
      };
      buildDocsInSandbox = flag true "module metadata.";
    };

    documentation = {
      enable = flag false "an image carries no documentation.";
      man.enable = flag false "an image carries no documentation.";
      doc.enable = flag false "an image carries no documentation.";
      info.enable = flag false "an image carries no documentation.";
      nixos.enable = flag false "an image carries no documentation.";
    };
  };

  # implementation
  # NixOS' system profile: modules name programs by
  # /run/current-system/sw/bin/... (unbound's ExecReload runs
  # /run/current-system/sw/bin/kill), which NixOS fills with its required
  # packages (coreutils, ...) and `environment.systemPackages`. An image
  # that runs services has the same link, to the image's packages, then
  # those of the shim's default PATH (no bash beyond /bin/sh: its
  # libraries would join every image).
  # /var/run is /run, as on NixOS (and every FHS system): daemons built
  # with /var/run compiled in (dnsmasq's pid file) write there.
  config.image.symlinks = lib.mkIf (config.systemd.services != { }) {
    "/var/run" = "../run";
    "/run/current-system/sw" = "${
      pkgs.symlinkJoin {
        name = "system-path";
        paths = lib.unique (
          config.environment.systemPackages ++ config.systemd.shim.defaultPath
        );
      }
    }";
  };

  # /var/tmp, world-writable and sticky as NixOS' tmpfiles make it (with
  # /tmp, which every image has): lighttpd's upload directory, the
  # temporary files of many daemons.
  config.image.rootTrees = lib.mkMerge [
    (lib.mkIf (config.systemd.services != { }) [
      (pkgs.runCommand "nixos-var-tmp" { } ''
        mkdir -p $out/root/var/tmp
        echo '{"version":1,"entries":[{"path":"/var/tmp","mode":"1777","uid":0,"gid":0}]}' > $out/manifest.json
      '')
    ])
    # `system.checks`: built with the image, as NixOS builds them with
    # the system, through an empty root tree whose build needs them (its
    # output names none of them, so none enters the image).
    (lib.mkIf (config.system.checks != [ ]) [
      (pkgs.runCommand "system-checks" { checks = config.system.checks; } ''
        mkdir -p $out/root
        echo '{"version":1,"entries":[]}' > $out/manifest.json
      '')
    ])
  ];

  # Groups NixOS' own system modules always declare (systemd.nix: `keys`,
  # for secrets; journald: `systemd-journal`, whose members read the
  # journal), which service modules name in `extraGroups` or
  # `SupplementaryGroups`: declared, with NixOS' gid, in an image that
  # names them (only then: /etc/group is otherwise unchanged).
  config.users.groups =
    let
      nixosGroups = [
        "keys"
        "systemd-journal"
      ];
      words = v: if builtins.isList v then concatMap words v else lib.splitString " " (toString v);
      named = lib.unique (
        concatMap (u: u.extraGroups) (lib.attrValues config.users.users)
        ++ concatMap (
          s: words (s.serviceConfig.Group or [ ]) ++ words (s.serviceConfig.SupplementaryGroups or [ ])
        ) (lib.attrValues config.systemd.services)
      );
    in
    lib.genAttrs nixosGroups (g: lib.mkIf (lib.elem g named) { gid = lib.mkDefault config.ids.gids.${g}; });

  # What the host does for a container (kernel parameters, kernel
  # modules) is accepted without a word; `systemd.shim.strict` lists it.
  config.warnings =
    lib.optionals config.systemd.shim.strict (
      nonEmpty "boot.kernel.sysctl" cfg.boot.kernel.sysctl
        "not applied: a container runs on its host's kernel (set it on the host or with `podman run --sysctl`)."
      ++ nonEmpty "boot.kernelModules" cfg.boot.kernelModules
        "not loaded: a container runs on its host's kernel, which loads modules."
    )
    ++ nonEmpty "networking.firewall.allowedTCPPorts" cfg.networking.firewall.allowedTCPPorts
      "ignored: an image has no firewall; publish ports with image.exposedPorts and `podman run -p`."
    ++ nonEmpty "networking.firewall.allowedUDPPorts" cfg.networking.firewall.allowedUDPPorts
      "ignored: an image has no firewall; publish ports with image.exposedPorts and `podman run -p`."
    ++ nonEmpty "boot.postBootCommands" cfg.boot.postBootCommands
      "ignored: use a oneshot service (s6.services or systemd.services with Type=oneshot)."
    ++ map (
      n: "security.acme.certs.${n} is ignored: ACME certificates are not obtained in an image; mount them into the container."
    ) (builtins.attrNames cfg.security.acme.certs)
    ++ map (
      n: "security.wrappers.${n} is ignored: setuid wrappers are not created in an image."
    ) (builtins.attrNames cfg.security.wrappers)
    ++ map (
      n: "system.activationScripts.${n} is ignored: there is no activation in an image; use a oneshot service."
    ) (builtins.attrNames cfg.system.activationScripts)
    ++ lib.concatLists (
      lib.mapAttrsToList (
        n: v:
        optional (
          v != null
        ) "systemd.settings.Manager.${n} is ignored: an image has no systemd manager (its settings are not applied; set a service's own in systemd.services.<name>.serviceConfig)."
      ) cfg.systemd.settings.Manager
    )
    ++ optional cfg.services.logrotate.enable "services.logrotate.enable is ignored: there is no logrotate timer in an image.";
}
