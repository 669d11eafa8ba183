# Tests of the s6 module and the init runner in images (issue 5). The
# init's behaviour with the real s6 is tested at L2 in
# rust/nci-init/tests/l2_s6.rs; here: the module's evaluation and errors
# (L3), and images in podman and the init in a Nix build (L4).

# A unique name for containers of this run.
s6_name() { echo "nci-s6-$1-$$"; }

t_L3_s6_services_make_the_init_the_entry_point() {
  local expr='{ pkgs, ... }: { image.name = "x"; s6.services.a.execStart = "${pkgs.hello}/bin/hello"; }'
  local ep init
  ep=$(eval_image "$expr" config.image.entryPoint)
  init=$(eval_image "$expr" init.outPath)
  assert_eq "$ep" "[$init]"
  [[ $init == *-s6-init\" ]] || fail "init is $init"
  assert_eq "$(eval_image "$expr" config.s6.init.outPath)" "$init"
  # No services, or only disabled ones: the image is left alone.
  assert_eq "$(eval_image '{ image.name = "x"; s6.services.a = { enable = false; script = "x"; }; }' config.image.entryPoint)" "[]"
  assert_eq "$(eval_image '{ image.name = "x"; }' config.s6.init)" "null"
}

t_L3_s6_services_with_an_entry_point_of_the_users_own_get_a_warning_naming_them() {
  # image.entryPoint replaces the init: the services would never start,
  # silently. An entry point left unset, or the init itself, is quiet.
  local svc='s6.services.tick = { type = "oneshot-pre"; script = "echo tick"; }; s6.services.web.execStart = "${pkgs.hello}/bin/hello";'
  assert_eq "$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $svc image.entryPoint = [ \"\${pkgs.hello}/bin/hello\" ]; }" config.warnings |
    jq -r '.[]' | sed 's|/nix/store/[^/]*/|STORE/|')" \
    "image.entryPoint is set (to STORE/bin/hello), so the s6 init does not run and s6.services tick, web will not start: leave image.entryPoint unset to run them (the init is then the entry point), or run the program as a long-run service."
  assert_eq "$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $svc image.entryPoint = [ ]; }" config.warnings | jq -r ".[]" | cut -c1-43)" \
    "image.entryPoint is set (to [ ]), so the s6"
  assert_eq "$(eval_image "{ pkgs, ... }: { image.name = \"x\"; $svc }" config.warnings)" "[]"
  assert_eq "$(eval_image "{ pkgs, config, ... }: { image.name = \"x\"; $svc image.entryPoint = [ \"\${config.s6.init}\" ]; }" config.warnings)" "[]"
}

t_L3_s6_module_evaluates_to_the_shared_spec_fixture() {
  # tests/golden/s6/spec.json is also what the Rust golden test generates
  # from: both sides of the contract agree on it.
  # The image's account names come from the users module (its defaults
  # may grow): checked by membership, the rest byte for byte.
  local got
  # s6Bin has the name of s6.package: the static s6 stand-in's, or the
  # dynamic one's where the static one is not built.
  got=$(eval_image "$ROOT/tests/golden/s6/module.nix" init.spec |
    sed -E 's|/nix/store/[a-z0-9]{32}-|/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-|g' | jq -S .)
  local same='del(.users, .groups) | .s6Bin |= sub("-s6-[^/]+/bin$"; "-s6/bin")'
  diff -u <(jq -S "$same" "$ROOT/tests/golden/s6/spec.json") <(jq -S "$same" <<<"$got") ||
    fail "the s6 module's spec changed: run tests/golden/s6/refresh and review"
  assert_eq "$(jq -c '[.users | index("app", "nobody", "root") | . != null] | all' <<<"$got")" true
  assert_eq "$(jq -c '[.groups | index("app", "nogroup", "root") | . != null] | all' <<<"$got")" true
}

t_L3_s6_an_after_cycle_is_printed() {
  expect_build_error '{ image.name = "x"; s6.services = {
      a = { type = "oneshot-pre"; script = "x"; after = [ "b" ]; };
      b = { type = "oneshot-pre"; script = "x"; after = [ "c" ]; };
      c = { type = "oneshot-pre"; script = "x"; after = [ "a" ]; };
    }; }' \
    "s6.services: the after dependencies form a cycle: a -> b -> c -> a"
}

