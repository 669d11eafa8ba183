# NixOS' own service modules, unchanged, in images (issue 11): the
# byte-exact copies of nginx, redis and memcached (../shared/nixpkgs-modules,
# see tests/find-nixos-modules) reach our modules through
# nix/nixos-modules.nix, the path users get with nixpkgs. Skipped, with
# the reason, where the copies are missing; never a look-alike.

# Evaluates ATTR of a module's image as JSON (stderr kept for the log).
nm_eval() {
  eval_image "$1" "$2"
}

# The file that declares OPTION, relative to the copies' tree: proof
# that the module evaluated is NixOS' own.
nm_declared_in() {
  nm_eval "$1" "options.$2.declarations" | jq -r '.[0]' | sed "s|^$NCI_NIXPKGS_MODULES/||"
}

# Runs an image detached with the CI's ulimits and extra podman options;
# prints the container id. The caller removes it (trap).
nm_start() {
  local ref=$1
  shift
  podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$@" "$ref"
}

# Waits until the container's log shows all its long-runs are up.
nm_wait_ready() {
  for _ in $(seq 100); do
    podman logs "$1" 2>&1 | grep -q "long-run service(s) are up" && return 0
    podman inspect "$1" --format '{{.State.Running}}' | grep -q true || break
    sleep 0.1
  done
  podman logs "$1" 2>&1
  fail "the services of $1 did not come up"
}

# Stops the container: it ends by itself with exit code 0.
nm_stop_promptly() {
  stop_ended_by_the_container "$1" 0
}

t_L3_nixos_nginx_module_evaluates_unchanged_without_a_warning() {
  need_nixos_modules
  local m="$ROOT/images/nginx.nix" svc
  assert_eq "$(nm_declared_in "$m" services.nginx.enable)" nixos/modules/services/web-servers/nginx/default.nix
  assert_eq "$(nm_eval "$m" config.warnings)" "[]"
  svc=$(nm_eval "$m" config.systemd.build.units.units.nginx.serviceConfig)
  assert_eq "$(jq -c '[.User, .Group, .Restart, .RestartSec, .RuntimeDirectory, .CacheDirectory, .LogsDirectory, .UMask, .AmbientCapabilities]' <<<"$svc")" \
    '["nginx","nginx","always","10s",["nginx"],["nginx"],["nginx"],"0027",["CAP_NET_BIND_SERVICE","CAP_SYS_RESOURCE"]]'
  [[ $(jq -r '.ExecStartPre[0]' <<<"$svc") == /nix/store/*-unit-script-nginx-pre-start ]] || fail "no preStart"
  assert_eq "$(nm_eval "$m" config.users.users.nginx.uid)" 60
  # The module's kTLS line reads boot.kernelPackages; the module is kept,
  # with no warning (the host's kernel loads modules).
  assert_eq "$(nm_eval "$m" config.boot.kernelModules)" '["tls"]'
  assert_eq "$(nm_eval "$m" config.environment.etc.\"nginx/nginx.conf\".source | jq -r . | sed 's|/nix/store/[a-z0-9]*-||')" nginx.conf
}

t_L3_nixos_redis_and_memcached_modules_evaluate_unchanged_without_a_warning() {
  need_nixos_modules
  local redis='{ image.name = "redis"; services.redis.servers."".enable = true; }'
  local memcached='{ image.name = "memcached"; services.memcached.enable = true; }'
  assert_eq "$(nm_declared_in "$redis" services.redis.servers)" nixos/modules/services/databases/redis.nix
  assert_eq "$(nm_declared_in "$memcached" services.memcached.enable)" nixos/modules/services/databases/memcached.nix
  assert_eq "$(nm_eval "$redis" config.warnings)" "[]"
  assert_eq "$(nm_eval "$memcached" config.warnings)" "[]"
  assert_eq "$(nm_eval "$redis" config.systemd.build.units.units.redis.serviceConfig | jq -c '[.Type, .User, .LimitNOFILE, .StateDirectory]')" \
    '["notify","redis","10032",["redis"]]'
  assert_eq "$(nm_eval "$memcached" config.systemd.build.units.units.memcached.serviceConfig.User)" '"memcached"'
  # Its renamed options behave as in NixOS: an alias, with NixOS' warning.
  assert_contains "$(nm_eval '{ image.name = "redis"; services.redis.enable = true; }' config.warnings)" \
    "The option \`services.redis.enable' defined in"
}

t_L4_nixos_nginx_image_serves_plop_as_the_nginx_user_and_stops_promptly() {
  need_nixos_modules
  local ref id out port=18080
  ref=$(load_image "$(build_image "$ROOT/images/nginx.nix")")
  id=$(nm_start "$ref" -p 127.0.0.1:$port:80)
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  assert_eq "$(http_get http://127.0.0.1:$port/plop)" "plop"
  # nginx runs as nginx (master and workers), under nci-systemd.
  out=$(podman top "$id" user args)
  echo "$out"
  grep -Eq '^nginx[[:space:]]+nginx: master process' <<<"$out" || fail "the nginx master is not the nginx user"
  grep -Eq '^nginx[[:space:]]+nginx: worker process' <<<"$out" || fail "no nginx worker as nginx"
  nm_stop_promptly "$id"
  out=$(podman logs "$id" 2>&1)
  echo "$out"
  assert_contains "$out" "test is successful"
  assert_contains "$out" "[init] service 'nginx' stopped"
}

t_L4_nixos_redis_image_answers_ping_as_redis_under_a_low_nofile_limit() {
  need_nixos_modules
  local ref id out
  ref=$(load_image "$(build_image "$ROOT/images/redis.nix")")
  # The CI's --ulimit nofile=1024:1024, below the unit's LimitNOFILE=10032.
  id=$(nm_start "$ref")
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  # Up means ready: redis said READY=1 on the notify socket (Type=notify).
  nm_wait_ready "$id"
  assert_eq "$(podman exec "$id" redis-cli ping)" PONG
  out=$(podman top "$id" user args)
  echo "$out"
  grep -Eq '^redis[[:space:]]+/nix/store/[^ ]*-redis-[^ ]*/bin/redis-server' <<<"$out" || fail "redis-server is not the redis user"
  nm_stop_promptly "$id"
  out=$(podman logs "$id" 2>&1)
  echo "$out"
  assert_contains "$out" "LimitNOFILE"
  assert_contains "$out" "10032"
  assert_contains "$out" "[init] service 'redis' stopped"
}

t_L4_nixos_memcached_image_answers_version_as_memcached() {
  need_nixos_modules
  local ref id out port=18211
  ref=$(load_image "$(build_image "$ROOT/images/memcached.nix")")
  id=$(nm_start "$ref" -p 127.0.0.1:$port:11211)
  trap "podman rm -f -t 0 $id >/dev/null 2>&1 || true" EXIT
  nm_wait_ready "$id"
  out=""
  for _ in $(seq 50); do
    out=$(exec 3<>/dev/tcp/127.0.0.1/$port && printf 'version\r\n' >&3 && timeout 2 head -n 1 <&3) && [ -n "$out" ] && break
    sleep 0.1
  done
  assert_eq "${out%$'\r'}" "VERSION 1.6.18"
  grep -Eq '^memcached[[:space:]]+/nix/store/[^ ]*/bin/memcached' <<<"$(podman top "$id" user args)" || fail "memcached is not the memcached user"
  nm_stop_promptly "$id"
}
