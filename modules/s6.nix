# `s6.services`: the image's services, supervised by s6 with `nci-init`
# as PID 1 (docs/s6.md). The options are the original project's, plus
# readiness, restart delays and limits, stop signals and timeouts, users'
# groups, `path` and `preStart`. The module checks the services, writes the
# init spec (docs/spec.md, "Init spec") and builds it with `nci-s6`
# into the init file (the entry point, `system.build.init`) and the
# service directories; the image carries `s6.programs`, copied out of
# `s6.package` (`system.build.s6Programs`).
{
  config,
  options,
  lib,
  pkgs,
  nciTools,
  ...
}:
let
  inherit (lib)
    mkOption
    mkIf
    mkDefault
    types
    literalExpression
    mapAttrs
    attrNames
    attrValues
    filterAttrs
    filter
    concatMap
    concatStringsSep
    elem
    optional
    ;
  cfg = config.s6;
  # The lists, rules and messages stated once in rust/nci-core/src/rules.rs.
  rules = import ../nix/rules.nix { inherit lib; };

  # The options' defaults, stated once in rust/nci-core/src/init_spec.rs
  # (nci-s6 fills a field the spec leaves out with the same).
  defaults = lib.importJSON ../nix/s6-defaults.json;
  serviceDefaults = defaults.service;

  # The millisecond options. The module system's "is not of type"
  # message shows the description: it names the unit.
  ms = types.ints.unsigned // {
    description = "unsigned integer, in milliseconds (1000 is one second)";
  };

  serviceModule =
    { name, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = serviceDefaults.enable;
          example = false;
          description = "Whether the service is part of the image.";
        };

        type = mkOption {
          type = types.enum rules.s6.serviceTypes;
          default = serviceDefaults.type;
          example = "oneshot-pre";
          description = ''
            When the service runs. `oneshot-pre`: at container start, one
            after the other in `after` order, each to completion, before
            any long-run; a failure stops the container. `long-run`: a
            daemon supervised by s6 for the life of the container.
            `oneshot-post`: once every long-run is up (and ready, for
            those with `notificationFd`), in `after` order.
          '';
        };

        execStart = mkOption {
          type = types.either types.str types.package;
          default = serviceDefaults.execStart;
          example = literalExpression ''"''${pkgs.nginx}/bin/nginx -g \"daemon off;\""'';
          description = ''
            The command the service runs: a program and its arguments,
            split into words as a shell would (quotes and backslashes), with
            no variable expansion; or an executable package. Set either
            this or `script`.
          '';
        };

        script = mkOption {
          type = types.lines;
          default = serviceDefaults.script;
          example = ''
            echo "starting"
            exec my-daemon --foreground
          '';
          description = ''
            Shell commands the service runs, with `s6.shell` and `-e` (the
            first failing command fails the service). Set either this or
            `execStart`; a long-run's script should `exec` its daemon.
          '';
        };

        preStart = mkOption {
          type = types.lines;
          default = serviceDefaults.preStart;
          example = "mkdir -p /var/lib/app";
          description = ''
            Shell commands run before each start of the service, as its
            user, in its working directory and environment; when they
            fail, the service fails.
          '';
        };

        restartOnFailure = mkOption {
          type = types.bool;
          default = serviceDefaults.restartOnFailure;
          example = true;
          description = ''
            Restart a long-run that fails (exits non-zero or is killed)
            instead of stopping the container. A long-run that exits 0 is
            always restarted, as s6 does.
          '';
        };

        restartDelay = mkOption {
          type = ms;
          default = serviceDefaults.restartDelay;
          example = 500;
          description = ''
            Milliseconds from a failed service's end to its restart,
            doubled at each further failure in a row, up to
            `restartDelayMax`. s6 never starts a service more than once a
            second: that second is part of the delay, not added to it.
          '';
        };

        restartDelayMax = mkOption {
          type = ms;
          default = serviceDefaults.restartDelayMax;
          example = 5000;
          description = "The longest restart delay (milliseconds) the doubling reaches.";
        };

        restartLimit = mkOption {
          type = types.nullOr types.ints.positive;
          default = serviceDefaults.restartLimit;
          example = 5;
          description = ''
            How many failures in a row a restarting service may have: one
            more and it is failed (the container stops, as for a service
            without `restartOnFailure`). `null`: no limit.
          '';
        };

        restartLimitInterval = mkOption {
          type = ms;
          default = serviceDefaults.restartLimitInterval;
          example = 60000;
          description = ''
            A run that lasts at least this long (milliseconds) before it
            fails starts a new series of failures for `restartLimit` and
            `restartDelay`.
          '';
        };

        workingDirectory = mkOption {
          type = types.nullOr types.str;
          default = serviceDefaults.workingDirectory;
          example = "/var/lib/app";
          description = "The working directory of the service's processes.";
        };

        user = mkOption {
          type = types.str;
          default = serviceDefaults.user;
          example = "nginx";
          description = ''
            The user the service runs as (a name of `users.users`, or a
            uid). The init sets its supplementary groups, its group and its
            uid, in that order, and `HOME`, `USER` and `LOGNAME`. `root`
            means "do not switch": when the container runs as another user,
            so does the service.
          '';
        };

        group = mkOption {
          type = types.nullOr types.str;
          default = serviceDefaults.group;
          example = "www-data";
          description = "The service's group (a name of `users.groups`); `null` is the user's own.";
        };

        environment = mkOption {
          type = types.attrsOf (types.nullOr (types.either types.str (types.either types.path types.package)));
          default = serviceDefaults.environment;
          example = {
            PATH = "/foo/bar/bin";
            LANG = "nl_NL.UTF-8";
          };
          description = ''
            Environment variables of the service, on top of the container's
            (`null` removes one). Paths and packages become store paths.
          '';
        };

        path = mkOption {
          type = types.listOf (types.either types.package types.str);
          default = serviceDefaults.path;
          example = literalExpression "[ pkgs.hello pkgs.coreutils ]";
          description = ''
            Packages whose `bin` and `sbin` directories go first on the
            service's `PATH` (then the container's `PATH`).
          '';
        };

        after = mkOption {
          type = types.listOf types.str;
          default = serviceDefaults.after;
          example = [ "db" ];
          description = ''
            Services this one starts after. A oneshot runs after the
            oneshots of its phase it names; a long-run or oneshot-post that
            names a long-run waits until that one is up (or ready, with
            `notificationFd`). A oneshot-pre cannot name a long-run or a
            oneshot-post, nor a long-run a oneshot-post.
          '';
        };

        execLogger = mkOption {
          type = types.nullOr (types.either types.str types.package);
          default = serviceDefaults.execLogger;
          example = "s6-log -b n3 s1000000 T /var/log/app";
          description = ''
            A command that receives the service's stdout and stderr on its
            stdin (for a long-run, as s6's `log` service). It runs as the
            service's user, with the service's `PATH` (so `s6-log`, of
            `s6.programs`, needs no store path).
          '';
        };

        notificationFd = mkOption {
          type = types.nullOr (types.ints.between 3 1023);
          default = serviceDefaults.notificationFd;
          example = 3;
          description = ''
            Readiness (s6's `notification-fd`): the long-run writes a
            newline to this descriptor when it is ready to serve. Until
            then, services that name it in `after` and the oneshot-post
            services wait.
          '';
        };

        stopSignal = mkOption {
          type = types.str;
          default = serviceDefaults.stopSignal;
          example = "QUIT";
          description = ''
            The signal that stops the service (with or without `SIG`):
            one of ${concatStringsSep ", " rules.s6.stopSignals}.
          '';
        };

        capabilities = mkOption {
          type = types.listOf types.str;
          default = serviceDefaults.capabilities;
          example = [ "CAP_NET_BIND_SERVICE" ];
          description = ''
            Capabilities the service keeps when it runs as a non-root
            `user` (ambient capabilities, as systemd's
            `AmbientCapabilities`): `[ "CAP_NET_BIND_SERVICE" ]` lets it
            listen on a port below 1024. The container must have them
            (podman's default set has `CAP_NET_BIND_SERVICE`; others need
            `podman run --cap-add`). For `root`, nothing to do: root has
            the container's capabilities.
          '';
        };

        stopTimeout = mkOption {
          type = ms;
          default = serviceDefaults.stopTimeout;
          example = 10000;
          description = ''
            Milliseconds the service gets to exit after its stop signal;
            then it is killed (KILL). 0: never killed.
          '';
        };
      };
    };

  enabled = filterAttrs (_: s: s.enable) cfg.services;
  names = attrNames enabled;
  hasServices = enabled != { };

  # The image's account names, when the users module is there.
  userNames =
    if options ? users && options.users ? users then
      map (u: u.name) (attrValues (filterAttrs (_: u: u.enable or true) config.users.users))
    else
      null;
  groupNames =
    if options ? users && options.users ? groups then
      map (g: g.name) (attrValues config.users.groups)
    else
      null;

  # The syslog reader (modules/syslog.nix) starts before every long-run
  # and oneshot-post: each waits for it to be ready. In the spec only, so
  # `s6.services.<name>.after` shows what the user and the modules set.
  syslogService = if config.s6.syslog.enable or false then config.s6.syslog.serviceName else null;
  syslogAfter =
    n: s:
    optional (
      syslogService != null
      && n != syslogService
      && (cfg.services.${syslogService}.enable or false)
      && s.type != "oneshot-pre"
      && !(elem syslogService s.after)
    ) syslogService;

  spec = {
    version = 1;
    nciInit = nciTools.init;
    s6Bin = "${programs}/bin";
    inherit (cfg) shell stateDir graceTime exitCodeFrom;
    users = userNames;
    groups = groupNames;
    services = mapAttrs (n: s: {
      inherit (s)
        enable
        type
        script
        preStart
        restartOnFailure
        restartDelay
        restartDelayMax
        restartLimit
        restartLimitInterval
        workingDirectory
        user
        group
        notificationFd
        stopSignal
        stopTimeout
        ;
      after = s.after ++ syslogAfter n s;
      execStart = toString s.execStart;
      # "${v}" copies a path into the store.
      environment = mapAttrs (_: v: if v == null then null else "${v}") s.environment;
      path = map toString s.path;
      execLogger = if s.execLogger == null then null else toString s.execLogger;
    }
    # Only when set: the spec of a service without them is unchanged.
    // lib.optionalAttrs (s.capabilities != [ ]) { inherit (s) capabilities; }
    ) cfg.services;
  };

  # The init file (out), the service directories (services) and the
  # image tree (tree), generated by `nci-s6 nix-builder` (build time
  # only: the image carries `nci-init`, which runs them).
  generated = derivation {
    name = "s6-init";
    system = pkgs.stdenv.buildPlatform.system;
    builder = nciTools.s6;
    args = [ "nix-builder" ];
    __structuredAttrs = true;
    outputs = [
      "out"
      "services"
      "tree"
    ];
    inherit spec;
  };

  # `s6.programs` copied out of `s6.package` (`nci-s6
  # nix-programs-builder`): what the image carries of s6. The output has
  # the package's store path name, so the package's own path compiled into
  # its programs (nixpkgs' s6 runs `<s6>/bin/s6-supervise`) can become
  # this one's in place, and the image refers to the package no more.
  packageBase = baseNameOf (builtins.unsafeDiscardStringContext (toString cfg.package));
  programs = derivation {
    name = builtins.substring 33 (builtins.stringLength packageBase) packageBase;
    system = pkgs.stdenv.buildPlatform.system;
    builder = nciTools.s6;
    args = [ "nix-programs-builder" ];
    __structuredAttrs = true;
    package = "${cfg.package}";
    programs = cfg.programs;
    option = "s6.programs";
  };
  # What the init itself runs.
  initPrograms = [
    "s6-svscan"
    "s6-supervise"
  ];

  # --- checks (nci-s6 checks the same when it generates) ----------------
  # Names, signals, paths, the phase table and the messages: stated once
  # in rust/nci-core/src/rules.rs (nix/rules.json, docs/rules.md); nci-s6
  # checks the same with the same words.
  opt = n: f: "s6.services.${lib.strings.escapeNixIdentifier n}${lib.optionalString (f != "") ".${f}"}";
  known = list: n: list == null || elem n list || builtins.match "[0-9]+" n != null;
  notAService =
    service:
    rules.say "notAService" {
      inherit service;
      services = concatStringsSep ", " (attrNames cfg.services);
    };

  serviceErrors =
    n:
    let
      s = enabled.${n};
      hasExec = lib.trim (toString s.execStart) != "";
      hasScript = lib.trim s.script != "";
    in
    rules.check "serviceName" (opt n "") n
    ++ optional (hasExec && hasScript) "${opt n ""}: ${rules.say "execAndScript" { }}"
    ++ optional (!hasExec && !hasScript) "${opt n ""}: ${rules.say "noExec" { }}"
    ++ optional (!known userNames s.user) "${opt n "user"}: ${rules.say "userNotDefined" { inherit (s) user; }}"
    ++ optional (
      s.group != null && !known groupNames s.group
    ) "${opt n "group"}: ${rules.say "groupNotDefined" { inherit (s) group; }}"
    ++ lib.optionals (s.workingDirectory != null) (
      rules.check "absolutePath" (opt n "workingDirectory") s.workingDirectory
    )
    ++ concatMap (rules.check "envName" (opt n "environment")) (attrNames s.environment)
    ++ optional (
      s.notificationFd != null && s.type != "long-run"
    ) "${opt n "notificationFd"}: ${rules.say "readinessOfAOneshot" { inherit (s) type; }}"
    ++ rules.check "stopSignal" (opt n "stopSignal") s.stopSignal
    ++ optional (s.restartDelay > s.restartDelayMax) "${opt n "restartDelay"}: ${
      rules.say "restartDelayAboveMax" {
        delay = toString s.restartDelay;
        max = toString s.restartDelayMax;
      }
    }"
    ++ concatMap (
      d:
      if !(cfg.services ? ${d}) then
        [ "${opt n "after"}: ${notAService d}" ]
      else if !cfg.services.${d}.enable then
        [ "${opt n "after"}: ${rules.say "disabledService" { service = d; }}" ]
      else
        let
          afterType = cfg.services.${d}.type;
          why = rules.s6.phases.${s.type}.${afterType} or null;
        in
        optional (why != null) "${opt n "after"}: ${
          rules.say "afterAnotherPhase" {
            service = n;
            inherit (s) type;
            after = d;
            inherit afterType why;
          }
        }"
    ) s.after;

  # The service values that run or name programs, for the store path
  # check (a store path without context would be missing at run time).
  storePaths = import ../nix/store-paths.nix { inherit lib; };
  commandsOf =
    n:
    let
      s = enabled.${n};
      one = f: v: {
        option = opt n f;
        value = toString v;
      };
    in
    [
      (one "execStart" s.execStart)
      (one "script" s.script)
      (one "preStart" s.preStart)
    ]
    ++ optional (s.execLogger != null) (one "execLogger" s.execLogger)
    ++ lib.imap0 (i: p: one "path.${toString i}" p) s.path
    ++ lib.mapAttrsToList (k: v: one "environment.${k}" v) (lib.filterAttrs (_: v: v != null && !builtins.isPath v) s.environment);

  # The first cycle of `after` edges (names in order, then the first one
  # again), or null; the same walk as nci-s6's, so the same message.
  deps = n: filter (d: enabled ? ${d}) enabled.${n}.after;
  cycleFrom =
    path: n:
    if elem n path then
      lib.sublist (lib.lists.findFirstIndex (x: x == n) 0 path) (builtins.length path) path ++ [ n ]
    else
      lib.findFirst (c: c != null) null (map (cycleFrom (path ++ [ n ])) (deps n));
  sorted = lib.toposort (a: b: elem a (deps b)) names;
  # lib.toposort does not see a service after itself: looked for apart.
  cycle =
    if sorted ? cycle || lib.any (n: elem n (deps n)) names then
      lib.findFirst (c: c != null) null (map (cycleFrom [ ]) names)
    else
      null;

  exitCodeErrors =
    let
      m = cfg.exitCodeFrom;
    in
    optional (m != null && !(cfg.services ? ${m})) "s6.exitCodeFrom: ${notAService m}"
    ++ optional (
      m != null && cfg.services ? ${m} && !cfg.services.${m}.enable
    ) "s6.exitCodeFrom: ${rules.say "disabledService" { service = m; }}";

  # A non-root service in an image that exposes a port below 1024: it
  # cannot listen there without CAP_NET_BIND_SERVICE (podman's
  # ip_unprivileged_port_start is 1024), and the daemon's own error says
  # only "Permission denied".
  lowPorts = filter (
    p:
    let
      m = builtins.match "([0-9]+)(/.*)?" p;
    in
    m != null && lib.toInt (lib.head m) < 1024
  ) (attrNames (config.image.exposedPorts or { }));
  lowPortWarnings = concatMap (
    n:
    let
      s = enabled.${n};
    in
    optional (
      lowPorts != [ ]
      && s.type == "long-run"
      && !elem s.user [ "root" "0" ]
      && !elem "CAP_NET_BIND_SERVICE" s.capabilities
    ) "${opt n "user"}: '${n}' runs as '${s.user}' and image.exposedPorts has ${concatStringsSep ", " lowPorts}: a non-root process cannot listen on a port below 1024 (bind: Permission denied); if '${n}' listens there, set ${opt n "capabilities"} = [ \"CAP_NET_BIND_SERVICE\" ], or listen on a port above 1023 and publish it (podman run -p 80:8080)."
  ) names;

  # image.entryPoint's default is the init (mkDefault, below): an entry
  # point of the user's own replaces it, and the services would then
  # never start, without a word.
  initIsEntryPoint =
    config.image.entryPoint != [ ] && lib.head config.image.entryPoint == "${config.s6.init}";
  entryPointWarnings = optional (!initIsEntryPoint) "image.entryPoint is set (to ${
    if config.image.entryPoint == [ ] then "[ ]" else lib.head config.image.entryPoint
  }), so the s6 init does not run and s6.services ${concatStringsSep ", " names} will not start: leave image.entryPoint unset to run them (the init is then the entry point), or run the program as a long-run service.";

  programErrors =
    map (p: "s6.programs: '${p}' is not a program name (a file name in s6.package's bin/)") (
      filter (p: p == "" || p == "." || p == ".." || lib.hasInfix "/" p) cfg.programs
    )
    ++ map (
      p: "s6.programs: '${p}' is missing: the init runs ${concatStringsSep " and " initPrograms} (add it to the list)"
    ) (filter (p: !elem p cfg.programs) initPrograms);