t_L3_s6_an_unknown_user_or_group_is_named() {
  expect_build_error '{ image.name = "x"; s6.services.a = { script = "x"; user = "alice"; group = "staff"; }; }' \
    "s6.services.a.user: user 'alice' is not defined \(add users.users.alice\)" >out
  grep -qF "s6.services.a.group: group 'staff' is not defined (add users.groups.staff = { };)" out || fail "group not reported: $(cat out)"
  # A declared user is fine.
  eval_image '{ image.name = "x"; users.users.alice = { isNormalUser = true; }; s6.services.a = { script = "x"; user = "alice"; }; }' \
    config.image.entryPoint >/dev/null
}

t_L3_s6_other_options_are_checked() {
  expect_build_error '{ image.name = "x"; s6.exitCodeFrom = "nope"; s6.services.a = {
      type = "oneshot-pre"; script = "x"; notificationFd = 3; stopSignal = "STOP";
      workingDirectory = "tmp"; restartDelay = 5; restartDelayMax = 1; }; }' \
    "s6.exitCodeFrom: 'nope' is not a service" >out
  for m in "s6.services.a.notificationFd: only long-run services have readiness" \
    "s6.services.a.stopSignal: 'STOP' is not a signal that stops a service" \
    "s6.services.a.workingDirectory: 'tmp' must be an absolute path" \
    "s6.services.a.restartDelay: 5 ms is more than restartDelayMax (1 ms)"; do
    grep -qF "$m" out || fail "missing: $m"
  done
  # The type itself keeps a readiness descriptor off stdin/stdout/stderr.
  expect_build_error '{ image.name = "x"; s6.services.a = { script = "x"; notificationFd = 1; }; }' \
    "notificationFd.*is not of type"
}

t_L3_s6_a_command_line_nci_init_cannot_split_fails_the_build() {
  # Checked by nci-init when it generates (the build fails, naming it).
  expect_build_error '{ image.name = "x"; s6.services.a.execStart = "/bin/echo \"unclosed"; }' \
    "s6.services.a.execStart: cannot be split into words: a double quote is not closed"
}

t_L3_s6_programs_default_to_the_supervision_set_of_pkgsStatic_s6() {
  local expr='{ pkgs, ... }: { image.name = "x"; s6.services.a.execStart = "${pkgs.hello}/bin/hello"; }'
  local h='(import '"$ROOT"'/tests/hermetic { toolsDir = '"$TOOLS_DIR"'; }).pkgs'
  assert_eq "$(eval_image "$expr" config.s6.programs)" \
    '["s6-svscan","s6-supervise","s6-svc","s6-svstat","s6-svok","s6-svscanctl","s6-log"]'
  local pkg programs
  pkg=$(nix-instantiate --eval --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "($h).pkgsStatic.s6.outPath")
  assert_eq "$(eval_image "$expr" config.s6.package.outPath)" "$pkg"
  # The image and the init get the copy (named like the package), not the package.
  programs=$(eval_image "$expr" s6Programs.outPath)
  [ "$programs" != "$pkg" ] || fail "s6Programs is the package itself"
  assert_eq "${programs#*-}" "${pkg#*-}" "(the copy has the package's name)"
  assert_eq "$(eval_image "$expr" init.spec.s6Bin)" "\"${programs//\"/}/bin\""
  assert_eq "$(eval_image "$expr" config.environment.systemPackages)" "[$programs]"
  assert_eq "$(eval_image "$expr" s6Programs.programs)" "$(eval_image "$expr" config.s6.programs)"
  assert_eq "$(eval_image "$expr" s6Programs.package)" "$pkg"
}

