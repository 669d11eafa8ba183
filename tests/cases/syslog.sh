# The syslog reader (modules/syslog.nix, docs/s6.md "Syslog"): /dev/log
# read by s6's s6-socklog as the s6 long-run `dev-log`, its lines in the
# container's log. L3: when it is on, what it adds to the init spec, the
# error of an s6.programs without it. L4: util-linux's logger and NixOS'
# own nginx module logging to syslog, their lines in `podman logs`; a
# container run as another user, where /dev/log cannot be made.

# A plain s6 service and a systemd service, the image's modules as users
# write them.
syslog_s6='s6.services.app.execStart = "${pkgs.hello}/bin/hello";'
syslog_sd='systemd.services.app = { wantedBy = [ "multi-user.target" ]; script = "exec sleep 1000"; };'

t_L3_syslog_reader_is_on_where_the_systemd_shim_runs_a_service_and_off_elsewhere() {
  local on off
  on=$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $syslog_sd }" config.s6.syslog.enable)
  assert_eq "$on" true "(a systemd service)"
  off=$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $syslog_s6 }" config.s6.syslog.enable)
  assert_eq "$off" false "(s6 services only)"
  assert_eq "$(eval_image '{ image.name = "x"; }' config.s6.syslog.enable)" false "(no service)"
  # A timer's job only: the shim starts nothing, so no reader either.
  assert_eq "$(eval_image '{ image.name = "x"; systemd.services.job = { startAt = "daily"; script = "true"; }; }' \
    config.s6.syslog.enable)" false "(a timer's job only)"
  # Off: no service, no program, the image's s6 services as before.
  assert_eq "$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $syslog_s6 }" config.s6.services | jq -c 'keys')" '["app"]'
  assert_eq "$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $syslog_s6 }" config.s6.programs | jq -c 'index("s6-socklog")')" null
  # Turned off in a systemd image: gone.
  assert_eq "$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $syslog_sd s6.syslog.enable = false; }" config.s6.services |
    jq -c 'keys')" '["app"]'
}

t_L3_syslog_reader_starts_before_every_long_run_and_oneshot_post() {
  local m spec
  m="{ pkgs, ... }: { image.name = \"x\"; s6.syslog.enable = true; s6.services = {
      pre = { type = \"oneshot-pre\"; script = \"true\"; };
      web = { execStart = \"\${pkgs.hello}/bin/hello\"; after = [ \"db\" ]; };
      db.execStart = \"\${pkgs.hello}/bin/hello\";
      post = { type = \"oneshot-post\"; script = \"true\"; };
    }; }"
  spec=$(eval_image "$m" init.spec)
  assert_eq "$(jq -c '.services | to_entries | map([.key, .value.after]) ' <<<"$spec")" \
    '[["db",["dev-log"]],["dev-log",[]],["post",["dev-log"]],["pre",[]],["web",["db","dev-log"]]]'
  # The reader: a long-run with readiness on fd 3, root (it drops to
  # nobody itself), s6-socklog beside the default programs.
  # It stops last: s6 gives it the slowest long-run's stop timeout and
  # a second.
  assert_eq "$(jq -c '.services["dev-log"] | [.type, .notificationFd, .user, .stopTimeout]' <<<"$spec")" '["long-run",3,"root",4000]'
  grep -q 's6-socklog -d 3 -u 65534 -g 65534 -G "" &' <<<"$(jq -r '.services["dev-log"].script' <<<"$spec")" ||
    fail "the reader does not run s6-socklog"
  assert_eq "$(eval_image "$m" config.s6.programs | jq -c .)" \
    '["s6-svscan","s6-supervise","s6-svc","s6-svstat","s6-svok","s6-svscanctl","s6-log","s6-socklog"]'
  # What the user and the modules set is unchanged in the options.
  assert_eq "$(eval_image "$m" config.s6.services.web.after | jq -c .)" '["db"]'
  # The systemd shim's services too (they are s6 services).
  spec=$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $syslog_sd }" init.spec)
  assert_eq "$(jq -c '.services.app.after' <<<"$spec")" '["dev-log"]'
  # systemd's 90 s TimeoutStopSec (s6 waits 91 s for nci-systemd).
  assert_eq "$(jq -c '[.services.app.stopTimeout, .services["dev-log"].stopTimeout]' <<<"$spec")" '[91000,92000]'
}

