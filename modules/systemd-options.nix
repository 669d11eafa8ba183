# The `systemd.*` option tree, as NixOS declares it, so that NixOS service
# modules evaluate unchanged: `systemd.services.<name>` with every option
# of a NixOS service unit, and the other unit kinds (sockets, timers, ...)
# that the shim accepts and warns about. What the options do in an image
# is `modules/systemd.nix` (the mapping to s6) and docs/systemd.md.
{
  config,
  lib,
  pkgs,
  nciTools,
  ...
}:
let
  inherit (lib)
    mkOption
    mkIf
    mkMerge
    mkAfter
    types
    literalExpression
    ;
  top = config;
  sdLib = import ./systemd-lib.nix { inherit lib; };
  inherit (sdLib) unitOption;

  # Environment variables as NixOS declares them (`null` unsets one).
  environmentVariables = types.attrsOf (
    types.nullOr (
      types.oneOf [
        types.str
        types.path
        types.package
      ]
    )
  );

  # A list of unit names (`after`, `wantedBy`, ...): empty by default.
  unitList =
    example: description:
    mkOption {
      type = types.listOf types.str;
      default = [ ];
      inherit example description;
    };

  # A job script (`script`, `preStart`, ...) as NixOS makes it: an
  # executable running the text with `set -e`, written by `nci-systemd`.
  makeJobScript =
    name: text:
    "${
      derivation {
        name = "unit-script-${sdLib.scriptName name}";
        system = pkgs.stdenv.buildPlatform.system;
        builder = nciTools.systemd;
        args = [
          "nix-builder"
          "job-script"
        ];
        __structuredAttrs = true;
        shell = config.systemd.shim.shell;
        inherit text;
      }
    }";

  # Options every unit kind shares (NixOS' commonUnitOptions).
  commonUnitOptions =
    { name, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          example = false;
          description = "Whether the unit exists in the image; `false` drops it.";
        };
        name = mkOption {
          type = types.str;
          default = name;
          defaultText = literalExpression "<name>";
          example = "nginx";
          description = "The unit's name, without its kind suffix.";
        };
        description = mkOption {
          type = types.singleLineStr;
          default = "";
          example = "Nginx Web Server";
          description = "Description of the unit, shown in the init's messages.";
        };
        documentation = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "man:nginx(8)" ];
          description = "URIs of documentation for the unit (informational).";
        };
        overrideStrategy = mkOption {
          type = types.enum [
            "asDropinIfExists"
            "asDropin"
          ];
          default = "asDropinIfExists";
          example = "asDropin";
          description = "Accepted for NixOS compatibility; without unit files it has no effect.";
        };
        wantedBy = unitList [ "multi-user.target" ] ''
          Units that want this one. In an image every enabled service is
          started, whatever this says, except a service that only has
          `startAt` (a timer's job, which is not run: see the warnings).
        '';
        requiredBy = unitList [ "multi-user.target" ] "As `wantedBy` (informational in an image).";
        upheldBy = unitList [ "multi-user.target" ] "As `wantedBy` (informational in an image).";
        aliases = unitList [ "web.service" ] "Other names of the unit, accepted in `after`, `before` and `requires` of other units.";
        requires = unitList [ "postgresql.service" ] ''
          Units this one needs. A required service of the image starts
          first (as `after` does); one that does not exist in the image
          gives a warning.
        '';
        wants = unitList [ "network-online.target" ] "Units this one wants (every service of the image is started anyway).";
        upholds = unitList [ "helper.service" ] "As `wants` (informational in an image).";
        after = unitList [ "network.target" "postgresql.service" ] ''
          Start this unit after these have started (been ready, for a
          long-run with readiness; finished, for a oneshot). Units that
          are not in the image (targets, ...) order nothing, as in
          systemd.
        '';
        before = unitList [ "nginx.service" ] "Start these units after this one: the reverse of `after`.";
        bindsTo = unitList [ "postgresql.service" ] "As `requires`; stopping together is not supported (warning).";
        partOf = unitList [ "app.target" ] "Accepted; restarting or stopping together is not supported (warning when set).";
        conflicts = unitList [ "shutdown.target" ] "Accepted; conflicts with other services of the image give a warning.";
        requisite = unitList [ "postgresql.service" ] "As `requires`.";
        unitConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
          example = {
            ConditionPathExists = "/etc/app.conf";
          };
          description = ''
            The `[Unit]` section. Supported: `Condition*`/`Assert*` on paths,
            globs, the virtualization, capabilities, environment, kernel
            command line, architecture and host, `StartLimitBurst`, `StartLimitIntervalSec`; dependencies
            (`After`, `Before`, `Requires`, `Wants`, ...) join the options of
            the same name (`after`, ...); accepted with nothing to do in an
            image: `Description`, `Documentation`, `DefaultDependencies`,
            `RefuseManualStart`, `RefuseManualStop`, `AllowIsolate`,
            `IgnoreOnIsolate`, `StopWhenUnneeded`, `CollectMode`,
            `SourcePath`, `JoinsNamespaceOf`, `X-*`; anything else gives a
            warning naming the service and the setting (docs/systemd.md).
          '';
        };
        onFailure = unitList [ "notify-failure.service" ] "Not supported (warning when set): a failure stops the container instead.";
        onSuccess = unitList [ "next-step.service" ] "Not supported (warning when set).";
        startLimitBurst = mkOption {
          type = types.nullOr types.int;
          default = null;
          example = 5;
          description = "Starts allowed within `startLimitIntervalSec` before a restarting service is failed (systemd's default: 5).";
        };
        startLimitIntervalSec = mkOption {
          type = types.nullOr types.int;
          default = null;
          example = 10;
          description = "The interval (seconds) of `startLimitBurst` (systemd's default: 10).";
        };
        restartTriggers = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
          example = literalExpression "[ config.environment.etc.\"app.conf\".source ]";
          description = "Accepted for NixOS compatibility: an image is rebuilt, never switched.";
        };
        reloadTriggers = mkOption {
          type = types.listOf unitOption;
          default = [ ];
          example = literalExpression "[ config.environment.etc.\"app.conf\".source ]";
          description = "Accepted for NixOS compatibility: an image is rebuilt, never switched.";
        };
      };
    };

  serviceOptions =
    { name, config, ... }:
    let
      # The job scripts NixOS makes of a service's shell texts: the option,
      # the script's name, and the setting it becomes (a list where several
      # definitions add up, as in NixOS).
      jobs = [
        {
          option = "preStart";
          suffix = "pre-start";
          setting = "ExecStartPre";
          value = s: [ s ];
        }
        {
          option = "script";
          suffix = "start";
          setting = "ExecStart";
          value = s: s + " " + config.scriptArgs;
        }
        {
          option = "postStart";
          suffix = "post-start";
          setting = "ExecStartPost";
          value = s: [ s ];
        }
        {
          option = "reload";
          suffix = "reload";
          setting = "ExecReload";
          value = s: s;
        }
        {
          option = "preStop";
          suffix = "pre-stop";
          setting = "ExecStop";
          value = s: s;
        }
        {
          option = "postStop";
          suffix = "post-stop";
          setting = "ExecStopPost";
          value = s: s;
        }
      ];
    in
    {
      imports = [ commonUnitOptions ];
      options = {
        environment = mkOption {
          type = environmentVariables;
          default = { };
          example = {
            LANG = "C.UTF-8";
          };
          description = ''
            Environment variables of the service's processes (a `null`
            value is left out). `PATH` is made from `path`.
          '';
        };
        path = mkOption {
          type = types.listOf (types.either types.package types.str);
          default = [ ];
          example = literalExpression "[ pkgs.hello ]";
          description = ''
            Packages whose `bin` and `sbin` go on the service's `PATH`
            (after them come `coreutils` and the other defaults of
            `systemd.shim.defaultPath`).
          '';
        };
        serviceConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
          example = {
            Type = "notify";
            ExecStart = "/bin/app --serve";
            Restart = "on-failure";
            RestartSec = 5;
          };
          description = ''
            The `[Service]` section. docs/systemd.md lists every setting the
            shim honours (`Type`, `Exec*`, `User`/`Group`, `Restart`,
            directories, capabilities, limits, ...); any other gives a
            build-time warning naming the service and the setting.
          '';
        };
        script = mkOption {
          type = types.lines;
          default = "";
          example = "exec app --serve";
          description = "Shell commands run as the main process (`ExecStart`), with `set -e`.";
        };
        scriptArgs = mkOption {
          type = types.str;
          default = "";
          example = "%i";
          description = "Arguments of the `script`.";
        };
        preStart = mkOption {
          type = types.lines;
          default = "";
          example = "mkdir -p /var/lib/app";
          description = "Shell commands run before the main process (an `ExecStartPre`).";
        };
        postStart = mkOption {
          type = types.lines;
          default = "";
          example = "app-ctl wait-ready";
          description = "Shell commands run once the main process has started (an `ExecStartPost`).";
        };
        reload = mkOption {
          type = types.lines;
          default = "";
          example = "kill -HUP $MAINPID";
          description = "Shell commands run on reload (`ExecReload`: on SIGHUP to the service, e.g. `s6-svc -h`).";
        };
        preStop = mkOption {
          type = types.lines;
          default = "";
          example = "app-ctl drain";
          description = "Shell commands that stop the service (`ExecStop`).";
        };
        postStop = mkOption {
          type = types.lines;
          default = "";
          example = "rm -f /run/app.lock";
          description = "Shell commands run after the main process has exited (`ExecStopPost`).";
        };
        jobScripts = mkOption {
          type = types.coercedTo types.path lib.singleton (types.listOf types.path);
          default = [ ];
          internal = true;
          description = "The job scripts of the unit.";
        };
        restartIfChanged = mkOption {
          type = types.bool;
          default = true;
          example = false;
          description = "Accepted for NixOS compatibility: an image is rebuilt, never switched.";
        };
        reloadIfChanged = mkOption {
          type = types.bool;
          default = false;
          example = true;
          description = "Accepted for NixOS compatibility: an image is rebuilt, never switched.";
        };
        stopIfChanged = mkOption {
          type = types.bool;
          default = true;
          example = false;
          description = "Accepted for NixOS compatibility: an image is rebuilt, never switched.";
        };
        startAt = mkOption {
          type = types.either types.str (types.listOf types.str);
          default = [ ];
          example = "daily";
          apply = lib.toList;
          description = ''
            Calendar events starting the service (a timer): not supported,
            a warning names the service; a service that has `startAt` and
            no `wantedBy` is not started.
          '';
        };
        enableStrictShellChecks = mkOption {
          type = types.bool;
          default = top.systemd.enableStrictShellChecks;
          defaultText = literalExpression "config.systemd.enableStrictShellChecks";
          example = true;
          description = "Accepted for NixOS compatibility (scripts are not checked with shellcheck).";
        };
        confinement = mkOption {
          type = types.attrsOf types.anything;
          default = { };
          example = {
            enable = true;
          };
          description = "NixOS' chroot confinement: not supported (warning when enabled).";
        };
      };

      config = mkMerge (
        [
          {
            path = mkAfter config.defaultPathPackages;
            environment.PATH = lib.concatStringsSep ":" (
              map (p: "${p}/bin") config.path ++ map (p: "${p}/sbin") config.path
            );
          }
        ]
        ++ map (
          job:
          let
            script = makeJobScript "${name}-${job.suffix}" config.${job.option};
          in
          mkIf (config.${job.option} != "") {
            jobScripts = script;
            serviceConfig.${job.setting} = job.value script;
          }
        ) jobs
      );
    };

  # The default PATH packages (NixOS: coreutils findutils gnugrep gnused
  # systemd), passed into each service; plus the shim's systemd-notify
  # and systemd-creds.
  defaultPathModule = {
    options.defaultPathPackages = mkOption {
      type = types.listOf (types.either types.package types.str);
      internal = true;
      default = config.systemd.shim.defaultPath;
      description = "The packages every service gets on its PATH after its own.";
    };
  };

  # Other unit kinds: declared so that NixOS modules setting them evaluate;
  # the shim warns about each enabled one (modules/systemd.nix).
  otherUnit =
    extraOptions:
    types.attrsOf (
      types.submodule [
        commonUnitOptions
        { options = extraOptions; }
      ]
    );
  sectionOption =
    section:
    mkOption {
      type = types.attrsOf unitOption;
      default = { };
      example = { };
      description = "The `[${section}]` section (the unit is not supported: warning).";
    };
  unitKind =
    kind: extraOptions:
    mkOption {
      type = otherUnit extraOptions;
      default = { };
      example = { };
      description = ''
        systemd ${kind} units: accepted so that NixOS modules evaluate, not
        supported in an image; each enabled one gives a warning naming it.
      '';
    };
