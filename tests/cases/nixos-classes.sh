# What classes of NixOS service modules read, set or rely on besides
# their own options, declared once for all of them (docs/systemd.md,
# "NixOS module reuse"): found by evaluating and running real modules
# (haproxy, unbound, dnsmasq, ...; docs/systemd.md lists them), tested
# here through our code, as the modules use it.

nc_eval() {
  eval_image "$1" "$2"
}

t_L3_nixos_dns_server_options_resolvconf_nameservers_dbus_are_accepted_without_a_warning() {
  # As NixOS' dnsmasq and unbound set them (a local resolver for the host,
  # their D-Bus policy): the container runtime writes /etc/resolv.conf and
  # there is no system bus, so nothing here is for the user to do.
  local m='{ lib, pkgs, ... }: {
    image.name = "dns";
    networking.nameservers = [ "127.0.0.1" ];
    networking.resolvconf = lib.mkIf true {
      extraConfig = "dnsmasq_conf=/etc/dnsmasq-conf.conf\n";
      subscriberFiles = [ "/etc/dnsmasq-conf.conf" ];
      useLocalResolver = lib.mkDefault true;
    };
    services.dbus.packages = [ pkgs.hello ];
    systemd.services.dns.serviceConfig.ExecStart = "${pkgs.hello}/bin/hello";
  }'
  assert_eq "$(nc_eval "$m" config.warnings)" "[]"
  assert_eq "$(nc_eval "$m" config.networking.resolvconf.useLocalResolver)" true
  assert_eq "$(nc_eval "$m" config.networking.resolvconf.enable)" false
}

t_L3_systemd_dbus_service_gets_one_warning_naming_its_bus_name() {
  local w
  w=$(nc_eval '{ image.name = "bus"; systemd.services.d.serviceConfig = { Type = "dbus"; BusName = "org.example.d"; ExecStart = "/bin/d"; }; }' config.warnings)
  assert_eq "$(jq -r '.[]' <<<"$w")" \
    "systemd.services.d.serviceConfig.Type: dbus is not supported (an image has no system bus); the service runs as Type=simple, ready without waiting for the bus name org.example.d."
}

t_L3_utils_module_argument_escapes_as_systemd_and_nixos_do() {
  local m='{ utils, pkgs, ... }: {
    image.name = "utils";
    environment.etc.u.text = builtins.toJSON {
      path = utils.escapeSystemdPath "/var/lib/my-app./x y";
      root = utils.escapeSystemdPath "/";
      args = utils.escapeSystemdExecArgs [ "a b" "50%" "$HOME" 3 ];
      shell = utils.toShellPath pkgs.bashInteractive;
      removed = map (p: p.name) (utils.removePackagesByName [ pkgs.hello pkgs.jq ] [ pkgs.jq ]);
      jq = utils.recursiveGetAttrWithJqPrefix { a = [ { } { s = { _secret = "/f"; }; } ]; } "_secret";
      creds = (utils.genJqSecretsReplacement { loadCredential = true; } { p._secret = "/run/keys/p w"; } "/o").credentials;
    };
  }'
  local u
  u=$(nc_eval "$m" 'config.environment.etc.u.text' | jq -r .)
  echo "$u"
  # systemd-escape --path "/var/lib/my-app./x y" prints var-lib-my\x2dapp.-x\x20y.
  assert_eq "$(jq -r .path <<<"$u")" 'var-lib-my\x2dapp.-x\x20y'
  assert_eq "$(jq -r .root <<<"$u")" '-'
  assert_eq "$(jq -r .args <<<"$u")" '"a b" "50%%" "$$HOME" "3"'
  [[ $(jq -r .shell <<<"$u") == /nix/store/*-bash-*/bin/bash ]] || fail "toShellPath"
  assert_eq "$(jq -c .removed <<<"$u")" '["hello-2.12"]'
  assert_eq "$(jq -c .jq <<<"$u")" '{".\"a\"[1].\"s\"":"/f"}'
  assert_eq "$(jq -c .creds <<<"$u")" '["1__run_keys_p_w:/run/keys/p w"]'
}

t_L3_systemd_mount_requirements_and_part_of_a_target_are_silent_part_of_a_service_warns() {
  # As postgresql's unit: RequiresMountsFor its data directory (the
  # runtime mounts volumes before the init starts) and partOf its target
  # (never stopped or restarted in an image); environment.pathsToLink.
  local w
  w=$(nc_eval '{
    image.name = "parts";
    environment.pathsToLink = [ "/share/postgresql" ];
    systemd.services.db = { partOf = [ "db.target" ]; unitConfig.RequiresMountsFor = "/var/lib/db"; serviceConfig.ExecStart = "/bin/db"; };
    systemd.services.web = { partOf = [ "db.service" ]; serviceConfig.ExecStart = "/bin/web"; };
  }' config.warnings)
  assert_eq "$(jq -r '.[]' <<<"$w")" "systemd.services.web.partOf: not supported (the service is not stopped or restarted with db.service)."
}

