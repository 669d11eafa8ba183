# Tests of the systemd shim (issue 6): systemd.services mapped to s6
# services run by nci-systemd (docs/systemd.md has the mapping table; the
# behaviour of each row is tested at L2 in rust/nci-systemd/tests/run.rs).

# Evaluates EXPR (a module) and prints ATTR of its config as JSON.
sd_eval() {
  eval_image "$1" "config.$2" 2>/dev/null
}

# Warnings of a module, one a line.
sd_warnings() {
  sd_eval "$1" warnings | jq -r '.[]'
}

t_L3_systemd_types_map_to_s6_phases_with_readiness_for_long_runs() {
  local m='{ pkgs, ... }: {
    image.name = "types";
    systemd.services = {
      simple.serviceConfig.ExecStart = "/bin/a";
      exec.serviceConfig = { Type = "exec"; ExecStart = "/bin/a"; };
      notify.serviceConfig = { Type = "notify"; ExecStart = "/bin/a"; };
      forking.serviceConfig = { Type = "forking"; ExecStart = "/bin/a"; PIDFile = "/run/a.pid"; };
      idle.serviceConfig = { Type = "idle"; ExecStart = "/bin/a"; };
      once.serviceConfig = { Type = "oneshot"; ExecStart = [ "/bin/a" "/bin/b" ]; };
      scripted.script = "true";
    };
  }'
  assert_eq "$(sd_eval "$m" systemd.build.phases | jq -c .)" \
    '{"exec":"long-run","forking":"long-run","idle":"long-run","notify":"long-run","once":"oneshot-pre","scripted":"long-run","simple":"long-run"}'
  local s6
  s6=$(sd_eval "$m" s6.services)
  assert_eq "$(jq -r '.notify.type, .notify.notificationFd, .once.type, (.once.notificationFd|tostring)' <<<"$s6" | tr '\n' ' ')" \
    "long-run 3 oneshot-pre null "
  assert_contains "$(jq -r .notify.execStart <<<"$s6")" "-nci-systemd run --readiness-fd 3 /nix/store/"
  assert_contains "$(jq -r .notify.execStart <<<"$s6")" "-systemd-units/units/notify.json"
  # A oneshot without readiness: nci-systemd runs it to its end.
  [[ $(jq -r .once.execStart <<<"$s6") != *readiness-fd* ]] || fail "a oneshot got a readiness fd"
}

t_L3_systemd_oneshot_after_a_long_run_is_oneshot_post_and_after_before_order_s6() {
  local m='{
    image.name = "order";
    systemd.services = {
      db.serviceConfig.ExecStart = "/bin/db";
      web = { after = [ "db.service" "network.target" ]; serviceConfig.ExecStart = "/bin/web"; };
      migrate = { after = [ "db.service" ]; serviceConfig = { Type = "oneshot"; ExecStart = "/bin/m"; }; };
      seed = { after = [ "migrate.service" ]; serviceConfig = { Type = "oneshot"; ExecStart = "/bin/s"; }; };
      setup = { before = [ "db.service" "keys.service" ]; serviceConfig = { Type = "oneshot"; ExecStart = "/bin/x"; }; };
      keys = { aliases = [ "secrets.service" ]; serviceConfig = { Type = "oneshot"; ExecStart = "/bin/k"; }; };
      uses-alias = { after = [ "secrets.service" ]; serviceConfig = { Type = "oneshot"; ExecStart = "/bin/u"; }; };
    };
  }'
  assert_eq "$(sd_eval "$m" systemd.build.phases | jq -c .)" \
    '{"db":"long-run","keys":"oneshot-pre","migrate":"oneshot-post","seed":"oneshot-post","setup":"oneshot-pre","uses-alias":"oneshot-pre","web":"long-run"}'
  local s6
  s6=$(sd_eval "$m" s6.services)
  assert_eq "$(jq -c '[.web.after, .migrate.after, .seed.after, .keys.after, .["uses-alias"].after, .db.after]' <<<"$s6")" \
    '[["db"],["db"],["migrate"],["setup"],["keys"],[]]'
}

t_L3_systemd_long_run_after_a_oneshot_post_warns_that_it_cannot_wait() {
  local w
  w=$(sd_warnings '{
    image.name = "late";
    systemd.services = {
      db.serviceConfig.ExecStart = "/bin/db";
      migrate = { after = [ "db.service" ]; serviceConfig = { Type = "oneshot"; ExecStart = "/bin/m"; }; };
      app = { after = [ "migrate.service" ]; serviceConfig.ExecStart = "/bin/app"; };
    };
  }')
  assert_contains "$w" "systemd.services.app.after: migrate.service is a oneshot run after the long-runs (oneshot-post) and app is a long-run: app cannot wait for it and starts with the long-runs."
}