t_L3_syslog_an_s6_programs_list_without_s6_socklog_is_refused_naming_the_options() {
  expect_build_error "{ pkgs, ... }: { image.name = \"x\"; $syslog_sd s6.programs = [ \"s6-svscan\" \"s6-supervise\" \"s6-svc\" ]; }" \
    "s6\.programs: 's6-socklog' is missing: s6\.syslog\.enable runs it \(add it to the list, or set s6\.syslog\.enable = false\)"
  # The same list with it builds.
  eval_image "{ pkgs, ... }: { image.name = \"x\"; $syslog_sd s6.programs = [ \"s6-svscan\" \"s6-supervise\" \"s6-socklog\" ]; }" \
    init.drvPath >/dev/null
}

# Starts an image detached with the CI's ulimits and podman options $2...
# (no --rm: the exit code is read after the stop); prints the id. The
# caller removes it (trap).
syslog_start() {
  local ref=$1
  shift
  podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$@" "$ref"
}

t_L3_syslog_a_systemd_service_named_like_the_reader_is_refused_naming_the_option_to_rename_it() {
  expect_build_error '{ image.name = "x"; systemd.services.dev-log.script = "exec sleep 1000"; }' \
    "s6\.syslog\.serviceName: 'dev-log' is also the name of systemd\.services\.dev-log: set s6\.syslog\.serviceName to another name for the syslog reader"
  # Renamed, it builds; the systemd service keeps its name.
  assert_eq "$(eval_image '{ image.name = "x"; systemd.services.dev-log.script = "exec sleep 1000"; s6.syslog.serviceName = "syslog-reader"; }' \
    init.spec | jq -c '.services | keys')" '["dev-log","syslog-reader"]'
}

# Waits (at most 10 s) until the log of container $1 has a line matching
# the extended regex $2; prints the log either way.
syslog_wait_for() {
  local log
  for _ in $(seq 100); do
    log=$(podman logs "$1" 2>&1)
    grep -Eq -- "$2" <<<"$log" && break
    sleep 0.1
  done
  echo "$log"
  grep -Eq -- "$2" <<<"$log" || fail "no line matching /$2/ in the container's log"
}

t_L4_syslog_logger_in_a_systemd_service_shows_in_podman_logs() {
  local ref id top
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "syslog-logger";
    systemd.services.app = {
      wantedBy = [ "multi-user.target" ];
      path = [ pkgs.util-linux ];
      script = "logger -t app -p daemon.warning \"hello from syslog\"; exec sleep 1000";
    };
  }')")
  id=$(syslog_start "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  # util-linux's logger writes RFC 3164 to /dev/log (it fails without a
  # reader there); s6-socklog prints its priority as facility.level.
  syslog_wait_for "$id" '^daemon\.warn: .* app: hello from syslog$'
  # The service started once the reader was bound (logger, run first
  # thing, fails without it); the reader runs as nobody.
  top=$(podman top "$id" user args)
  echo "$top"
  grep -Eq '^(nobody|65534) +s6-socklog -d 3' <<<"$top" || fail "s6-socklog is not running as nobody"
  stop_ended_by_the_container "$id" 0
}

t_L4_syslog_nixos_nginx_module_logging_to_syslog_shows_its_lines_in_podman_logs() {
  need_nixos_modules
  local ref id port=18437 out
  # NixOS' own nginx module, its documented syslog settings: the error
  # log (services.nginx.logError) and an access log to /dev/log.
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image = { name = "syslog-nginx"; exposedPorts."80/tcp" = { }; };
    services.nginx = {
      enable = true;
      logError = "syslog:server=unix:/dev/log";
      appendHttpConfig = "access_log syslog:server=unix:/dev/log;";
      virtualHosts.localhost.root = pkgs.runCommand "www" { } "mkdir $out; echo plop > $out/plop";
    };
  }')")
  id=$(syslog_start "$ref" -p 127.0.0.1:$port:80)
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  assert_eq "$(http_get http://127.0.0.1:$port/plop)" "plop"
  curl -s -o /dev/null http://127.0.0.1:$port/missing || true
  # nginx's own syslog client (facility local7): the access log line of
  # each request, and the error of the missing file.
  syslog_wait_for "$id" '^local7\.info: .* nginx: .*"GET /plop HTTP/1\.1" 200 '
  syslog_wait_for "$id" '^local7\.err: .* nginx: .*open\(\) ".*/missing" failed \(2: No such file or directory\)'
  stop_ended_by_the_container "$id" 0
}