in
{
  # interface
  options.systemd = {
    services = mkOption {
      type = types.attrsOf (
        types.submodule [
          serviceOptions
          defaultPathModule
        ]
      );
      default = { };
      example = literalExpression ''
        {
          app = {
            wantedBy = [ "multi-user.target" ];
            after = [ "db.service" ];
            path = [ pkgs.hello ];
            script = "exec hello --greeting=hi";
            serviceConfig = { User = "app"; Restart = "on-failure"; RestartSec = 2; };
          };
        }
      '';
      description = ''
        NixOS systemd services, run under s6 by the shim: long-running
        types become s6 long-runs, `Type=oneshot` a oneshot run before the
        long-runs (or after them, when ordered after one). Each runs under
        `nci-systemd run`, which applies the unit's settings as systemd
        would. Settings the shim does not support give a build-time warning
        naming the service and the setting; docs/systemd.md has the table.
      '';
    };

    sockets = unitKind "socket" {
      listenStreams = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "0.0.0.0:993" ];
        description = "`ListenStream=` addresses (the unit is not supported: warning).";
      };
      listenDatagrams = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "0.0.0.0:53" ];
        description = "`ListenDatagram=` addresses (the unit is not supported: warning).";
      };
      socketConfig = sectionOption "Socket";
    };
    timers = unitKind "timer" { timerConfig = sectionOption "Timer"; };
    paths = unitKind "path" { pathConfig = sectionOption "Path"; };
    mounts = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [ ];
      example = [ ];
      description = "systemd mount units: not supported in an image (warning for each).";
    };
    automounts = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [ ];
      example = [ ];
      description = "systemd automount units: not supported in an image (warning for each).";
    };
    slices = unitKind "slice" { sliceConfig = sectionOption "Slice"; };
    targets = mkOption {
      type = otherUnit { };
      default = { };
      example = { };
      description = ''
        systemd targets: accepted; a target only groups and orders units,
        and ordering against a target is a no-op in an image (as ordering
        against any unit that does not run).
      '';
    };
    user = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf types.anything;
        options.services = mkOption {
          type = types.attrsOf types.anything;
          default = { };
          example = { };
          description = "User services: not supported (warning for each).";
        };
      };
      default = { };
      example = { };
      description = "The per-user systemd instance: not supported in an image.";
    };

    packages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = literalExpression "[ pkgs.foo ]";
      description = ''
        Packages whose unit files (`lib/systemd/system/NAME.service` and
        `NAME.service.d/*.conf`) a service of `systemd.services` of the same
        name runs from, with its own settings laid over them as systemd
        reads NixOS' drop-ins (a module's list extends the file's, an empty
        string first resets it; a single value replaces the file's). Units
        no service names are not started, as on NixOS. The files are read
        while evaluating (import from derivation).
      '';
    };
    additionalUpstreamSystemUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "systemd-tmpfiles-clean.timer" ];
      internal = true;
      description = "Accepted for NixOS compatibility; ignored.";
    };
    globalEnvironment = mkOption {
      type = environmentVariables;
      default = { };
      example = {
        TZ = "UTC";
      };
      description = "Environment variables of every systemd service (before each service's own).";
    };
    enableStrictShellChecks = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = "Accepted for NixOS compatibility (job scripts are not checked with shellcheck).";
    };
    package = mkOption {
      type = types.nullOr types.package;
      default = null;
      example = literalExpression "pkgs.systemd";
      description = "There is no systemd in an image: `null` unless a module sets it.";
    };

    shim = {
      shell = mkOption {
        type = types.str;
        default = config.s6.shell;
        defaultText = literalExpression "config.s6.shell";
        example = literalExpression "pkgs.runtimeShell";
        description = ''
          The shell of job scripts (`script`, `preStart`, `postStart`, ...),
          NixOS' `runtimeShell`. The default, `s6.shell`, is a static bash:
          a service made of scripts brings no glibc into the image (a
          module whose text names `''${pkgs.bash}` itself still does).
        '';
      };
      defaultPath = mkOption {
        type = types.listOf (types.either types.package types.str);
        default = lib.filter (p: p != null) (
          map (n: pkgs.${n} or null) [
            "coreutils"
            "findutils"
            "gnugrep"
            "gnused"
          ]
        );
        defaultText = literalExpression "[ pkgs.coreutils pkgs.findutils pkgs.gnugrep pkgs.gnused ]";
        example = literalExpression "[ pkgs.coreutils pkgs.busybox ]";
        description = ''
          Packages on the `PATH` of every service after its `path`, as in
          NixOS (those of the list that the package set has). The shim adds
          its own `systemd-notify` and `systemd-creds`.
        '';
      };
      strict = mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = ''
          Also warn about what is accepted without effect because the
          container or its host already does the job: the sandboxing
          settings of services (`ProtectSystem`, `PrivateTmp`,
          `SystemCallFilter`, ...; docs/systemd.md lists them) and the
          kernel's business (`boot.kernel.sysctl`, `boot.kernelModules`).
          Off by default: NixOS modules set these for every service, and
          nothing in the image is for you to change.
        '';
      };
      silencedWarnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [
          "ProtectSystem"
          "nginx.ProtectHome"
        ];
        description = ''
          Unsupported settings whose warning you have read and accept:
          `Setting` for every service, `service.Setting` for one.
        '';
      };
    };
  };
}