t_L3_systemd_scripts_become_exec_commands_as_in_nixos() {
  local m='{ pkgs, ... }: {
    image.name = "scripts";
    systemd.services.app = {
      preStart = "echo pre";
      script = "exec app";
      scriptArgs = "--port 80";
      postStart = "echo post";
      reload = "echo reload";
      preStop = "echo stop";
      postStop = "echo stopped";
      serviceConfig.ExecStartPre = [ "/bin/first" ];
    };
  }'
  local sc
  sc=$(sd_eval "$m" systemd.build.units.units.app.serviceConfig)
  echo "$sc"
  assert_eq "$(jq -r '.ExecStart[0]' <<<"$sc" | sed 's|/nix/store/[a-z0-9]*-||')" "unit-script-app-start --port 80"
  assert_eq "$(jq -r '.ExecStartPre | length' <<<"$sc")" 2
  for k in ExecStartPost ExecReload ExecStop ExecStopPost; do
    [[ $(jq -r ".$k[0]" <<<"$sc") == /nix/store/*-unit-script-app-* ]] || fail "$k is not a job script"
  done
  # The job script runs the text with set -e, as NixOS' do.
  local script
  script=$(nbuild "$ROOT/tests/build.nix" --arg module "$m" -A config.systemd.build.units)
  script=$(jq -r '.serviceConfig.ExecStart[0]' "$script/units/app.json" | cut -d' ' -f1)
  assert_eq "$(sed -n 2,3p "$script" | tr '\n' ';')" "set -e;exec app;"
  [[ $(head -1 "$script") == "#!/nix/store/"*"/bin/bash" ]] || fail "no bash shebang"
}

t_L3_systemd_environment_path_and_global_environment_reach_the_unit() {
  local env
  env=$(sd_eval '{ pkgs, ... }: {
    image.name = "env";
    systemd.globalEnvironment = { TZ = "UTC"; LANG = "C"; };
    systemd.services.app = {
      path = [ pkgs.hello ];
      environment = { LANG = "C.UTF-8"; DROPPED = null; PKG = pkgs.hello; };
      serviceConfig.ExecStart = "/bin/a";
    };
  }' systemd.build.units.units.app.environment)
  echo "$env"
  assert_eq "$(jq -r '[.TZ, .LANG, (.DROPPED // "absent")] | join(" ")' <<<"$env")" "UTC C.UTF-8 absent"
  [[ $(jq -r .PKG <<<"$env") == /nix/store/*-hello-* ]] || fail "a package value is not its path"
  # PATH: the service's path (bin, then sbin), then NixOS' defaults
  # (coreutils, findutils, gnugrep, gnused).
  [[ $(jq -r .PATH <<<"$env") == /nix/store/*-hello-*/bin:/nix/store/*-coreutils-*/bin:/nix/store/*-findutils-*/bin:/nix/store/*-gnugrep-*/bin:/nix/store/*-gnused-*/bin:/nix/store/*-hello-*/sbin:/nix/store/*-coreutils-*/sbin:/nix/store/*-findutils-*/sbin:/nix/store/*-gnugrep-*/sbin:/nix/store/*-gnused-*/sbin ]] ||
    fail "unexpected PATH: $(jq -r .PATH <<<"$env")"
}

t_L3_systemd_service_settings_reach_the_unit_and_the_s6_stop_timeout() {
  local m='{
    image.name = "settings";
    users.users.app = { isSystemUser = true; group = "app"; };
    users.groups.app = { };
    systemd.services.app.serviceConfig = {
      ExecStart = "/bin/app"; User = "app"; Group = "app"; Restart = "on-failure"; RestartSec = 5;
      TimeoutStopSec = "20s"; KillSignal = "SIGQUIT"; RuntimeDirectory = "app"; StateDirectory = [ "app" "app/db" ];
      NoNewPrivileges = true; SuccessExitStatus = [ 3 "SIGUSR1" ]; RemainAfterExit = true;
    };
  }'
  local sc
  sc=$(sd_eval "$m" systemd.build.units.units.app.serviceConfig)
  assert_eq "$(jq -c '[.User, .Group, .Restart, .RestartSec, .KillSignal, .RuntimeDirectory, .StateDirectory, .NoNewPrivileges, .SuccessExitStatus]' <<<"$sc")" \
    '["app","app","on-failure","5","SIGQUIT",["app"],["app","app/db"],"yes",["3","SIGUSR1"]]'
  # RemainAfterExit is accepted and has nothing to do: not passed, no warning.
  assert_eq "$(jq -r '.RemainAfterExit // "absent"' <<<"$sc")" absent
  assert_eq "$(sd_warnings "$m")" ""
  # s6 waits a second longer than TimeoutStopSec before its own KILL.
  assert_eq "$(sd_eval "$m" s6.services.app.stopTimeout)" 21000
  assert_eq "$(sd_eval "$m" s6.services.app.restartOnFailure)" false
}

t_L3_systemd_s6_stop_timeout_reads_fractions_and_weeks_as_nci_systemd_does() {
  # The s6 stop timeout is TimeoutStopSec (or TimeoutSec) plus a second,
  # read with the units of nci-systemd's time spans.
  local m='{
    image.name = "spans";
    systemd.services = {
      frac.serviceConfig = { ExecStart = "/bin/a"; TimeoutStopSec = "1.5s"; };
      bare.serviceConfig = { ExecStart = "/bin/a"; TimeoutSec = "0.25"; };
      mixed.serviceConfig = { ExecStart = "/bin/a"; TimeoutStopSec = "1min 2.5s"; };
      week.serviceConfig = { ExecStart = "/bin/a"; TimeoutStopSec = "1w"; };
      never.serviceConfig = { ExecStart = "/bin/a"; TimeoutStopSec = "infinity"; };
      default.serviceConfig.ExecStart = "/bin/a";
    };
  }'
  # dev-log, the syslog reader (modules/syslog.nix), is not a unit.
  assert_eq "$(sd_eval "$m" s6.services | jq -c 'del(.["dev-log"]) | map_values(.stopTimeout)')" \
    '{"bare":1250,"default":91000,"frac":2500,"mixed":63500,"never":0,"week":604801000}'
}

t_L3_systemd_dynamic_user_becomes_a_system_user_of_the_image() {
  local m='{ image.name = "dyn"; systemd.services.worker.serviceConfig = { ExecStart = "/bin/w"; DynamicUser = true; }; }'
  assert_eq "$(sd_eval "$m" users.users.worker.isSystemUser)" true
  assert_eq "$(sd_eval "$m" users.users.worker.group)" '"worker"'
  assert_eq "$(sd_eval "$m" users.groups.worker.name)" '"worker"'
  assert_eq "$(sd_eval "$m" systemd.build.units.units.worker.serviceConfig.User)" '"worker"'
}