t_L3_security_pki_caBundle_is_a_bundle_modules_can_reference() {
  # unbound writes it as tls-cert-bundle; the reference brings it in.
  [[ $(nc_eval '{ image.name = "ca"; }' config.security.pki.caBundle | jq -r .) == /nix/store/*-nss-cacert-standin/etc/ssl/certs/ca-bundle.crt ]] ||
    fail "caBundle is not cacert's bundle"
}

t_L3_system_checks_are_built_with_the_image_a_failing_one_fails_it_and_none_enters_it() {
  # As postgresql's `system.checks` (its configuration checked by
  # `postgres -C config_file` at build time): NixOS builds them with the
  # system. A passing check leaves the image's bytes as without it.
  local with without out
  with=$(build_image -E '{ pkgs, ... }: { image.name = "checks"; image.tag = "t"; system.checks = [ (pkgs.runCommand "app-config-check" { } "echo checked > $out") ]; }')
  without=$(build_image -E '{ image.name = "checks"; image.tag = "t"; }')
  assert_eq "$(sha256sum <"$with")" "$(sha256sum <"$without")"
  out=$(expect_build_error '{ pkgs, ... }: { image.name = "checks"; system.checks = [ (pkgs.runCommand "app-config-check" { } "echo the configuration is wrong >&2; exit 1") ]; }' \
    "error: builder for '/nix/store/[a-z0-9]{32}-app-config-check.drv' failed with exit code 1")
  assert_contains "$out" "the configuration is wrong"
}

t_L4_nixos_system_groups_keys_and_systemd_journal_exist_where_named_with_nixos_gids() {
  # As modules put their users in `keys` (secrets) or give a service
  # SupplementaryGroups = systemd-journal (log shippers): groups NixOS'
  # own system modules declare, declared here only where named.
  local m='{ pkgs, ... }: {
    image.name = "groups";
    users.users.app = { isSystemUser = true; group = "app"; extraGroups = [ "keys" ]; };
    users.groups.app = { };
    systemd.services.reader = {
      serviceConfig = { User = "app"; SupplementaryGroups = "systemd-journal"; };
      script = "${pkgs.coreutils}/bin/id > /tmp/id; exec sleep 1000";
    };
  }'
  assert_eq "$(eval_image "$m" config.warnings)" "[]"
  assert_eq "$(eval_image '{ image.name = "plain"; }' config.users.groups | jq -c '[has("keys"), has("systemd-journal")]')" '[false,false]'
  local ref id out
  ref=$(load_image "$(build_image -E "$m")")
  id=$(podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  for _ in $(seq 100); do
    out=$(podman exec "$id" /run/current-system/sw/bin/cat /tmp/id 2>/dev/null) && [ -n "$out" ] && break
    sleep 0.1
  done
  echo "$out"
  [[ $out == *"groups="*"62(systemd-journal)"* ]] || fail "the service is not in systemd-journal (62): $out"
  [[ $out == *"96(keys)"* ]] || fail "the service's user is not in keys (96): $out"
  assert_contains "$(podman exec "$id" /run/current-system/sw/bin/cat /etc/group)" "keys:x:96:app"
  stop_ended_by_the_container "$id" 0
}

t_L3_unit_config_dependencies_join_the_options_and_manager_job_settings_are_silent() {
  # Modules write `[Unit]` lines in unitConfig as often as in options:
  # `After`/`Requires` there order as `after`/`requires` do; what
  # systemd's manager does with manual jobs, isolation and unneeded units
  # means nothing in an image.
  local m='{
    image.name = "unit-config";
    systemd.services.db.script = "exec sleep 100";
    systemd.services.setup = {
      serviceConfig.Type = "oneshot";
      script = "true";
      unitConfig = { After = [ "db.service" "network.target" ]; Requires = "db.service"; Wants = "network-online.target";
        RefuseManualStart = true; RefuseManualStop = true; AllowIsolate = false; IgnoreOnIsolate = true;
        StopWhenUnneeded = false; CollectMode = "inactive"; SourcePath = "/etc/x"; JoinsNamespaceOf = "db.service"; };
    };
    systemd.services.web = { script = "exec sleep 100"; unitConfig.OnFailure = "alert.service"; };
  }'
  assert_eq "$(eval_image "$m" config.s6.services.setup | jq -c '[.type, .after]')" '["oneshot-post",["db"]]'
  assert_eq "$(eval_image "$m" config.systemd.build.units.units.setup.unitConfig | jq -c .)" '{}'
  assert_eq "$(eval_image "$m" config.warnings | jq -r '.[]')" \
    "systemd.services.web.onFailure: not supported (alert.service not started on failure); a failed service stops the container."
}

t_L4_unit_conditions_on_the_container_capabilities_environment_and_globs_hold_as_in_systemd() {
  # NixOS modules gate services with conditions on where they run: a
  # hardware or host service with ConditionVirtualization=!container must
  # not start in a container; others need a capability or a file.
  local m='{ lib, ... }: {
    image.name = "conditions";
    image.env.MODE = "prod";
    systemd.services = lib.mapAttrs (n: c: { script = "touch /run/ran-${n}; exec sleep 1000"; unitConfig = c; }) {
      virt-container.ConditionVirtualization = "container";
      virt-not.ConditionVirtualization = "!container";
      cap-chown.ConditionCapability = "CAP_CHOWN";
      cap-sysadmin.ConditionCapability = "CAP_SYS_ADMIN";
      env-mode.ConditionEnvironment = "MODE=prod";
      env-dev.ConditionEnvironment = "MODE=dev";
      glob-etc.ConditionPathExistsGlob = "/etc/ns*.conf";
      glob-none.ConditionPathExistsGlob = "/etc/*.nothere";
      arch.ConditionArchitecture = "native";
    };
  }'
  assert_eq "$(eval_image "$m" config.warnings)" "[]"
  local ref id out
  ref=$(load_image "$(build_image -E "$m")")
  id=$(podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  nm_wait_ready "$id"
  out=$(podman exec "$id" /run/current-system/sw/bin/ls /run | grep '^ran-' | tr '\n' ' ')
  assert_eq "$out" "ran-arch ran-cap-chown ran-env-mode ran-glob-etc ran-virt-container "
  out=$(podman logs "$id" 2>&1)
  echo "$out"
  assert_contains "$out" "nci-systemd: virt-not: ConditionVirtualization=!container does not hold: not started"
  assert_contains "$out" "nci-systemd: cap-sysadmin: ConditionCapability=CAP_SYS_ADMIN does not hold: not started"
  assert_contains "$out" "nci-systemd: env-dev: ConditionEnvironment=MODE=dev does not hold: not started"
  assert_contains "$out" "nci-systemd: glob-none: ConditionPathExistsGlob=/etc/*.nothere does not hold: not started"
  stop_ended_by_the_container "$id" 0
}

t_L4_permissions_start_only_runs_the_other_commands_as_root_and_journal_settings_are_silent() {
  # Older modules set PermissionsStartOnly = true so that their preStart
  # prepares, as root, what the service user then uses; and name their
  # lines for journald (SyslogIdentifier), or use the older names of the
  # sandboxing paths (ReadWriteDirectories).
  local m='{ pkgs, ... }: {
    image.name = "permissions";
    users.users.app = { isSystemUser = true; group = "app"; };
    users.groups.app = { };
    systemd.services.app = {
      preStart = "mkdir -p /var/lib/app; ${pkgs.coreutils}/bin/id -u > /var/lib/app/pre; chown app /var/lib/app";
      script = "${pkgs.coreutils}/bin/id -u > /var/lib/app/main; exec sleep 1000";
      serviceConfig = { User = "app"; PermissionsStartOnly = true; SyslogIdentifier = "app"; LogLevelMax = "info"; ReadWriteDirectories = "/var/lib/app"; };
    };
  }'
  assert_eq "$(eval_image "$m" config.warnings)" "[]"
  [[ $(eval_image "$m" config.systemd.build.units.units.app.serviceConfig.ExecStartPre | jq -r '.[0]') == +/nix/store/*-unit-script-app-pre-start ]] ||
    fail "preStart is not privileged"
  local ref id out
  ref=$(load_image "$(build_image -E "$m")")
  id=$(podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  nm_wait_ready "$id"
  for _ in $(seq 50); do
    out=$(podman exec "$id" /run/current-system/sw/bin/cat /var/lib/app/pre /var/lib/app/main 2>/dev/null) && break
    sleep 0.1
  done
  assert_eq "$out" "0
$(podman exec "$id" /run/current-system/sw/bin/id -u app)"
  stop_ended_by_the_container "$id" 0
}

t_L4_service_image_has_var_run_var_tmp_the_system_profile_and_utils_secrets_at_start() {
  # What NixOS gives every service and modules rely on: /var/run (dnsmasq's
  # pid file), /var/tmp (lighttpd's upload directory), /run/current-system/sw/bin (unbound's ExecReload), and the
  # `utils` argument's secret snippet writing a JSON file at start.
  local m='{ utils, ... }: {
    image.name = "nixos-classes";
    environment.etc."probe/secret".text = "s3cret";
    systemd.services.conf = {
      serviceConfig.Type = "oneshot";
      script = utils.genJqSecretsReplacementSnippet { db.password._secret = "/etc/probe/secret"; port = 5; } "/run/conf.json";
    };
    systemd.services.app = {
      after = [ "conf.service" ];
      # grep and sed are on the PATH of every service, as on NixOS.
      script = "grep -q s3cret /run/conf.json; echo $$ | sed s/x/y/ > /var/run/app.pid; exec /run/current-system/sw/bin/sleep 1000";
    };
  }'
  local ref id out
  ref=$(load_image "$(build_image -E "$m")")
  id=$(podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  for _ in $(seq 100); do
    podman exec "$id" /run/current-system/sw/bin/test -s /run/app.pid 2>/dev/null && break
    sleep 0.1
  done
  out=$(podman exec "$id" /run/current-system/sw/bin/cat /run/conf.json)
  assert_eq "$(jq -c . <<<"$out")" '{"db":{"password":"s3cret"},"port":5}'
  assert_eq "$(podman exec "$id" /run/current-system/sw/bin/readlink /var/run)" "../run"
  assert_eq "$(podman exec "$id" /run/current-system/sw/bin/stat -c %a /var/tmp)" 1777
  out=$(podman top "$id" pid args)
  echo "$out"
  grep -Eq "^ *$(podman exec "$id" /run/current-system/sw/bin/cat /var/run/app.pid) +/run/current-system/sw/bin/sleep 1000" <<<"$out" ||
    fail "the service's pid file in /var/run does not name the running sleep"
  stop_ended_by_the_container "$id" 0
}

t_L4_services_scripts_call_systemctl_is_active_and_root_reloads_and_restarts() {
  # As postgresql-setup (`systemctl is-active postgresql.service` while
  # the server refuses connections) and modules' scripts that reload or
  # restart another service: `systemctl` is on every service's PATH.
  # is-active answers any user; reload and restart are root's.
  local m='{ pkgs, ... }: {
    image.name = "systemctl";
    users.users.app = { isSystemUser = true; group = "app"; };
    users.groups.app = { };
    systemd.services.web = {
      serviceConfig.ExecReload = "${pkgs.coreutils}/bin/touch /run/reloaded";
      script = "echo $$ >> /run/web.pids; exec sleep 1000";
    };
    systemd.services.probe = {
      after = [ "web.service" ];
      serviceConfig.User = "app";
      script = "
        systemctl is-active web.service > /tmp/probe
        systemctl is-active --quiet nothere.service || echo \"nothere $?\" >> /tmp/probe
        systemctl reload web.service 2>> /tmp/probe || echo \"denied $?\" >> /tmp/probe
        mv /tmp/probe /tmp/web-state
        exec sleep 1000
      ";
    };
    systemd.services.ctl = {
      after = [ "probe.service" ];
      serviceConfig.Type = "oneshot";
      # After the questions of the probe: a oneshot-post runs once the
      # long-runs are up, when the probe script may still be asking.
      script = "
        while [ ! -e /tmp/web-state ]; do sleep 0.1; done
        systemctl reload web.service
        systemctl restart web
        systemctl is-failed --quiet web || echo \"not failed $?\" > /run/ctl-done
      ";
    };
  }'
  local ref id out
  ref=$(load_image "$(build_image -E "$m")")
  id=$(podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  for _ in $(seq 100); do
    [ "$(podman exec "$id" /run/current-system/sw/bin/cat /run/web.pids 2>/dev/null | wc -l)" = 2 ] &&
      podman exec "$id" /run/current-system/sw/bin/test -e /run/ctl-done 2>/dev/null && break
    sleep 0.1
  done
  podman logs "$id" 2>&1
  assert_eq "$(podman exec "$id" /run/current-system/sw/bin/cat /tmp/web-state)" "active
nothere 3
Failed to reload web.service: Access denied (only root controls the services of an image: s6's supervise directories are root's).
denied 4"
  # The root oneshot reloaded web (its ExecReload ran), then restarted
  # it: a second main process, the container still up.
  podman exec "$id" /run/current-system/sw/bin/test -e /run/reloaded || fail "ExecReload did not run"
  assert_eq "$(podman exec "$id" /run/current-system/sw/bin/cat /run/web.pids | wc -l)" 2
  assert_eq "$(podman exec "$id" /run/current-system/sw/bin/cat /run/ctl-done)" "not failed 1"
  for _ in $(seq 50); do
    # The runner's state: systemd's word, then the runner's pid.
    out=$(podman exec "$id" /run/current-system/sw/bin/cat /run/s6/web/nci-systemd.state | cut -d' ' -f1)
    [ "$out" = active ] && break
    sleep 0.1
  done
  assert_eq "$out" active
  out=$(podman top "$id" pid args)
  echo "$out"
  grep -Eq "^ *$(podman exec "$id" /run/current-system/sw/bin/tail -n 1 /run/web.pids) +sleep 1000" <<<"$out" ||
    fail "the restarted web's sleep is not running"
  stop_ended_by_the_container "$id" 0
}