t_L4_syslog_as_another_user_the_reader_says_why_and_the_services_still_run() {
  local ref out code
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "syslog-nonroot";
    s6.syslog.enable = true;
    s6.exitCodeFrom = "check";
    s6.services.check = {
      type = "oneshot-post";
      script = "echo check: up";
    };
  }')")
  code=0
  out=$(timeout 60 "${PODMAN_RUN[@]}" --user 65534:65534 "$ref" 2>&1) || code=$?
  echo "$out"
  assert_eq "$code" 0 "(exitCodeFrom = check)"
  assert_contains "$out" "dev-log: cannot create /dev/log: /dev is not writable by uid 65534 (syslog messages are lost; run the container as root to read them)"
  assert_contains "$out" "check: up"
}

t_L4_syslog_a_dev_log_that_exists_is_left_to_its_reader() {
  # A socket of the host's mounted on /dev/log (podman run -v): the
  # image's reader leaves it alone (s6-socklog would unlink it), and the
  # messages reach the host's reader: here Debian's s6-socklog.
  local ref dir id pid
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "syslog-host";
    s6.syslog.enable = true;
    s6.services.app = {
      script = "logger -t app \"to the host\"; exec sleep 1000";
      path = [ pkgs.util-linux pkgs.coreutils ];
    };
  }')")
  dir=$(mktemp -d)
  s6-socklog -x "$dir/log" >"$dir/out" 2>&1 &
  pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 50); do [ -S "$dir/log" ] && break; sleep 0.1; done
  id=$(syslog_start "$ref" -v "$dir/log:/dev/log")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true; kill $pid 2>/dev/null || true" EXIT
  syslog_wait_for "$id" '^dev-log: /dev/log exists: left to the reader it belongs to'
  for _ in $(seq 100); do grep -q 'app: to the host' "$dir/out" && break; sleep 0.1; done
  cat "$dir/out"
  grep -Eq '^user\.notice: .* app: to the host$' "$dir/out" || fail "the host's reader got nothing"
  ! podman logs "$id" 2>&1 | grep -q 'to the host' || fail "the image read the host's socket"
  [ -S "$dir/log" ] || fail "the host's socket is gone"
}

t_L4_syslog_the_init_outside_a_container_leaves_the_hosts_dev_alone() {
  # `init STATE-DIR` (the original project's tip) shares the host's /dev
  # (a devtmpfs): the reader makes nothing there, says why, and the
  # services run. Here as root, in a PID namespace, as tests/cases/systemd.sh
  # runs the original tests.
  local init dir had rc=0
  init=$(nbuild "$ROOT/tests/build.nix" --arg module '{ image.name = "x"; s6.syslog.enable = true;
    s6.exitCodeFrom = "check"; s6.services.check = { type = "oneshot-post"; script = "echo check: up"; }; }' -A init)
  had=$(ls -d /dev/log /dev/log.lock 2>/dev/null || true)
  dir=$(mktemp -d)
  timeout -s TERM 30 unshare --pid --fork --mount-proc --kill-child=SIGTERM "$init" "$dir/state" >"$dir/log" 2>&1 || rc=$?
  cat "$dir/log"
  assert_eq "$rc" 0 "(exitCodeFrom = check)"
  grep -Eq "^dev-log: /dev is not a container's own \(it is [a-z]+, not a tmpfs\): /dev/log is left to the host$" "$dir/log" ||
    fail "no word from the reader"
  assert_contains "$(cat "$dir/log")" "check: up"
  assert_eq "$(ls -d /dev/log /dev/log.lock 2>/dev/null || true)" "$had" "(the host's /dev/log and its lock)"
  rm -rf "$dir"
}

t_L4_syslog_lines_a_service_logs_while_it_stops_are_kept() {
  # s6 stops every service at once; the reader reads on until the other
  # long-runs are down, as systemd stops journald last.
  local ref id
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "syslog-stop";
    s6.syslog.enable = true;
    s6.services.app = {
      path = [ pkgs.util-linux pkgs.coreutils ];
      script = "trap \"sleep 0.3; logger -t app stopping; exit 0\" TERM; logger -t app started; sleep 1000 & wait";
    };
  }')")
  id=$(syslog_start "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  syslog_wait_for "$id" '^user\.notice: .* app: started$'
  stop_ended_by_the_container "$id" 0
  syslog_wait_for "$id" '^user\.notice: .* app: stopping$'
  assert_contains "$(podman logs "$id" 2>&1)" "[init] service 'dev-log' stopped (exit code 0)"
}