t_L3_systemd_unsupported_settings_and_units_warn_naming_them() {
  local w
  w=$(sd_warnings '{
    image.name = "warn";
    systemd.services.app = {
      serviceConfig = { ExecStart = "/bin/a"; ProtectSystem = "strict"; PrivateTmp = true; TasksMax = 5; BindPaths = "/a:/b"; Type = "dbus"; };
      unitConfig = { JobTimeoutSec = 30; RequiresMountsFor = "/data"; X-Custom = "ok"; Description = "fine"; };
      startAt = "daily";
      wantedBy = [ "multi-user.target" ];
      onFailure = [ "alert.service" ];
      requires = [ "missing.service" ];
    };
    systemd.services.cron = { startAt = "hourly"; serviceConfig.ExecStart = "/bin/c"; };
    systemd.sockets.app = { listenStreams = [ "80" ]; };
    systemd.timers.app = { };
    systemd.packages = [ ];
    systemd.user.services.u = { };
  }')
  echo "$w"
  # Sandboxing (ProtectSystem, PrivateTmp) is the container's job: no word.
  assert_contains "$w" "systemd.services.app.serviceConfig: not supported by the systemd shim, ignored: BindPaths, TasksMax (see docs/systemd.md; silence with systemd.shim.silencedWarnings)."
  assert_contains "$w" "systemd.services.app.unitConfig: not supported by the systemd shim, ignored: JobTimeoutSec (see docs/systemd.md)."
  assert_contains "$w" "systemd.services.app.startAt: timers are not supported; the service is not started at daily."
  assert_contains "$w" "systemd.services.app.serviceConfig.Type: dbus is not supported (an image has no system bus); the service runs as Type=simple."
  assert_contains "$w" "systemd.services.app.onFailure: not supported (alert.service not started on failure); a failed service stops the container."
  assert_contains "$w" "systemd.services.app.requires: missing.service not in the image; the service starts without it."
  assert_contains "$w" "systemd.services.cron.startAt: timers are not supported; the service has no wantedBy and is not started."
  assert_contains "$w" "systemd.sockets.app: sockets units are not supported by the systemd shim; ignored."
  assert_contains "$w" "systemd.timers.app: timers units are not supported by the systemd shim; ignored."
  assert_contains "$w" "systemd.user.services.u: user services are not supported by the systemd shim; ignored."
  # The timer-only service is not mapped; the other one is.
  assert_eq "$(sd_eval '{ image.name = "w"; systemd.services.cron = { startAt = "hourly"; serviceConfig.ExecStart = "/bin/c"; }; }' 's6.services' | jq -c 'keys')" '[]'
}

t_L3_systemd_silenced_warnings_are_not_printed() {
  local w
  w=$(sd_warnings '{
    image.name = "quiet";
    systemd.shim.silencedWarnings = [ "TasksMax" "app.BindPaths" ];
    systemd.services.app.serviceConfig = { ExecStart = "/bin/a"; TasksMax = 5; BindPaths = "/a:/b"; };
    systemd.services.other.serviceConfig = { ExecStart = "/bin/a"; BindPaths = "/a:/b"; };
  }')
  assert_eq "$w" "systemd.services.other.serviceConfig: not supported by the systemd shim, ignored: BindPaths (see docs/systemd.md; silence with systemd.shim.silencedWarnings)."
}

t_L3_systemd_sandboxing_is_silent_unless_strict_and_empty_settings_are_unset() {
  local m='{ image.name = "sandbox";
    systemd.services.app.serviceConfig = { ExecStart = "/bin/a"; ProtectSystem = "strict"; PrivateTmp = true;
      SystemCallFilter = [ "@system-service" ]; MemoryMax = [ ]; CPUQuota = null; };
    systemd.services.app.unitConfig.RequiresMountsFor = [ ];
    boot.kernel.sysctl."vm.overcommit_memory" = "1"; boot.kernelModules = [ "tls" ]; }'
  # An empty list or null is not set: no warning, nothing passed on.
  assert_eq "$(sd_warnings "$m")" ""
  assert_eq "$(sd_eval "$m" systemd.build.units.units.app.serviceConfig | jq -c keys)" '["ExecStart"]'
  local w
  w=$(sd_warnings "${m%\}} systemd.shim.strict = true; }")
  echo "$w"
  assert_eq "$w" "systemd.services.app.serviceConfig: sandboxing not applied, the container is the sandbox: PrivateTmp, ProtectSystem, SystemCallFilter (systemd.shim.strict).
boot.kernel.sysctl is set but not applied: a container runs on its host's kernel (set it on the host or with \`podman run --sysctl\`).
boot.kernelModules is set but not loaded: a container runs on its host's kernel, which loads modules."
}

t_L3_systemd_service_without_exec_start_nor_script_is_an_error_naming_it() {
  expect_build_error '{ image.name = "x"; systemd.services.empty = { description = "nothing"; }; }' \
    "systemd.services.empty: has neither serviceConfig.ExecStart nor script; give it one of them$"
}

t_L3_systemd_unknown_user_and_groups_are_errors_naming_the_service() {
  local out
  out=$(expect_build_error '{ image.name = "x"; systemd.services.app.serviceConfig = {
      ExecStart = "/bin/a"; User = "ghost"; Group = "ghosts"; SupplementaryGroups = [ "wheel" "nope" ]; }; }' \
    "Failed assertions:")
  assert_contains "$out" "- systemd.services.app.serviceConfig.User: user 'ghost' is not defined (add users.users.ghost); or set DynamicUser = true."
  assert_contains "$out" "- systemd.services.app.serviceConfig.Group: group 'ghosts' is not defined (add users.groups.ghosts = { };)"
  assert_contains "$out" "- systemd.services.app.serviceConfig.SupplementaryGroups: group 'nope' is not defined (add users.groups.nope = { };)"
}

t_L3_systemd_ordering_cycle_is_an_error_printing_the_cycle() {
  expect_build_error '{ image.name = "x"; systemd.services = {
      a = { after = [ "b.service" ]; before = [ "c.service" ]; serviceConfig.ExecStart = "/bin/a"; };
      b = { after = [ "c.service" ]; serviceConfig.ExecStart = "/bin/b"; };
      c.serviceConfig.ExecStart = "/bin/c";
    }; }' \
    "systemd.services: ordering cycle through after/before: (a.service -> b.service -> c.service -> a.service|b.service -> c.service -> a.service -> b.service|c.service -> a.service -> b.service -> c.service); remove one of these orderings."
}