t_L3_s6_programs_a_custom_list_is_used_and_checked() {
  assert_eq "$(eval_image '{ image.name = "x"; s6.services.a.script = "x";
      s6.programs = [ "s6-svscan" "s6-supervise" "s6-svwait" ]; }' s6Programs.programs)" \
    '["s6-svscan","s6-supervise","s6-svwait"]'
  # What the init runs must be there; a name is a file name of bin/.
  expect_build_error '{ image.name = "x"; s6.services.a.script = "x"; s6.programs = [ "s6-svscan" "bin/s6-svc" ]; }' \
    "s6.programs: 's6-supervise' is missing: the init runs s6-svscan and s6-supervise \(add it to the list\)" >out
  grep -qF "s6.programs: 'bin/s6-svc' is not a program name (a file name in s6.package's bin/)" out ||
    fail "the path is not reported: $(cat out)"
}

t_L3_s6_a_program_missing_from_the_package_fails_the_build_naming_it() {
  # Known only once the package is built: the builder of the copy says it.
  expect_build_error '{ image.name = "x"; s6.services.a.script = "x";
      s6.programs = [ "s6-svscan" "s6-supervise" "s6-nope" ]; }' \
    "s6.programs: program 's6-nope' not in /nix/store/[a-z0-9]{32}-s6-[a-z0-9_.-]+/bin \(it has: s6-accessrules-cdb-from-fs, .*s6-svc, "
}

t_L4_s6_image_carries_only_the_listed_s6_programs() {
  local module=$ROOT/tests/modules/s6-programs.nix
  local ref out init closure pkg
  ref=$(load_image "$(build_image "$module")")
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1)
  echo "$out"
  # The listed programs, and /bin/sh (environment.binsh) of every image with services.
  grep -qx 'bin: s6-supervise s6-svscan s6-svstat sh' <<<"$out" || fail "not only the listed programs"
  grep -Eq '^web: up \(pid [0-9]+\)' <<<"$out" || fail "s6-svstat (the copy, with its libraries) did not report web up"
  assert_contains "$out" "svc: none"
  assert_contains "$out" "ftrigrd: none"
  # The closure: the copy and the libraries, not the package.
  init=$(nbuild "$ROOT/tests/build.nix" --arg module "$module" -A init)
  closure=$(nix-store -qR "$init")
  pkg=$(nix-instantiate --eval --json -I nixpkgs-lib="$NIXPKGS_LIB" \
    --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" --arg module "$module" -A config.s6.package.outPath | tr -d '"')
  ! grep -qxF "$pkg" <<<"$closure" || fail "the whole s6 package is in the init's closure"
  # What the package's programs link to (the dynamic stand-in's libraries;
  # nothing for a static s6) comes along.
  for r in $(nix-store -q --references "$pkg"); do
    [ "$r" = "$pkg" ] || grep -qxF "$r" <<<"$closure" || fail "$r (the package's libraries) is not in the closure: $closure"
  done
}

t_L4_s6_image_failing_service_stops_the_container() {
  # The original project's s6-image test.
  local ref log code name
  name=$(s6_name image)
  ref=$(load_image "$(build_image "$ROOT/images/s6.nix")")
  code=0
  timeout 60 "${PODMAN_RUN[@]}" --name "$name" "$ref" >log 2>&1 || code=$?
  cat log
  assert_eq "$code" 1 "(the service's exit code)"
  grep -q '^stopContainer$' log || fail "the service did not run"
  grep -q 'sending all processes the TERM signal' log || fail "no TERM message"
  grep -q '\[init stage 3\] exiting with code 1' log || fail "no exit message"
  # The same with a failing oneshot (how the original's README put it).
  ref=$(load_image "$(build_image -E '{ image.name = "s6-oneshot"; s6.services.stopContainer = {
    type = "oneshot-pre"; script = "echo stopContainer; exit 3"; }; s6.services.never.script = "echo never"; }')")
  code=0
  timeout 60 "${PODMAN_RUN[@]}" "$ref" >log 2>&1 || code=$?
  cat log
  assert_eq "$code" 3
  grep -q 'sending all processes the TERM signal' log || fail "no TERM message"
  ! grep -q '^never$' log || fail "a long-run started after the failure"
}