in
{
  # interface
  options.s6 = {
    init = mkOption {
      type = types.nullOr types.package;
      default = null;
      defaultText = literalExpression "the generated init when s6.services has enabled services";
      example = literalExpression "(lib.makeImage ./image.nix).init";
      description = ''
        The generated init: an executable file, `init [STATE-DIR]`, the
        image's entry point. Outside a container it starts the same
        services as the current user (`nix-build -A myImage.init &&
        ./result /tmp/s6-state`); STATE-DIR must not exist.
      '';
    };

    services = mkOption {
      type = types.attrsOf (types.submodule serviceModule);
      default = { };
      example = literalExpression ''
        {
          nginx.execStart = "''${pkgs.nginx}/bin/nginx -g \"daemon off;\"";
          migrate = {
            type = "oneshot-pre";
            script = "my-app migrate";
          };
        }
      '';
      description = ''
        The services of the image, supervised by s6 with `nci-init` as
        PID 1 (see docs/s6.md). When a service is enabled, the image's
        entry point is the init.
      '';
    };

    package = mkOption {
      type = types.package;
      default = pkgs.pkgsStatic.s6;
      defaultText = literalExpression "pkgs.pkgsStatic.s6";
      example = literalExpression "pkgs.s6";
      description = ''
        The s6 whose `s6-svscan` and `s6-supervise` supervise the
        long-runs. The image gets only its programs listed in
        `s6.programs`, copied out of it. The default, nixpkgs' static
        (musl) build, needs no C library or shared skalibs in the image.
      '';
    };

    programs = mkOption {
      type = types.listOf types.str;
      default = [
        "s6-svscan"
        "s6-supervise"
        "s6-svc"
        "s6-svstat"
        "s6-svok"
        "s6-svscanctl"
        "s6-log"
      ];
      example = [
        "s6-svscan"
        "s6-supervise"
        "s6-svc"
        "s6-svstat"
        "s6-svwait"
        "s6-setuidgid"
      ];
      description = ''
        The programs of `s6.package` (names in its `bin/`) the image
        carries, copied into a store path of their own and put on the
        services' `PATH` (last) and the image's `PATH`: the init runs
        `s6-svscan` and `s6-supervise`, which must be listed. A file of
        the package that a listed program names (nixpkgs' `s6-svwait` runs
        `<s6>/libexec/s6-ftrigrd`) comes along. A name that is not in
        the package's `bin/` fails the build, naming it. With
        `s6.syslog.enable`, the default has `s6-socklog` too (a list of
        your own must name it).
      '';
    };

    shell = mkOption {
      type = types.str;
      default = "${pkgs.pkgsStatic.bash}/bin/bash";
      defaultText = literalExpression ''"''${pkgs.pkgsStatic.bash}/bin/bash"'';
      example = literalExpression ''"''${pkgs.bash}/bin/bash"'';
      description = ''
        The shell that runs `script` and `preStart` (with `-e`), and the
        systemd shim's job scripts (`systemd.shim.shell`). The default,
        nixpkgs' static (musl) bash, brings no C library into the image:
        an image whose services are scripts carries no glibc. A shell
        linked to glibc (`pkgs.bash`) adds it (about 30 MB with nixpkgs').
      '';
    };

    stateDir = mkOption {
      type = types.str;
      default = defaults.stateDir;
      example = "/tmp/s6";
      description = ''
        Where the init builds the scan directory in the container (a
        leftover one from an earlier start is replaced). When it cannot
        be created (a non-root user, a read-only root without a tmpfs on
        /run), the init uses `$TMPDIR/s6-<uid>` (`/tmp` by default).
      '';
    };

    graceTime = mkOption {
      type = ms;
      default = defaults.graceTime;
      example = 10000;
      description = ''
        Stage 3: milliseconds between the TERM sent to every process left
        once the services are down and the KILL that ends the rest. The
        init exits as soon as nothing is left; it never sleeps the whole
        grace time for nothing.
      '';
    };

    exitCodeFrom = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "app";
      description = ''
        The service whose exit code is the container's: when it ends (a
        long-run that exits, unless it fails and restarts; a oneshot that
        completes), the container stops with its code (128 + N when
        killed by signal N). When null, the container exits with the code
        of the first service whose failure stopped it, or 0 when it was
        stopped (podman stop, ^C).
      '';
    };
  };

  # implementation
  config = mkIf hasServices {
    s6.init = mkDefault generated;
    image.entryPoint = mkDefault [ "${config.s6.init}" ];
    image.contents = [ config.s6.init ];
    image.rootTrees = [ generated.tree ];
    environment.systemPackages = [ programs ];
    system.build.init = config.s6.init;
    system.build.s6Programs = programs;

    warnings = lowPortWarnings ++ entryPointWarnings;

    assertions =
      map (m: {
        assertion = false;
        message = m;
      }) (concatMap serviceErrors names ++ exitCodeErrors ++ programErrors)
      ++ storePaths.assertions (concatMap commandsOf names)
      ++ [
        {
          assertion = cycle == null;
          message = "s6.services: ${
            rules.say "afterCycle" { cycle = concatStringsSep " -> " (if cycle == null then [ ] else cycle); }
          }";
        }
      ];
  };
}