t_L3_systemd_bad_values_are_errors_naming_the_setting() {
  local out
  out=$(expect_build_error '{ image.name = "x"; systemd.services.app.serviceConfig = {
      ExecStart = [ "/bin/a" "/bin/b" ]; Type = "sometimes"; Restart = "maybe"; }; }' "Failed assertions:")
  # The words of nci-systemd's (spec.rs' errors_name_the_setting): both
  # fill rules.rs' messages.
  assert_eq "$(grep -F -- "- systemd.services.app.serviceConfig." <<<"$out" | sed "s/^ *//")" \
    "- systemd.services.app.serviceConfig.Type: 'sometimes' is not a service type (one of simple, exec, forking, oneshot, dbus, notify, notify-reload, idle)
- systemd.services.app.serviceConfig.Restart: 'maybe' is not a restart policy (one of no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always)
- systemd.services.app.serviceConfig.ExecStart: 2 commands, but only a Type=oneshot service may have more than one"
  # Values only nci-systemd parses fail the build of the units, named,
  # all of them in one message.
  out=$(expect_build_error '{ image.name = "x"; systemd.services.app.serviceConfig = {
      ExecStart = "/bin/a \"open"; KillSignal = "SIGNOPE"; TimeoutStopSec = "soon"; }; }' "nci-systemd: 3 problems:")
  assert_eq "$(sed -n '/^nci-systemd: /,/^error: builder/{/^error: builder/!p}' <<<"$out")" "nci-systemd: 3 problems:
- systemd.services.app.serviceConfig.ExecStart: '/bin/a \"open': an unterminated quote
- systemd.services.app.serviceConfig.TimeoutStopSec: 'soon' is not a time span
- systemd.services.app.serviceConfig.KillSignal: 'SIGNOPE' is not a signal name"
}

t_L3_systemd_scheduling_settings_reach_the_unit_without_a_warning() {
  local m='{ image.name = "sched";
    systemd.services.app.serviceConfig = { ExecStart = "/bin/a"; Nice = -5; OOMScoreAdjust = 300;
      IOSchedulingClass = "idle"; IOSchedulingPriority = 7; CPUSchedulingPolicy = "batch";
      CPUSchedulingPriority = 0; CPUSchedulingResetOnFork = true; CPUAffinity = [ "0-1" 3 ]; }; }'
  assert_eq "$(sd_warnings "$m")" ""
  assert_eq "$(sd_eval "$m" systemd.build.units.units.app.serviceConfig | jq -c '[.Nice, .OOMScoreAdjust, .IOSchedulingClass, .IOSchedulingPriority, .CPUSchedulingPolicy, .CPUSchedulingPriority, .CPUSchedulingResetOnFork, .CPUAffinity]')" \
    '["-5","300","idle","7","batch","0","yes",["0-1","3"]]'
}

t_L3_systemd_bad_scheduling_values_fail_the_build_naming_the_setting() {
  local out
  out=$(expect_build_error '{ image.name = "x"; systemd.services.app.serviceConfig = {
      ExecStart = "/bin/a"; Nice = -30; IOSchedulingClass = "fast"; CPUAffinity = "0 2-x"; }; }' "nci-systemd: 3 problems:")
  assert_eq "$(sed -n '/^nci-systemd: /,/^error: builder/{/^error: builder/!p}' <<<"$out")" "nci-systemd: 3 problems:
- systemd.services.app.serviceConfig.Nice: '-30' is not a number from -20 to 19
- systemd.services.app.serviceConfig.IOSchedulingClass: 'fast' is not an IO scheduling class (realtime, best-effort, idle, none)
- systemd.services.app.serviceConfig.CPUAffinity: '0 2-x' is not a list of CPU indices and ranges (0 2-3)"
}

t_L3_systemd_tmpfiles_rules_run_first_and_unsupported_types_warn() {
  local m='{ image.name = "tmp"; systemd.tmpfiles.rules = [ "d /var/lib/app 0750 root root 10d" "p /run/fifo" ];
    systemd.tmpfiles.settings."10-x"."/srv/data".d = { mode = "0700"; };
    systemd.services.setup = { serviceConfig = { Type = "oneshot"; ExecStart = "/bin/s"; }; }; }'
  local s6 w units
  s6=$(sd_eval "$m" s6.services)
  assert_eq "$(jq -r '.["systemd-tmpfiles-setup"].type' <<<"$s6")" oneshot-pre
  assert_contains "$(jq -r '.["systemd-tmpfiles-setup"].execStart' <<<"$s6")" "-nci-systemd tmpfiles /nix/store/"
  assert_eq "$(jq -c .setup.after <<<"$s6")" '["systemd-tmpfiles-setup"]'
  w=$(sd_warnings "$m")
  assert_contains "$w" "systemd.tmpfiles.rules: 'p /run/fifo': type p is not supported by the systemd shim; ignored."
  assert_contains "$w" "systemd.tmpfiles.rules: ages are not applied (an image has no cleaning timer): /var/lib/app."
  units=$(nbuild "$ROOT/tests/build.nix" --arg module "$m" -A config.systemd.build.units)
  assert_eq "$(cat "$units/tmpfiles.conf")" "d /var/lib/app 0750 root root 10d
d /srv/data 0700 - - - "
}

t_L3_nixos_compat_options_evaluate_and_warn_where_they_matter() {
  local m='{ config, ... }: {
    image.name = "compat";
    networking.firewall.allowedTCPPorts = [ 80 ];
    networking.domain = "example.org";
    boot.kernel.sysctl."net.core.somaxconn" = 1024;
    security.acme.certs."example.org".email = "a@example.org";
    services.logrotate.enable = true;
    meta.maintainers = [ "someone" ];
    environment.etc.fqdn.text = config.networking.fqdn + " " + config.security.acme.certs."example.org".directory;
  }'
  local w
  w=$(sd_warnings "$m")
  echo "$w"
  assert_contains "$w" "networking.firewall.allowedTCPPorts is set but ignored: an image has no firewall; publish ports with image.exposedPorts and \`podman run -p\`."
  # The host's business (sysctls) is only listed in strict mode.
  [[ $w != *boot.kernel.sysctl* ]] || fail "a sysctl warned outside strict mode"
  assert_contains "$w" "security.acme.certs.example.org is ignored: ACME certificates are not obtained in an image; mount them into the container."
  assert_contains "$w" "services.logrotate.enable is ignored: there is no logrotate timer in an image."
  assert_eq "$(sd_eval "$m" environment.etc.fqdn.text)" '"nixos.example.org /var/lib/acme/example.org"'
  assert_eq "$(sd_eval "$m" networking.enableIPv6)" false
}