t_L4_s6_nginx_long_run_serves_a_page_and_podman_stop_is_prompt() {
  local ref name log page
  ref=$(load_image "$(build_image "$ROOT/tests/modules/s6-nginx.nix")")
  name=$(s6_name nginx)
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  # Expanded now: at EXIT the function's locals are gone.
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  podman run -d --name "$name" --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
    -p 127.0.0.1:18580:80 "$ref" >/dev/null
  for _ in $(seq 100); do
    page=$(curl -fsS http://127.0.0.1:18580/ 2>/dev/null) && break
    sleep 0.1
  done
  assert_eq "$page" "served by nginx under s6"
  podman logs "$name" 2>&1 | grep -q "all 2 long-run service(s) are up" || fail "stage 2 not reached: $(podman logs "$name" 2>&1)"
  # `stubborn` leaves a TERM-ignoring orphan behind: stage 3 waits the
  # grace time (1500 ms) for it, then KILLs it. podman's own timeout (10 s)
  # is not what ends the container.
  stop_ended_by_the_container "$name" 0
  [ "$STOP_MS" -ge 1500 ] || fail "podman stop took $STOP_MS ms, less than the grace time (1500 ms)"
  log=$(podman logs "$name" 2>&1)
  echo "$log"
  for m in "[init] received SIGTERM: stopping the services" \
    "[init] service 'nginx' stopped" \
    "[init stage 3] sending all processes the TERM signal" \
    "[init stage 3] grace time of 1500 ms is over: sending all processes the KILL signal" \
    "[init stage 3] exiting with code 0"; do
    grep -qF "$m" <<<"$log" || fail "missing: $m"
  done
}

t_L4_s6_non_root_container_with_a_read_only_root() {
  local ref out code
  ref=$(load_image "$(build_image "$ROOT/tests/modules/s6-nonroot.nix")")
  code=0
  out=$(timeout 60 "${PODMAN_RUN[@]}" --user 65534:65534 --read-only "$ref" 2>&1) || code=$?
  echo "$out"
  assert_eq "$code" 0 "(exitCodeFrom = check)"
  assert_contains "$out" "pre: uid=65534"
  assert_contains "$out" "daemon: uid=65534"
  assert_contains "$out" "check: daemon is up"
  # /run is root's on a read-only root: the init falls back to /tmp.
  assert_contains "$out" "state directory /tmp/s6-65534"
}

t_L4_s6_service_as_nobody_runs_with_its_uid_and_groups() {
  local ref out
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "s6-nobody";
    users.groups.extra.members = [ "nobody" ];
    s6.exitCodeFrom = "who";
    s6.services.who = {
      type = "oneshot-post";
      user = "nobody";
      path = [ pkgs.busybox ];
      script = "echo \"who: $(id)\"";
    };
  }')")
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1)
  echo "$out"
  assert_contains "$out" "who: uid=65534(nobody) gid=65534(nogroup) groups="
  grep -Eq 'who: .*groups=.*[0-9]+\(extra\)' <<<"$out" || fail "nobody is not in its group extra"
  grep -Eq 'who: .*groups=.*65534\(nogroup\)' <<<"$out" || fail "nobody lost its own group"
}

