# The systemd shim: turns `systemd.services` into s6 services run by
# `nci-systemd run`, which applies each unit's settings as systemd would
# (docs/systemd.md has the mapping table). Settings and units the shim
# does not support give a build-time warning naming them; a service that
# cannot run (no command, unknown user, ordering cycle) is an error.
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
    attrNames
    attrValues
    concatStringsSep
    concatMap
    elem
    filter
    filterAttrs
    mapAttrs
    mapAttrsToList
    optional
    optionals
    optionalAttrs
    unique
    ;
  sdLib = import ./systemd-lib.nix { inherit lib; };
  inherit (sdLib) asList asScalar spanMs;
  cfg = config.systemd;
  silenced = cfg.shim.silencedWarnings;

  # --- what the shim honours (docs/systemd.md, "Mapping") -------------
  # Stated once in rust/nci-core/src/systemd_spec.rs (SETTINGS), which writes
  # nix/systemd-settings.json (docs/rules.md).
  applied = lib.importJSON ../nix/systemd-settings.json;
  inherit (applied) serviceSettings repeatableSettings unitSettings;
  # The messages stated once in rust/nci-core/src/rules.rs (nix/rules.json).
  rules = import ../nix/rules.nix { inherit lib; };
  # Accepted with nothing to do in an image (documented, no warning).
  inertServiceSettings = [
    "RemainAfterExit"
    "GuessMainPID"
    "NotifyAccess"
    # The name a Type=dbus service is ready with: part of that type's
    # warning (there is no bus to watch).
    "BusName"
    # How journald files the lines: the container's log has the same
    # lines, without fields or levels to filter on.
    "SyslogIdentifier"
    "SyslogFacility"
    "SyslogLevel"
    "SyslogLevelPrefix"
    "LogLevelMax"
    "LogExtraFields"
    "LogRateLimitIntervalSec"
    "LogRateLimitBurst"
    "LogNamespace"
    # Applied: the commands other than ExecStart get the `+` prefix
    # (permissionsStartOnly below), as systemd runs them.
    "PermissionsStartOnly"
  ];
  # Sandboxing: settings that only take from a service (file systems,
  # devices, kernel knobs, system calls, namespaces, address families),
  # a job the container already does for all of its processes. A service
  # that runs with them runs without them; accepted without a warning
  # unless `systemd.shim.strict` (docs/systemd.md, "Sandboxing").
  sandboxSettings = [
    "ProtectSystem"
    "ProtectHome"
    "ProtectProc"
    "ProcSubset"
    "ProtectClock"
    "ProtectHostname"
    "ProtectKernelTunables"
    "ProtectKernelModules"
    "ProtectKernelLogs"
    "ProtectControlGroups"
    "PrivateTmp"
    "PrivateDevices"
    "PrivateNetwork"
    "PrivateUsers"
    "PrivateMounts"
    "PrivateIPC"
    "ReadWritePaths"
    "ReadOnlyPaths"
    "InaccessiblePaths"
    "ExecPaths"
    "NoExecPaths"
    "TemporaryFileSystem"
    "MountFlags"
    "RestrictAddressFamilies"
    "RestrictNamespaces"
    "RestrictRealtime"
    "RestrictSUIDSGID"
    "RestrictFileSystems"
    "RestrictNetworkInterfaces"
    "LockPersonality"
    "MemoryDenyWriteExecute"
    "RemoveIPC"
    "KeyringMode"
    "SystemCallFilter"
    "SystemCallArchitectures"
    "SystemCallErrorNumber"
    "SystemCallLog"
    "DevicePolicy"
    "DeviceAllow"
    "IPAddressAllow"
    "IPAddressDeny"
    "SocketBindAllow"
    "SocketBindDeny"
    "ProtectSystemd"
    # The older names of ReadWritePaths, ReadOnlyPaths, InaccessiblePaths.
    "ReadWriteDirectories"
    "ReadOnlyDirectories"
    "InaccessibleDirectories"
  ];
  inertUnitSettings = [
    "Description"
    "Documentation"
    "DefaultDependencies"
    # Mounts are the container runtime's, all made before the init
    # starts: a requirement on a path's mount always holds.
    "RequiresMountsFor"
    "WantsMountsFor"
    # What systemd's manager does with jobs a person or a target asks
    # for (`systemctl start`, isolating a target) and with units nothing
    # needs: an image starts every service once, isolates nothing, and
    # unloads nothing.
    "RefuseManualStart"
    "RefuseManualStop"
    "AllowIsolate"
    "IgnoreOnIsolate"
    "StopWhenUnneeded"
    "CollectMode"
    "SourcePath"
    # Sharing another unit's /tmp and network namespace (with PrivateTmp,
    # PrivateNetwork): the container has one of each.
    "JoinsNamespaceOf"
  ];
  # The Type= and Restart= values nci-systemd runs (rules.rs).
  inherit (rules.systemd) serviceTypes restartPolicies;

  isSilenced = name: key: elem key silenced || elem "${name}.${key}" silenced;
  # A setting whose value is null or an empty list is not set (NixOS
  # leaves it out of the unit file).
  setOnly = filterAttrs (_: v: v != null && v != [ ]);

  # --- the services and their order ----------------------------------
  enabled = filterAttrs (_: s: s.enable) cfg.services;
  # A service with startAt and no wantedBy is a timer's job: not started.
  timerOnly = s: s.startAt != [ ] && s.wantedBy == [ ] && s.requiredBy == [ ];
  services = mapAttrs (n: s: withUnitConfigDependencies (withPackageUnit n s)) (
    filterAttrs (_: s: !timerOnly s) enabled
  );

  # --- units of systemd.packages ---------------------------------------
  # A service whose unit file a package of `systemd.packages` ships
  # (lib/systemd/system/NAME.service, and its NAME.service.d/*.conf) runs
  # from that file with the module's settings laid over it, as systemd
  # reads NixOS' drop-in. Reading the files builds those packages while
  # evaluating (import from derivation), only when systemd.packages is set.
  unitFilesOf =
    n:
    concatMap (
      p:
      let
        dir = "${p}/lib/systemd/system";
        dropins = "${dir}/${n}.service.d";
        confs =
          if builtins.pathExists dropins then
            map (f: "${dropins}/${f}") (
              lib.sort lib.lessThan (filter (lib.hasSuffix ".conf") (attrNames (builtins.readDir dropins)))
            )
          else
            [ ];
      in
      optional (builtins.pathExists "${dir}/${n}.service") "${dir}/${n}.service" ++ confs
    ) cfg.packages;
  # Unit-section dependencies and the service options that hold them.
  unitDependencies = {
    After = "after";
    Before = "before";
    Requires = "requires";
    Requisite = "requisite";
    BindsTo = "bindsTo";
    Wants = "wants";
    PartOf = "partOf";
    Conflicts = "conflicts";
    OnFailure = "onFailure";
    OnSuccess = "onSuccess";
  };
  withPackageUnit =
    n: s:
    let
      files = if cfg.packages == [ ] then [ ] else unitFilesOf n;
      parsed = map (f: sdLib.parseUnitFile (builtins.readFile f)) files;
      section = name: builtins.foldl' (acc: u: sdLib.layOver acc (u.${name} or { })) { } parsed;
      unit = section "Unit";
      words = vs: filter (w: w != "") (concatMap (lib.splitString " ") (map (builtins.replaceStrings [ "\t" ] [ " " ]) vs));
    in
    if files == [ ] then
      s
    else
      s
      // {
        serviceConfig = sdLib.layOver (section "Service") s.serviceConfig;
        unitConfig = sdLib.layOver (removeAttrs unit (attrNames unitDependencies)) s.unitConfig;
      }
      // mapAttrs (opt: key: unique (words unit.${key} ++ s.${opt})) (
        lib.mapAttrs' (k: v: lib.nameValuePair v k) (filterAttrs (k: _: unit ? ${k}) unitDependencies)
      );
  # Dependencies a module writes in `unitConfig` (`After = [ ... ]`,
  # `Requires = "x.service"`) are, in the unit file NixOS writes, the
  # same `[Unit]` lines as the options' (`after`, `requires`, ...):
  # they join those options, as a package's unit file's do.
  withUnitConfigDependencies =
    s:
    let
      unit = s.unitConfig;
      words = v: filter (w: w != "") (concatMap (lib.splitString " ") (map toString (lib.toList v)));
    in
    s
    // {
      unitConfig = removeAttrs unit (attrNames unitDependencies);
    }
    // mapAttrs (opt: key: unique (s.${opt} ++ words unit.${key})) (
      lib.mapAttrs' (k: v: lib.nameValuePair v k) (filterAttrs (k: _: unit ? ${k}) unitDependencies)
    );
  names = attrNames services;

  # Unit names (and aliases) of the image's services, to the service.
  unitIndex = lib.listToAttrs (
    concatMap (
      n:
      [
        {
          name = "${n}.service";
          value = n;
        }
      ]
      ++ map (a: {
        name = a;
        value = n;
      }) services.${n}.aliases
    ) names
  );
  resolve = units: unique (concatMap (u: optional (unitIndex ? ${u}) unitIndex.${u}) units);

  # deps.${n}: the services n starts after (its `after`, and those that
  # list n in `before`).
  deps = mapAttrs (
    n: s:
    unique (
      resolve s.after ++ filter (m: elem n (resolve services.${m}.before)) names
    )
  ) services;

  sorted = lib.toposort (a: b: elem a deps.${b}) names;
  hasCycle = sorted ? cycle;
  # One cycle, in order, for the message: follow deps from a node of the
  # unsortable rest until a node repeats.
  cycleText =
    let
      start = lib.head (sorted.loops ++ sorted.cycle);
      walk =
        path: n:
        if elem n path then
          lib.drop (lib.lists.findFirstIndex (x: x == n) 0 path) path ++ [ n ]
        else
          let
            next = filter (d: elem d (sorted.cycle ++ sorted.loops)) deps.${n};
          in
          if next == [ ] then path ++ [ n ] else walk (path ++ [ n ]) (lib.head next);
    in
    concatStringsSep " -> " (map (n: "${n}.service") (walk [ ] start));

  # --- settings --------------------------------------------------------
  sc = n: setOnly services.${n}.serviceConfig;
  setting = n: key: if (sc n) ? ${key} then asScalar (sc n).${key} else null;
  execs = n: key: if (sc n) ? ${key} then asList (sc n).${key} else [ ];
  typeOf =
    n:
    let
      t = setting n "Type";
    in
    if t != null then t else if execs n "ExecStart" != [ ] then "simple" else "oneshot";
  isOneshot = n: typeOf n == "oneshot";

  # A oneshot runs after the long-runs (oneshot-post) when it is ordered
  # after a long-run, directly or through another oneshot-post.
  isPost = mapAttrs (n: _: isOneshot n && lib.any (d: !(isOneshot d) || isPost.${d}) deps.${n}) services;
  phaseOf =
    n:
    if !(isOneshot n) then
      "long-run"
    else if isPost.${n} then
      "oneshot-post"
    else
      "oneshot-pre";

  # s6 `after`: the deps s6 can honour in this service's phase; the
  # others are implied by the phases (a pre oneshot before any long-run)
  # or impossible (a long-run after a oneshot-post: warning).
  s6After =
    n:
    let
      p = phaseOf n;
      ok =
        d:
        let
          q = phaseOf d;
        in
        if p == "oneshot-pre" then
          q == "oneshot-pre"
        else if p == "long-run" then
          q == "long-run"
        else
          q != "oneshot-pre";
    in
    filter ok deps.${n} ++ optional (p == "oneshot-pre" && tmpfilesService != null) tmpfilesService;
  impossibleAfter = n: filter (d: phaseOf n == "long-run" && phaseOf d == "oneshot-post") deps.${n};

  # --- users -------------------------------------------------------------
  hasUsers = options ? users && options.users ? users;
  dynamicUser = n: lib.toLower (toString (setting n "DynamicUser")) == "yes" || setting n "DynamicUser" == "true";
  userOf = n: if setting n "User" != null then setting n "User" else if dynamicUser n then n else null;
  groupOf = n: if setting n "Group" != null then setting n "Group" else if dynamicUser n then userOf n else null;
  isNumeric = s: builtins.match "[0-9]+" s != null;
  knownUser = u: u == "root" || isNumeric u || (hasUsers && config.users.users ? ${u});
  knownGroup = g: g == "root" || isNumeric g || (hasUsers && config.users.groups ? ${g});
  supplementary = n: concatMap (lib.splitString " ") (execs n "SupplementaryGroups");

  # --- the unit specs (docs/spec.md, "systemd units") -----------------
  envValue = v: if v == null then null else toString v;
  environmentOf =
    n:
    filterAttrs (_: v: v != null) (
      mapAttrs (_: envValue) (cfg.globalEnvironment // services.${n}.environment)
    );
  # PermissionsStartOnly=true (deprecated in systemd, still in modules):
  # User=, Group= and the other permission settings apply to ExecStart
  # only; the other commands run with full privileges, which is the `+`
  # prefix (kept when a command has `+` or `!` already).
  permissionsStartOnly =
    n: lib.elem (lib.toLower (toString (setting n "PermissionsStartOnly"))) [ "1" "true" "yes" "on" ];
  privileged =
    c:
    let
      prefix = lib.head (builtins.match "([-@:+!]*).*" c);
    in
    if lib.hasInfix "+" prefix || lib.hasInfix "!" prefix then c else "+${c}";
  supportedOf =
    n:
    let
      given = filterAttrs (k: _: elem k serviceSettings) (sc n);
    in
    if permissionsStartOnly n then
      mapAttrs (
        k: v:
        if elem k [ "ExecStartPre" "ExecStartPost" "ExecReload" "ExecStop" "ExecStopPost" ] then
          map privileged (asList v)
        else
          v
      ) given
    else
      given;
  unitSpec =
    n:
    let
      s = services.${n};
    in
    {
      name = n;
      type = typeOf n;
      environment = environmentOf n;
      serviceConfig = mapAttrs (
        k: v:
        if
          elem k repeatableSettings
        then
          asList v
        else
          asScalar v
      ) (supportedOf n)
      // optionalAttrs (dynamicUser n) {
        User = userOf n;
        Group = groupOf n;
      };
      unitConfig = mapAttrs (_: asList) (filterAttrs (k: _: elem k unitSettings) (setOnly s.unitConfig));
      startLimitBurst = s.startLimitBurst;
      startLimitIntervalSec = s.startLimitIntervalSec;
    };

  tmpfilesService = config.systemd.build.tmpfilesService or null;

  units = derivation ({
    name = "systemd-units";
    system = pkgs.stdenv.buildPlatform.system;
    builder = nciTools.systemd;
    args = [
      "nix-builder"
      "units"
    ];
    __structuredAttrs = true;
    version = 1;
    units = lib.genAttrs names unitSpec;
    tmpfiles = config.systemd.build.tmpfilesRules or [ ];
  }
  # The services' `systemctl` (bin/systemctl) asks s6 in its scan
  # directory, with the image's s6-svc.
  // lib.optionalAttrs (options ? s6) {
    s6StateDir = config.s6.stateDir;
    s6Svc = "${config.system.build.s6Programs}/bin/s6-svc";
  });

  # --- s6 services ---------------------------------------------------------
  hasS6 = options ? s6 && options.s6 ? services;
  s6Options = if hasS6 then options.s6.services.type.getSubOptions [ ] else { };
  stopTimeoutMs =
    n:
    let
      v =
        if setting n "TimeoutStopSec" != null then
          setting n "TimeoutStopSec"
        else if setting n "TimeoutSec" != null then
          setting n "TimeoutSec"
        else
          "90s";
      ms = spanMs v;
    in
    # nci-systemd escalates to KILL itself; s6 waits a second longer.
    if ms == null then 0 else ms + 1000;
  # Long-runs signal readiness (s6's notification-fd) when systemd would
  # consider them started: after ExecStartPost, at READY=1 for notify.
  readinessOf = n: s6Options ? notificationFd && phaseOf n == "long-run";
  s6Service =
    n:
    {
      type = phaseOf n;
      execStart = concatStringsSep " " (
        [
          "${nciTools.systemd}"
          "run"
        ]
        ++ optionals (readinessOf n) [
          "--readiness-fd"
          "3"
        ]
        ++ [ "${units}/units/${n}.json" ]
      );
      after = s6After n;
    }
    // optionalAttrs (readinessOf n) { notificationFd = 3; }
    // optionalAttrs (s6Options ? stopTimeout) { stopTimeout = stopTimeoutMs n; }
    // optionalAttrs (s6Options ? restartOnFailure) {
      # nci-systemd applies Restart= itself; a service it gives up on
      # (or one without Restart=) fails, and s6 stops the container.
      restartOnFailure = false;
    };

  # --- warnings and errors -------------------------------------------------
  listText = l: concatStringsSep ", " l;
  serviceWarnings =
    n:
    let
      s = services.${n};
      unsupported = filter (
        k: !(elem k serviceSettings) && !(elem k inertServiceSettings) && !(elem k sandboxSettings) && !(isSilenced n k)
      ) (attrNames (sc n));
      sandboxing = filter (k: cfg.shim.strict && elem k sandboxSettings && !(isSilenced n k)) (
        attrNames (sc n)
      );
      unsupportedUnit = filter (
        k:
        !(elem k unitSettings)
        && !(elem k inertUnitSettings)
        && !(lib.hasPrefix "X-" k)
        && !(isSilenced n k)
      ) (attrNames (setOnly s.unitConfig));
      missingRequired = filter (
        u: lib.hasSuffix ".service" u && !(unitIndex ? ${u})
      ) (s.requires ++ s.requisite ++ s.bindsTo);
      conflicting = filter (u: unitIndex ? ${u}) s.conflicts;
      # Stopping and restarting along with a unit of the image; a target
      # (postgresql.target) or a unit that is not in the image is never
      # stopped or restarted, so nothing is missing.
      partOfImage = filter (u: unitIndex ? ${u}) s.partOf;
      p = "systemd.services.${n}";
    in
    optional (unsupported != [ ])
      "${p}.serviceConfig: not supported by the systemd shim, ignored: ${listText unsupported} (see docs/systemd.md; silence with systemd.shim.silencedWarnings)."
    ++ optional (sandboxing != [ ])
      "${p}.serviceConfig: sandboxing not applied, the container is the sandbox: ${listText sandboxing} (systemd.shim.strict)."
    ++ optional (unsupportedUnit != [ ])
      "${p}.unitConfig: not supported by the systemd shim, ignored: ${listText unsupportedUnit} (see docs/systemd.md)."
    ++ optional (s.startAt != [ ])
      "${p}.startAt: timers are not supported; the service is not started at ${listText s.startAt}."
    ++ optional (typeOf n == "dbus")
      "${p}.serviceConfig.Type: dbus is not supported (an image has no system bus); the service runs as Type=simple${
        lib.optionalString (setting n "BusName" != null) ", ready without waiting for the bus name ${setting n "BusName"}"
      }."
    ++ optional (s.onFailure != [ ])
      "${p}.onFailure: not supported (${listText s.onFailure} not started on failure); a failed service stops the container."
    ++ optional (s.onSuccess != [ ]) "${p}.onSuccess: not supported (${listText s.onSuccess} not started)."
    ++ optional (partOfImage != [ ])
      "${p}.partOf: not supported (the service is not stopped or restarted with ${listText partOfImage})."
    ++ optional (conflicting != [ ])
      "${p}.conflicts: not supported; ${listText conflicting} run alongside it."
    ++ optional (missingRequired != [ ])
      "${p}.requires: ${listText missingRequired} not in the image; the service starts without it."
    ++ optional (s.confinement.enable or false) "${p}.confinement: not supported (no chroot confinement)."
    ++ map (
      d:
      "${p}.after: ${d}.service is a oneshot run after the long-runs (oneshot-post) and ${n} is a long-run: ${n} cannot wait for it and starts with the long-runs."
    ) (impossibleAfter n);

  otherUnitWarnings =
    kind: units':
    mapAttrsToList (
      n: _: "systemd.${kind}.${n}: ${kind} units are not supported by the systemd shim; ignored."
    ) (filterAttrs (_: u: u.enable) units');

  serviceErrors =
    n:
    let
      p = "systemd.services.${n}";
      t = typeOf n;
      r = setting n "Restart";
      u = userOf n;
      g = groupOf n;
      starts = execs n "ExecStart";
    in
    optional (!(elem t serviceTypes))
      "${p}.serviceConfig.Type: ${
        rules.say "notAServiceType" {
          value = rules.quote t;
          types = listText serviceTypes;
        }
      }"
    ++ optional (r != null && !(elem r restartPolicies))
      "${p}.serviceConfig.Restart: ${
        rules.say "notARestartPolicy" {
          value = rules.quote r;
          policies = listText restartPolicies;
        }
      }"
    ++ optional (starts == [ ]) "${p}: ${rules.say "noExecStart" { }}"
    ++ optional (builtins.length starts > 1 && t != "oneshot")
      "${p}.serviceConfig.ExecStart: ${
        rules.say "severalExecStarts" { count = toString (builtins.length starts); }
      }"
    ++ optional (u != null && !(knownUser u))
      "${p}.serviceConfig.User: ${rules.say "userNotDefined" { user = u; }}; or set DynamicUser = true."
    ++ optional (
      g != null && !(knownGroup g)
    ) "${p}.serviceConfig.Group: ${rules.say "groupNotDefined" { group = g; }}"
    ++ map (
      group: "${p}.serviceConfig.SupplementaryGroups: ${rules.say "groupNotDefined" { inherit group; }}"
    ) (filter (g': g' != "" && !(knownGroup g')) (supplementary n));

  dynamicUsers = filter dynamicUser names;

  # s6 services of the same name defined elsewhere (s6.services.<name>).
  ownFiles = [
    (toString ./systemd.nix)
    (toString ./systemd-tmpfiles.nix)
  ];
  otherS6Names =
    if hasS6 then
      unique (
        concatMap (d: attrNames d.value) (
          filter (d: !(elem (toString d.file) ownFiles)) options.s6.services.definitionsWithLocations
        )
      )
    else
      [ ];
  clashes = filter (n: elem n otherS6Names) names;
in
{
  # interface: the options are in systemd-options.nix; this adds the
  # derivation the mapping builds, for debugging and tests.
  options.systemd.build = lib.mkOption {
    type = lib.types.lazyAttrsOf lib.types.unspecified;
    default = { };
    internal = true;
    description = "What the shim builds: `units` (the unit specs) and the s6 mapping.";
  };

  # implementation
  config = lib.mkMerge [
    {
      systemd.build = {
        inherit units;
        phases = lib.genAttrs names phaseOf;
        order = if hasCycle then null else sorted.result;
      };


      assertions =
        [
          {
            assertion = !hasCycle;
            message = "systemd.services: ordering cycle through after/before: ${if hasCycle then cycleText else ""}; remove one of these orderings.";
          }
        ]
        ++ map (m: {
          assertion = false;
          message = m;
        }) (concatMap serviceErrors names)
        ++ map (n: {
          assertion = false;
          message = "systemd.services.${n} and s6.services.${n}: both define the s6 service '${n}'; rename one of them.";
        }) clashes;

      warnings =
        concatMap serviceWarnings names
        ++ mapAttrsToList (
          n: s:
          "systemd.services.${n}.startAt: timers are not supported; the service has no wantedBy and is not started."
        ) (filterAttrs (_: timerOnly) enabled)
        ++ otherUnitWarnings "sockets" cfg.sockets
        ++ otherUnitWarnings "timers" cfg.timers
        ++ otherUnitWarnings "paths" cfg.paths
        ++ otherUnitWarnings "slices" cfg.slices
        ++ map (
          m: "systemd.mounts: the mount of ${m.where or "?"} is not supported by the systemd shim; ignored."
        ) cfg.mounts
        ++ map (
          m: "systemd.automounts: the automount of ${m.where or "?"} is not supported by the systemd shim; ignored."
        ) cfg.automounts
        ++ map (
          n: "systemd.user.services.${n}: user services are not supported by the systemd shim; ignored."
        ) (attrNames cfg.user.services);
    }
    (optionalAttrs hasS6 {
      # A name also defined as s6.services.<name> is left to that one
      # (and is an error below): no merge of two different services.
      s6.services =
        if hasCycle then
          { }
        else
          mapAttrs (n: v: lib.mkIf (!(elem n clashes)) v) (lib.genAttrs names s6Service);
    })
    # DynamicUser: a fixed system user named after the service (or User=).
    (optionalAttrs hasUsers {
      users.users = lib.listToAttrs (
        map (n: {
          name = userOf n;
          value = {
            isSystemUser = lib.mkDefault true;
            group = lib.mkDefault (groupOf n);
          };
        }) dynamicUsers
      );
      users.groups = lib.listToAttrs (
        map (n: {
          name = groupOf n;
          value = { };
        }) dynamicUsers
      );
    })
  ];
}