# --- L4: images in podman ------------------------------------------------

t_L4_example_systemd_image_orders_dependent_services() {
  local ref id out
  ref=$(load_image "$(build_image "$ROOT/images/example-systemd.nix")")
  id=$("${PODMAN_RUN[@]}" -d "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  for _ in $(seq 100); do
    podman logs "$id" 2>&1 | grep -q "dependent services 2" && break
    sleep 0.1
  done
  out=$(podman logs "$id" 2>&1)
  echo "$out"
  # The original test: `docker logs systemd | grep dependent services | sort --check`.
  grep "dependent services" <<<"$out" | sort --check || fail "second ran before first"
  assert_eq "$(grep -c "dependent services" <<<"$out")" 2
  for line in "systemd.services.daemon.script with environment.OUTPUT=output" "systemd.services.oneshot" \
    "serviceConfig.ExecStart" "systemd.services.pre-start.preStart" "systemd.services.pre-start.script"; do
    assert_contains "$out" "$line"
  done
}

t_L4_example_systemd_init_runs_outside_a_container_with_a_state_dir() {
  # The original project's tip: nix-build -A dockerImages.example-systemd.init; ./result STATE-DIR
  local init dir log pid
  init=$(nbuild "$ROOT/tests/build.nix" --arg module "$ROOT/images/example-systemd.nix" -A init)
  dir=$(mktemp -d)
  chown 65534:65534 "$dir"
  setpriv --reuid 65534 --regid 65534 --clear-groups "$init" "$dir/state" >"$dir/log" 2>&1 &
  pid=$!
  # Each long-run's first line, whatever order they start in (on a loaded
  # machine s6-svscan alone can take seconds).
  for _ in $(seq 300); do
    grep -q "dependent services 2" "$dir/log" && grep -q "pre-start.script" "$dir/log" &&
      grep -q "environment.OUTPUT=output" "$dir/log" && break
    sleep 0.1
  done
  kill -TERM "$pid"
  wait "$pid" || true
  log=$(cat "$dir/log")
  echo "$log"
  grep "dependent services" <<<"$log" | sort --check || fail "second ran before first"
  assert_contains "$log" "systemd.services.daemon.script with environment.OUTPUT=output"
  assert_contains "$log" "[init stage 3] exiting with code 0"
  rm -rf "$dir"
}

t_L4_systemd_notify_service_gates_a_dependent_oneshot() {
  local ref out code
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "notify";
    systemd.services.db = {
      path = [ pkgs.coreutils ];
      serviceConfig.Type = "notify";
      script = "sleep 2; touch /run/db-ready; systemd-notify --ready; exec sleep 1000";
    };
    systemd.services.migrate = {
      after = [ "db.service" ];
      serviceConfig.Type = "oneshot";
      path = [ pkgs.coreutils ];
      script = "test -e /run/db-ready; echo migrate saw the ready db";
    };
    s6.exitCodeFrom = "migrate";
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref" 2>&1) && code=0 || code=$?
  echo "$out"
  assert_eq "$code" 0
  assert_contains "$out" "migrate saw the ready db"
}

t_L4_systemd_restart_on_failure_restarts_after_restart_sec() {
  local ref out
  local id
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "restart";
    systemd.services.flaky = {
      path = [ pkgs.coreutils ];
      script = "n=$(cat /run/tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > /run/tries; echo try $n at $(date +%s%N); [ $n -ge 3 ] || exit 4; echo serving; exec sleep 1000";
      serviceConfig = { Restart = "on-failure"; RestartSec = "1s"; };
    };
  }')")
  id=$("${PODMAN_RUN[@]}" -d "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  for _ in $(seq 100); do
    podman logs "$id" 2>&1 | grep -q serving && break
    sleep 0.1
  done
  out=$(podman logs "$id" 2>&1)
  echo "$out"
  assert_eq "$(grep -c "failed (status 4); restarting in 1s (Restart=on-failure)" <<<"$out")" 2
  local t1 t3
  t1=$(sed -n 's/^try 1 at //p' <<<"$out")
  t3=$(sed -n 's/^try 3 at //p' <<<"$out")
  [ $(((t3 - t1) / 1000000)) -ge 1900 ] || fail "restarts did not wait RestartSec: $t1 $t3"
  assert_contains "$out" "serving"
}

t_L4_systemd_tmpfiles_and_directories_exist_with_owners_in_the_container() {
  local ref out
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "dirs";
    environment.systemPackages = [ pkgs.busybox ];
    users.users.app = { isSystemUser = true; group = "app"; };
    users.groups.app = { };
    systemd.tmpfiles.rules = [ "d /srv/data 0710 app app -" "f /srv/data/hello 0640 app app - hi" "L /srv/link - - - - /srv/data" ];
    systemd.services.show = {
      path = [ pkgs.busybox ];
      serviceConfig = { Type = "oneshot"; User = "app"; StateDirectory = "app"; LogsDirectory = "app"; LogsDirectoryMode = "0700"; };
      script = "stat -c \"%n %a %U:%G\" /srv/data /srv/data/hello /var/lib/app /var/log/app; readlink /srv/link; echo state=$STATE_DIRECTORY; id -un";
    };
    s6.exitCodeFrom = "show";
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref" 2>&1)
  echo "$out"
  assert_contains "$out" "/srv/data 710 app:app"
  assert_contains "$out" "/srv/data/hello 640 app:app"
  assert_contains "$out" "/var/lib/app 755 app:app"
  assert_contains "$out" "/var/log/app 700 app:app"
  assert_contains "$out" "state=/var/lib/app"
  grep -q '^/srv/data$' <<<"$out" || fail "no link"
  grep -q '^app$' <<<"$out" || fail "not run as app"
}

# --- the original project's s6 tests, which used systemd.services --------
# Under their own camelCase image names: only `.init` is built, so the
# name, which no image reference could carry, is not checked.

# Runs the image's init (`init STATE-DIR`) as PID 1 of a PID namespace for
# at most SECS seconds (then TERM); prints its log and, last, `rc=N`.
sd_init_run() {
  local init dir rc
  init=$(nbuild "$ROOT/tests/build.nix" --arg module "$1" -A init) || { echo "rc=build-failed"; return 1; }
  dir=$(mktemp -d)
  timeout -s TERM "$2" unshare --pid --fork --mount-proc --kill-child=SIGTERM "$init" "$dir/state" >"$dir/log" 2>&1 && rc=0 || rc=$?
  sleep 0.5
  cat "$dir/log"
  echo "rc=$rc"
  rm -rf "$dir"
}

t_L4_systemd_original_stop_if_longrun_no_restart_fails() {
  local out
  out=$(sd_init_run '{ image.name = "stopIfLongrunNoRestartFails"; systemd.services.example.script = "exit 1"; }' 30)
  echo "$out"
  assert_contains "$out" "nci-systemd: example: failed (status 1)"
  assert_contains "$out" "sending all processes the TERM signal"
  assert_eq "$(tail -n 1 <<<"$out")" "rc=1"
}

t_L4_systemd_original_stop_if_longrun_restart() {
  local out
  out=$(sd_init_run '{ image.name = "stopIfLongrunRestart";
    systemd.services.example = { script = "echo restart; exit 1"; serviceConfig.Restart = "always"; }; }' 30)
  echo "$out"
  [ "$(grep -c '^restart$' <<<"$out")" -ge 2 ] || fail "not restarted"
  # systemd's start limit (5 in 10 s) ends the crash loop: the container stops.
  assert_contains "$out" "start request repeated too quickly"
  assert_eq "$(tail -n 1 <<<"$out")" "rc=1"
}

t_L4_systemd_original_stop_if_oneshot_fail() {
  local out
  out=$(sd_init_run '{ image.name = "stopIfOneshotFail";
    systemd.services.example = { script = "echo restart; exit 1"; serviceConfig.Type = "oneshot"; }; }' 30)
  echo "$out"
  assert_eq "$(grep -c '^restart$' <<<"$out")" 1
  assert_contains "$out" "sending all processes the TERM signal"
  [ "$(tail -n 1 <<<"$out")" != "rc=0" ] || fail "a failed oneshot did not fail the container"
}

t_L4_systemd_original_dependent_oneshot() {
  local out
  out=$(sd_init_run '{ image.name = "dependentOneshot";
    systemd.services.example-1 = { script = "echo example-1: MUSTNOTEXISTELSEWHERE_1"; after = [ "example-2.service" ]; serviceConfig.Type = "oneshot"; };
    systemd.services.example-2 = { script = "echo example-2: MUSTNOTEXISTELSEWHERE_2"; serviceConfig.Type = "oneshot"; };
    systemd.services.keep.script = "exec sleep 100";
  }' 4)
  echo "$out"
  assert_contains "$out" "MUSTNOTEXISTELSEWHERE_1"
  # The order check below passes on one line: both must have run.
  assert_contains "$out" "example-2: MUSTNOTEXISTELSEWHERE_2"
  grep "^example-.: MUSTNOTEXISTELSEWHERE" <<<"$out" | sort --check --reverse || fail "example-1 ran before example-2"
}

t_L4_systemd_original_oneshot_post() {
  local out
  out=$(sd_init_run '{ image.name = "oneshotPost";
    systemd.services.example-1 = { script = "sleep 2; echo example-1: MUSTNOTEXISTELSEWHERE_1"; after = [ "example-2.service" ]; serviceConfig.Type = "oneshot"; };
    systemd.services.example-2 = { script = "echo example-2: MUSTNOTEXISTELSEWHERE_2"; };
  }' 6)
  echo "$out"
  assert_contains "$out" "MUSTNOTEXISTELSEWHERE_1"
  assert_contains "$out" "example-2: MUSTNOTEXISTELSEWHERE_2"
  grep "^example-.: MUSTNOTEXISTELSEWHERE" <<<"$out" | head -n 2 | sort --check --reverse || fail "the oneshot-post ran before the long-run"
}

t_L4_systemd_original_path() {
  local out
  out=$(sd_init_run '{ pkgs, ... }: { image.name = "path";
    systemd.services.path = { script = "hello"; path = [ pkgs.hello ]; }; }' 4)
  echo "$out"
  grep -q '^Hello, world!$' <<<"$out" || fail "hello did not run from the service path"
}

t_L3_systemd_tmpfiles_owner_must_exist() {
  expect_build_error '{ image.name = "x"; systemd.tmpfiles.rules = [ "d /srv/x 0700 ghost ghosts -" "d /srv/y 0700 root 4242 -" ]; }' \
    "- systemd.tmpfiles.rules: 'd /srv/x 0700 ghost ghosts -': user 'ghost' is not defined \(add users\.users\.ghost\)"
}

t_L3_systemd_service_and_s6_service_of_one_name_is_an_error() {
  expect_build_error '{ image.name = "x"; systemd.services.web.script = "true"; s6.services.web.execStart = "/bin/web"; s6.services.other.execStart = "/bin/o"; }' \
    "- systemd.services.web and s6.services.web: both define the s6 service 'web'; rename one of them."
}

t_L3_systemd_credentials_reach_the_unit_without_warnings_and_encrypted_ones_are_refused() {
  local m='{
    image.name = "creds";
    systemd.services.app.serviceConfig = {
      ExecStart = "/bin/app";
      LoadCredential = [ "tls:/etc/app/key.pem" "token" ];
      SetCredential = "greeting:hello";
    };
  }'
  local sc
  sc=$(sd_eval "$m" systemd.build.units.units.app.serviceConfig)
  assert_eq "$(jq -c '[.LoadCredential, .SetCredential]' <<<"$sc")" '[["tls:/etc/app/key.pem","token"],["greeting:hello"]]'
  assert_eq "$(sd_warnings "$m")" ""
  expect_build_error '{ image.name = "x"; systemd.services.app.serviceConfig = { ExecStart = "/bin/app"; LoadCredentialEncrypted = "k:/etc/k.cred"; }; }' \
    'systemd\.services\.app\.serviceConfig\.LoadCredentialEncrypted: encrypted credentials are not supported \(decrypting needs the host.s key or TPM, which a container does not have\): decrypt it on the host with `systemd-creds decrypt` and give it with LoadCredential'
}