t_L4_s6_init_runs_in_a_nix_build_as_the_original_tests_did() {
  # The original project's tests ran `init s6-state > log &` inside a Nix
  # build (as a build user, no container): the same here, with `path`
  # and the caller's environment (its path and propagatedEnv tests).
  local out
  out=$(nbuild -E '
    let
      h = import '"$ROOT"'/tests/hermetic { toolsDir = '"$TOOLS_DIR"'; };
      init = (h.makeImage ({ pkgs, ... }: {
        image.name = "propagatedEnv";
        s6.services.path = { script = "hello; echo env=$IN_S6_INIT_TEST; exec sleep 100"; path = [ pkgs.hello ]; };
        s6.services.pre = { type = "oneshot-pre"; script = "echo oneshot-pre"; };
      })).init;
    in h.pkgs.runCommand "run-s6-in-build" {
      IN_S6_INIT_TEST = "1";
      PATH = "${h.pkgs.busybox}/bin:${h.pkgs.coreutils}/bin:${h.pkgs.bash}/bin";
    } "
      ${init} s6-state > s6-log 2>&1 &
      pid=$!
      for i in $(seq 100); do
        if grep -q \"Hello, world!\" s6-log && grep -q env=1 s6-log; then break; fi
        sleep 0.1
      done
      kill -TERM $pid
      wait $pid || true
      mkdir $out; cp s6-log $out/
    "')
  cat "$out/s6-log"
  grep -q '^Hello, world!$' "$out/s6-log" || fail "path: hello did not run"
  grep -q '^env=1$' "$out/s6-log" || fail "propagatedEnv: the build's variable did not reach the service"
  grep -q '^oneshot-pre$' "$out/s6-log" || fail "oneshotPre did not run"
  grep -Eq '\[init stage 1\] starting \(pid [0-9]+, state directory .*/s6-state\)' "$out/s6-log" || fail "no stage 1 message"
}

t_L4_s6_init_attribute_runs_outside_a_container_as_a_normal_user() {
  # The original project's tip: `nix-build -A <image>.init; ./result STATE-DIR`.
  local init dir log
  init=$(nbuild "$ROOT/tests/build.nix" --arg module "$ROOT/images/s6.nix" -A init)
  [ -x "$init" ] || fail "init is not an executable file: $init"
  dir=$(mktemp -d)
  chown 65534:65534 "$dir"
  log=$(timeout 30 setpriv --reuid 65534 --regid 65534 --clear-groups "$init" "$dir/state" 2>&1) && code=0 || code=$?
  echo "$log"
  assert_eq "$code" 1
  assert_contains "$log" "stopContainer"
  assert_contains "$log" "[init stage 3] exiting with code 1"
  rm -rf "$dir"
}

t_L4_s6_flood_beside_a_service_with_an_s6_log_logger_is_slowed_never_failed() {
  # s6-log makes its stdout, the container's log, non-blocking; a
  # service writing 100 MB to the same log must wait for room, not fail
  # with EAGAIN (the container's exit code is the flood's).
  local ref code
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "s6-flood";
    s6.exitCodeFrom = "flood";
    s6.services.logged = {
      execLogger = "${pkgs.s6}/bin/s6-log 1";
      script = "echo logged; exec ${pkgs.busybox}/bin/sleep 100";
    };
    s6.services.flood = {
      type = "oneshot-post";
      path = [ pkgs.busybox ];
      script = "until grep -qx s6-log /proc/[0-9]*/comm 2>/dev/null; do sleep 0.05; done; sleep 0.2; if head -c 100000000 /dev/zero; then echo flood-ok >&2; else echo flood-failed >&2; exit 1; fi";
    };
  }')")
  code=0
  timeout 120 "${PODMAN_RUN[@]}" "$ref" 2>&1 | tr -d '\000' >log || code=$?
  cat log
  grep -q '^flood-ok$' log || fail "the flood failed"
  grep -q '\[init stage 3\] exiting with code 0' log || fail "no clean exit"
}

# Issue 13: scripts run by a static shell, so that an image of scripts
# carries no glibc.
script_only='{ image.name = "s6"; s6.services.x.script = "echo hi; exit 1"; }'

t_L3_s6_scripts_and_job_scripts_run_by_the_static_bash_by_default() {
  local h='(import '"$ROOT"'/tests/hermetic { toolsDir = '"$TOOLS_DIR"'; }).pkgs'
  local static
  static=$(nix-instantiate --eval --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "\"\${($h).pkgsStatic.bash}/bin/bash\"")
  assert_eq "$(eval_image "$script_only" config.s6.shell)" "$static"
  assert_eq "$(eval_image "$script_only" init.spec.shell)" "$static"
  assert_eq "$(eval_image "$script_only" config.systemd.shim.shell)" "$static"
  # Another shell is one option away, and the shim follows it.
  assert_eq "$(eval_image '{ pkgs, ... }: { image.name = "s6"; s6.services.x.script = "x";
      s6.shell = "${pkgs.bash}/bin/bash"; }' config.systemd.shim.shell)" \
    "$(nix-instantiate --eval --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "\"\${($h).bash}/bin/bash\"")"
}