t_L4_systemd_credentials_are_the_services_users_and_systemd_creds_prints_them() {
  local ref out
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "creds";
    users.users.app = { isSystemUser = true; group = "app"; };
    users.groups.app = { };
    environment.etc."app/key.pem".text = "KEY";
    systemd.services.show = {
      path = [ pkgs.busybox ];
      serviceConfig = {
        Type = "oneshot"; User = "app";
        LoadCredential = [ "tls:/etc/app/key.pem" ];
        SetCredential = [ "greeting:hello\\sworld" ];
      };
      script = "echo dir=$CREDENTIALS_DIRECTORY; echo tls=$(systemd-creds cat tls); echo greeting=$(systemd-creds cat greeting); stat -c \"%a %U:%G\" $CREDENTIALS_DIRECTORY $CREDENTIALS_DIRECTORY/tls; echo read=$(cat $CREDENTIALS_DIRECTORY/tls)";
    };
    s6.exitCodeFrom = "show";
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref" 2>&1)
  echo "$out"
  assert_contains "$out" "dir=/run/credentials/show.service"
  assert_contains "$out" "tls=KEY"
  assert_contains "$out" "greeting=hello world"
  assert_contains "$out" "500 app:app"
  assert_contains "$out" "400 app:app"
  assert_contains "$out" "read=KEY"
}

t_L4_systemd_limits_above_the_containers_hard_limit_are_lowered_and_the_service_starts() {
  # podman runs here with --ulimit nofile=1024:1024 and without
  # CAP_SYS_RESOURCE: redis' LimitNOFILE=10032 failed the start (205).
  local ref out
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "limits";
    systemd.services.show = {
      path = [ pkgs.busybox ];
      serviceConfig = { Type = "oneshot"; LimitNOFILE = 10032; LimitCORE = "infinity"; };
      script = "echo nofile=$(ulimit -Sn):$(ulimit -Hn)";
    };
    s6.exitCodeFrom = "show";
  }')")
  out=$("${PODMAN_RUN[@]}" --ulimit core=0:0 "$ref" 2>&1)
  echo "$out"
  assert_contains "$out" "nci-systemd: show: LimitNOFILE=10032 is above the container's hard limit (1024): lowered to 1024"
  assert_contains "$out" "nci-systemd: show: LimitCORE=infinity is above the container's hard limit (0): lowered to 0"
  assert_contains "$out" "nofile=1024:1024"
}

t_L4_systemd_scheduling_settings_apply_in_podman_and_a_forbidden_one_is_handled_as_systemd() {
  # podman's default capability set has no CAP_SYS_NICE, CAP_SYS_RESOURCE
  # or CAP_SYS_ADMIN: Nice=-5 is set to the closest allowed level (the
  # container's own, which is the suite's: 0 unless it runs under `nice`)
  # and a lower OOM score is left, each with a line, as systemd does; the
  # rest applies. The realtime IO class fails the start (211), named.
  local ref out cur later
  cur=$(nice)
  later=$(( cur > 7 ? cur : 7 ))
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "sched";
    systemd.services.show = {
      path = [ pkgs.busybox ];
      serviceConfig = { Type = "oneshot"; Nice = -5; OOMScoreAdjust = -100; IOSchedulingClass = "idle";
        CPUSchedulingPolicy = "batch"; CPUAffinity = "0"; };
      script = "set -- $(cat /proc/$$/stat); shift 18; n=$1; shift 22; echo nice=$n policy=$1 oom=$(cat /proc/$$/oom_score_adj) io=$(busybox ionice -p $$) cpus=$(grep Cpus_allowed_list /proc/$$/status | cut -f2)";
    };
    systemd.services.later = {
      path = [ pkgs.busybox ];
      after = [ "show" ];
      serviceConfig = { Type = "oneshot"; Nice = 7; OOMScoreAdjust = 250; };
      script = "set -- $(cat /proc/$$/stat); shift 18; echo later nice=$1 oom=$(cat /proc/$$/oom_score_adj)";
    };
    s6.exitCodeFrom = "show";
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref" 2>&1)
  echo "$out"
  assert_contains "$out" "nci-systemd: show: Nice=-5 is not allowed in the container (no CAP_SYS_NICE; RLIMIT_NICE 0): set to $cur, the closest allowed"
  assert_contains "$out" "nci-systemd: show: OOMScoreAdjust=-100 is not allowed in the container (lowering it needs CAP_SYS_RESOURCE): not applied"
  assert_contains "$out" "nice=$cur policy=3 oom=0 io=idle cpus=0"
  assert_contains "$out" "later nice=$later oom=250"
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "sched-rt";
    systemd.services.rt = { serviceConfig = { Type = "oneshot"; IOSchedulingClass = "realtime"; }; script = "echo ran"; };
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref" 2>&1) && fail "a start the container refuses did not fail the container"
  echo "$out"
  assert_contains "$out" "nci-systemd: rt: IOSchedulingClass=realtime IOSchedulingPriority=4: setting the IO scheduling: Operation not permitted (the realtime class needs CAP_SYS_NICE or CAP_SYS_ADMIN, which the container lacks)"
  [ "$(grep -c '^ran$' <<<"$out")" = 0 ] || fail "the refused service ran"
}