t_L4_s6_script_only_image_runs_under_the_static_shell_and_only_s6_may_bring_glibc() {
  local archive paths shell g r libcs ref out code
  archive=$(build_image -E "$script_only")
  paths=$(image_store_paths "$archive")
  echo "$paths"
  shell=$(eval_image "$script_only" config.s6.shell | tr -d '"')
  shell=${shell%/bin/bash}
  grep -qxF "$shell" <<<"$paths" || fail "the static shell $shell is not in the image"
  assert_eq "$(nix-store -qR "$shell")" "$shell" "(the static shell's closure is itself)"
  # A C library in the image can only be the glibc stand-in, there for the
  # dynamic s6 stand-in only, where the static one is not built (nixpkgs'
  # pkgsStatic.s6 has none; with the static stand-in there is none:
  # t_L4_s6_script_only_image_with_the_static_s6_has_no_glibc_and_is_at_most_4000_KB).
  # shellcheck disable=SC2086
  libcs=$(find $paths \( -name 'libc.so*' -o -name 'ld-linux*' \) -print)
  [ -z "$libcs" ] || ! grep -v -- '-glibc-2.36-standin/' <<<"$libcs" || fail "a C library outside the glibc stand-in"
  for g in $(grep -- '-glibc-2.36-standin$' <<<"$paths"); do
    for r in $(nix-store -q --referrers "$g"); do
      grep -qxF "$r" <<<"$paths" || continue
      [[ $r == "$g" || $r == *-skaware-libs-standin || $r == *-s6-2.11 ]] ||
        fail "$r refers to glibc"
    done
  done
  ref=$(load_image "$archive")
  code=0
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1) || code=$?
  echo "$out"
  assert_contains "$out" "hi"
  assert_eq "$code" 1 "(the script's exit code)"
}

# Issue 13's target, with the static s6 stand-in (s6's upstream sources,
# Ubuntu noble's orig tarballs, built with musl, tests/hermetic/skaware-static): nothing in the build of the
# script-only image is glibc...
t_L3_s6_script_only_image_with_the_static_s6_builds_nothing_of_glibc() {
  need_static_s6
  local drv deps
  assert_eq "$(eval_image "$script_only" config.s6.package.name | tr -d '"')" \
    "s6-static-$(uname -m)-unknown-linux-musl-$(jq -r '.packages[] | select(.name == "s6") | .version' "$ROOT/tests/hermetic/skaware-static.json")"
  drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" --arg module "$script_only")
  deps=$(nix-store -qR "$drv")
  grep -q -- '-s6-static-.*-unknown-linux-musl-.*\.drv$' <<<"$deps" || fail "the static s6 is not built for the image: $deps"
  ! grep -E -- '-(glibc|skaware-libs)[^/]*\.drv$' <<<"$deps" || fail "the image's build needs glibc"
  # The dynamic s6 is one option away, and brings its libraries.
  drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" \
    --arg module '{ pkgs, ... }: { image.name = "s6"; s6.services.x.script = "echo hi; exit 1"; s6.package = pkgs.s6; }')
  nix-store -qR "$drv" | grep -q -- '-glibc-2.36-standin\.drv$' || fail "the dynamic s6 brings no glibc"
}

t_L3_s6_static_stand_in_is_looked_for_where_tests_setup_builds_it() {
  # The builder (run by tests/setup) and the stand-in set name the same
  # directory: the machine and a hash of the builder and its versions.
  local h cache want
  h='(import '"$ROOT"'/tests/hermetic { toolsDir = '"$TOOLS_DIR"'; })'
  for cache in "" "$PWD/elsewhere"; do
    want=$(NCI_SKAWARE_CACHE=$cache "$ROOT/tests/hermetic/skaware-static" --dir)
    [[ $want == "${cache:-/var/cache/nix-container-images}/skaware-static-$(uname -m)-"* ]] || fail "builds into $want"
    assert_eq "$(NCI_SKAWARE_CACHE=$cache nix-instantiate --eval --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "$h.skawareStatic.dir")" "\"$want\""
  done
  # Not built there: Debian's dynamic s6 stands in.
  assert_eq "$(NCI_SKAWARE_CACHE=$PWD/elsewhere nix-instantiate --eval --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "$h.skawareStatic.built")" false
  assert_eq "$(NCI_SKAWARE_CACHE=$PWD/elsewhere nix-instantiate --eval --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "$h.pkgs.pkgsStatic.s6.name")" '"s6-2.11"'
}

# ...and the image has no C library, no dynamic program, weighs at most
# 4,000 KB, and runs its script: "hi", exit code 1.
t_L4_s6_script_only_image_with_the_static_s6_has_no_glibc_and_is_at_most_4000_KB() {
  need_static_s6
  local archive report paths f dynamic total ref out code
  archive=$(build_image -E "$script_only")
  report=$(nbuild "$ROOT/tests/build.nix" --arg module "$script_only" -A layers)
  cat "$report/layers.txt"
  paths=$(image_store_paths "$archive")
  # shellcheck disable=SC2086
  ! find $paths \( -name 'libc.so*' -o -name 'ld-linux*' -o -name 'ld-musl*' -o -name '*.so' -o -name '*.so.*' \) -print | grep . ||
    fail "a shared library in the image"
  dynamic=
  # shellcheck disable=SC2086
  for f in $(find $paths -type f -perm -u+x); do
    ! patchelf --print-interpreter "$f" >/dev/null 2>&1 || dynamic="$dynamic $f"
  done
  [ -z "$dynamic" ] || fail "dynamically linked programs:$dynamic"
  total=$(jq .total "$report/layers.json")
  echo "total: $total bytes ($(((total + 512) / 1024)) KB)"
  [ "$total" -le $((4000 * 1024)) ] || fail "the image is $(((total + 512) / 1024)) KB, more than 4,000 KB"
  ref=$(load_image "$archive")
  code=0
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1) || code=$?
  echo "$out"
  assert_contains "$out" "hi"
  assert_eq "$code" 1 "(the script's exit code)"
}

t_L3_s6_a_service_naming_a_missing_store_path_is_refused_at_evaluation() {
  # It used to build and fail at run time with exit 111.
  local out
  out=$(expect_build_error '{ image.name = "x"; s6.services.a.execStart = "/nix/store/00000000000000000000000000000000-missing/bin/x --flag"; }' \
    "s6\.services\.a\.execStart: /nix/store/00000000000000000000000000000000-missing is not in the Nix store \(a missing store path\)")
  grep -q "Failed assertions:" <<<"$out" || fail "not a failed assertion: $out"
  out=$(expect_build_error '{ pkgs, ... }: { image.name = "x"; s6.services.a.script = builtins.unsafeDiscardStringContext "exec ${pkgs.hello}/bin/hello"; }' \
    "s6\.services\.a\.script: /nix/store/[a-z0-9]{32}-hello[^ ]* is named without string context")
}

t_L4_flake_checks_run_the_example_inits_in_a_build_without_kvm() {
  # nix/checks-init.nix, the checks `nix flake check` runs on any builder,
  # built here with the stand-in packages: each example init runs in the
  # build and its log and exit code are checked there.
  nbuild -E '
    let
      h = import '"$ROOT"'/tests/hermetic { toolsDir = '"$TOOLS_DIR"'; };
      dockerImages = import '"$ROOT"'/images { inherit (h) lib makeImage; };
    in import '"$ROOT"'/nix/checks-init.nix { inherit (h) pkgs; inherit dockerImages; }' \
    -A init-s6 -A init-example-systemd
}