t_L4_systemd_systemctl_stop_start_and_status_go_through_s6_in_podman() {
  # A root script of the image stops a long-run, reads its status and
  # starts it again, as systemd's jobs: each returns once done. The
  # container keeps running (a service stopped on request is not a
  # failure for the init).
  local m='{ pkgs, ... }: {
    image.name = "systemctl-ss";
    systemd.services.web = {
      serviceConfig.ExecStopPost = "${pkgs.busybox}/bin/sh -c \"echo stopped >> /run/web.pids\"";
      script = "echo $$ >> /run/web.pids; exec sleep 1000";
    };
    systemd.services.ctl = {
      after = [ "web.service" ];
      serviceConfig.Type = "oneshot";
      # A job script runs with `set -e`: each status is kept.
      script = "
        rc=0; systemctl status web.service > /run/status-up || rc=$?; echo \"rc $rc\" >> /run/status-up
        rc=0; systemctl stop web || rc=$?; echo \"stop $rc\" > /run/ctl
        systemctl is-active web >> /run/ctl || true
        rc=0; systemctl status web > /run/status-down || rc=$?; echo \"rc $rc\" >> /run/status-down
        rc=0; systemctl start web.service || rc=$?; echo \"start $rc\" >> /run/ctl
        systemctl is-active web >> /run/ctl || true
        touch /run/ctl-done
      ";
    };
  }'
  local ref id out cat=/run/current-system/sw/bin/cat
  ref=$(load_image "$(build_image -E "$m")")
  id=$(podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  for _ in $(seq 150); do
    podman exec "$id" /run/current-system/sw/bin/test -e /run/ctl-done 2>/dev/null && break
    sleep 0.1
  done
  podman logs "$id" 2>&1
  assert_eq "$(podman exec "$id" $cat /run/ctl)" "stop 0
inactive
start 0
active"
  # The stop sequence ran (ExecStopPost) before `stop` returned; a new
  # main process after the start.
  assert_eq "$(podman exec "$id" $cat /run/web.pids | sed 's/^[0-9]*$/pid/')" "pid
stopped
pid"
  out=$(podman exec "$id" $cat /run/status-up)
  echo "$out"
  assert_contains "$out" "● web.service"
  assert_contains "$out" "     Active: active (running)"
  assert_contains "$out" "         s6: up (pid "
  assert_contains "$out" "     Runner: "
  assert_contains "$out" "rc 0"
  out=$(podman exec "$id" $cat /run/status-down)
  echo "$out"
  assert_contains "$out" "     Active: inactive (dead)"
  assert_contains "$out" "         s6: down ("
  [[ $out != *Runner:* ]] || fail "a stopped service's status shows a runner"
  assert_contains "$out" "rc 3"
  assert_contains "$(podman logs "$id" 2>&1)" "[init] service 'web' stopped"
  assert_eq "$(podman inspect -f '{{.State.Running}}' "$id")" true
}

# A package's unit file, as a package of systemd.packages ships it.
sd_packaged_unit='pkgs.writeTextDir "lib/systemd/system/app.service" "[Unit]\nDescription=App\nAfter=db.service \\\n  other.target\n[Service]\nType=notify\nUser=nobody\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nExecStart=/bin/sh -c \"nc -l -p 80 & systemd-notify --ready; wait\"\nProtectSystem=strict\n"'

t_L3_systemd_packages_unit_files_lie_under_the_module_settings() {
  local m="{ pkgs, ... }: {
    image.name = \"pk\";
    systemd.packages = [ ($sd_packaged_unit) ];
    systemd.services.db.serviceConfig.ExecStart = \"/bin/db\";
    systemd.services.app = { wantedBy = [ \"multi-user.target\" ]; serviceConfig.ExecStart = [ \"\" \"/bin/app --from-module\" ]; };
  }"
  local unit
  unit=$(sd_eval "$m" systemd.build.units.units.app)
  echo "$unit"
  # Type, User, capabilities from the file; ExecStart reset and replaced
  # by the module (an empty string first, as in a drop-in).
  assert_eq "$(jq -c '[.type, .serviceConfig.User, .serviceConfig.AmbientCapabilities, .serviceConfig.ExecStart]' <<<"$unit")" \
    '["notify","nobody",["CAP_NET_BIND_SERVICE"],["/bin/app --from-module"]]'
  # The file's After= orders the service.
  assert_eq "$(sd_eval "$m" s6.services.app.after | jq -c .)" '["db"]'
  assert_eq "$(sd_warnings "$m")" ""
}

t_L4_systemd_packages_unit_runs_notify_and_binds_port_80_as_nobody() {
  local ref id
  ref=$(load_image "$(build_image -E "{ pkgs, ... }: {
    image.name = \"packaged\";
    systemd.packages = [ ($sd_packaged_unit) ];
    systemd.services.app = { wantedBy = [ \"multi-user.target\" ]; path = [ pkgs.busybox ]; };
  }")")
  id=$("${PODMAN_RUN[@]}" -d "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  # Ready only at READY=1: Type=notify came from the unit file.
  for _ in $(seq 100); do
    podman logs "$id" 2>&1 | grep -Eq "are up, ready: (dev-log, )?app" && break
    sleep 0.1
  done
  podman logs "$id" 2>&1
  # dev-log, the syslog reader, is ready first (it is before every long-run).
  grep -Eq "are up, ready: (dev-log, )?app \\(" <<<"$(podman logs "$id" 2>&1)" || fail "app was not ready"
  # Port 80 (0050) listening (0A), bound as nobody with the file's capability.
  grep -Eq '^ *[0-9]+: [0-9A-F]+:0050 [0-9A-F]+:0000 0A' \
    <<<"$(podman exec "$id" /bin/sh -c 'read -r -d "" t </proc/net/tcp6; echo "$t"; read -r -d "" t </proc/net/tcp; echo "$t"' || true)" ||
    fail "nothing listens on port 80"
  grep -Eq '^nobody +nc -l -p 80' <<<"$(podman top "$id" user args)" || fail "nc is not nobody"
}