t_L2_s6_init_without_unwind_tables_a_panic_still_prints_its_message_and_aborts() {
  # tests/build-tools (and nix/packages.nix) remove the unwind tables from
  # nci-init (rust/nci-init/drop-unwind-tables; docs/s6.md, "Size of
  # nci-init") and link it with rust/nci-init/src/unwind.rs's unwinder
  # that finds no frame instead of libunwind. nci-init has no input that
  # panics, so a program that does, built as nci-init is (the release
  # profile's settings, musl, static, not position-independent) and
  # stripped the same way, shows what a panic in the init would do: print
  # its message and abort, also when a backtrace is asked for; and with
  # unwind.rs it prints the same, byte for byte, as with libunwind.
  local host musl out rc variant
  local -A printed=()
  host=$(rustc -vV | sed -n 's/^host: //p')
  musl=${host%-gnu}-musl
  rustup target list --installed 2>/dev/null | grep -qx "$musl" || skip "the Rust target $musl is missing (tests/setup adds it)"
  readelf -SW "$TOOLS_DIR/nci-init" | grep -Eq '\.eh_frame|\.gcc_except_table' && fail "nci-init still has unwind tables"
  # libunwind's own messages ("libunwind: %s - %s") are in every build
  # that links it.
  grep -q 'libunwind: ' "$TOOLS_DIR/nci-init" && fail "nci-init links libunwind (src/unwind.rs is not in its build)"
  cat >panics.rs <<'RS'
#[cfg(unwind_rs)]
#[path = "unwind.rs"]
mod unwind;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let i = args.len() + 2;
    println!("{}", args[i]);
}
RS
  cp "$ROOT/rust/nci-init/src/unwind.rs" unwind.rs
  for variant in libunwind unwind_rs; do
    rustc --edition 2021 --target "$musl" -C opt-level=z -C panic=abort -C lto -C codegen-units=1 \
      -C strip=symbols -C target-feature=+crt-static -C relocation-model=static --cfg "$variant" \
      panics.rs -o "panics-$variant"
    readelf -SW "panics-$variant" | grep -q '\.eh_frame' || fail "the program had no .eh_frame to begin with"
    "$ROOT/rust/nci-init/drop-unwind-tables" "panics-$variant"
    readelf -SW "panics-$variant" | grep -Eq '\.eh_frame|\.gcc_except_table' && fail "drop-unwind-tables left a table"
    for bt in 0 1 full; do
      rc=0
      out=$(RUST_BACKTRACE=$bt "./panics-$variant" 2>&1) || rc=$?
      echo "$variant, RUST_BACKTRACE=$bt: exit $rc"
      echo "$out"
      assert_eq "$rc" 134
      assert_contains "$out" "panicked at panics.rs:8:24:"
      assert_contains "$out" "index out of bounds: the len is 1 but the index is 3"
      # The thread's id differs from run to run.
      printed[$variant-$bt]=$(sed -E "s/^thread 'main' \([0-9]+\)/thread 'main'/" <<<"$out")
    done
  done
  for bt in 0 1 full; do
    assert_eq "${printed[unwind_rs-$bt]}" "${printed[libunwind-$bt]}" "(RUST_BACKTRACE=$bt)"
  done
  grep -q 'libunwind: ' panics-libunwind || fail "the program built with std's unwinder has no libunwind"
  grep -q 'libunwind: ' panics-unwind_rs && fail "the program built with unwind.rs still links libunwind"
  echo "sizes: $(stat -c %s panics-libunwind) bytes with libunwind, $(stat -c %s panics-unwind_rs) with unwind.rs"
}

t_L4_s6_init_in_the_image_is_static_and_at_most_500000_bytes() {
  # Issue 13: the nci-init an image carries (tests/build-tools' build, as
  # the flake's) is at most 500,000 bytes, static, and runs in the image.
  # A size, not a time; docs/s6.md, "Size of nci-init", has the breakdown.
  local archive l listing path size ref out
  archive=$(build_image "$ROOT/images/s6.nix")
  mkdir img
  tar -xf "$archive" -C img
  listing=$(for l in $(jq -r '.[0].Layers[]' img/manifest.json); do tar -tvf "img/$l"; done)
  read -r size path < <(awk '$6 ~ /^(\.\/)?nix\/store\/[a-z0-9]+-nci-init$/ { print $3, $6 }' <<<"$listing")
  [ -n "$path" ] || fail "no nci-init in the image's layers"
  path=/${path#./}
  echo "$path: $size bytes"
  [ "$size" -le 500000 ] || fail "nci-init is $size bytes in the image, more than 500,000"
  assert_eq "$size" "$(stat -L -c %s "$TOOLS_DIR/nci-init")" "(the image's init is tests/build-tools' build)"
  readelf -lW "$path" | grep -q INTERP && fail "nci-init has a program interpreter: it is not static"
  ref=$(load_image "$archive")
  out=$("${PODMAN_RUN[@]}" --entrypoint "$path" "$ref" --version 2>&1)
  assert_eq "$out" "$("$TOOLS_DIR/nci-init" --version)"
}
