# Mistakes a newcomer makes get a message that names the fix (issue 17):
# the shape of image.exposedPorts, the unit of durations, a port below
# 1024 for a non-root service (and s6.services.<name>.capabilities, the
# fix), a command not on a service's PATH, a long-run that exits at once.

t_L3_hint_exposed_ports_as_a_list_shows_the_expected_shape() {
  local out
  out=$(expect_build_error '{ image.name = "x"; image.exposedPorts = [ "80/tcp" ]; }' "is not of type")
  assert_contains "$out" "A definition for option \`image.exposedPorts' is not of type \`attribute set of empty attribute sets, like { \"80/tcp\" = { }; }'."
}

t_L3_hint_durations_say_their_unit() {
  local out o
  for o in restartDelay restartDelayMax restartLimitInterval stopTimeout; do
    out=$(expect_build_error "{ image.name = \"x\"; s6.services.a = { script = \"x\"; $o = \"1s\"; }; }" "is not of type")
    assert_contains "$out" "A definition for option \`s6.services.a.$o' is not of type \`unsigned integer, in milliseconds (1000 is one second)'."
  done
  out=$(expect_build_error '{ image.name = "x"; s6.graceTime = "3s"; s6.services.a.script = "x"; }' "is not of type")
  assert_contains "$out" "A definition for option \`s6.graceTime' is not of type \`unsigned integer, in milliseconds (1000 is one second)'."
}

t_L3_hint_a_non_root_service_and_a_port_below_1024_warn_naming_capabilities() {
  local w
  w=$(eval_image '{ image.name = "x"; image.exposedPorts."80/tcp" = { }; image.exposedPorts."8080/tcp" = { };
      s6.services.web = { script = "x"; user = "nobody"; };
      s6.services.root-one.script = "x";
      s6.services.capable = { script = "x"; user = "nobody"; capabilities = [ "CAP_NET_BIND_SERVICE" ]; }; }' \
    config.warnings | jq -r '.[]')
  echo "$w"
  assert_eq "$w" "s6.services.web.user: 'web' runs as 'nobody' and image.exposedPorts has 80/tcp: a non-root process cannot listen on a port below 1024 (bind: Permission denied); if 'web' listens there, set s6.services.web.capabilities = [ \"CAP_NET_BIND_SERVICE\" ], or listen on a port above 1023 and publish it (podman run -p 80:8080)."
  # No port below 1024: nothing to say.
  assert_eq "$(eval_image '{ image.name = "x"; image.exposedPorts."8080/tcp" = { };
      s6.services.web = { script = "x"; user = "nobody"; }; }' config.warnings)" "[]"
}

t_L3_hint_a_capability_name_is_checked_when_the_init_is_generated() {
  expect_build_error '{ image.name = "x"; s6.services.web = { script = "x"; user = "nobody"; capabilities = [ "NET_BIND_SERVICE" ]; }; }' \
    "s6.services.web.capabilities: 'NET_BIND_SERVICE' is not a capability \(a name of capabilities\(7\), e.g. CAP_NET_BIND_SERVICE\)"
}

# A busybox httpd as nobody on port 80, with or without the capability.
low_port_module() {
  cat <<NIX
{ pkgs, ... }: {
  image.name = "low-port";
  image.exposedPorts."80/tcp" = { };
  environment.systemPackages = [ pkgs.busybox ];
  s6.services.web = {
    user = "nobody";
    path = [ pkgs.busybox ];
    script = "mkdir -p /tmp/www && echo served as \$(id -un) > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www";
    $1
  };
}
NIX
}

t_L4_hint_capabilities_let_a_non_root_s6_service_listen_on_port_80() {
  local ref name=nci-hint-lowport-$$ page out code=0
  ref=$(load_image "$(build_image -E "$(low_port_module 'capabilities = [ "CAP_NET_BIND_SERVICE" ];')")")
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  "${PODMAN_RUN[@]}" -d --name "$name" -p 127.0.0.1:18485:80 "$ref" >/dev/null
  for _ in $(seq 100); do
    page=$(curl -fsS http://127.0.0.1:18485/ 2>/dev/null) && break
    sleep 0.1
  done
  podman logs "$name"
  assert_eq "$page" "served as nobody"
  # The service keeps that one capability, as nobody; nothing more.
  out=$(podman exec "$name" sh -c 'grep -E "^Cap(Eff|Amb)" /proc/$(pidof httpd)/status')
  echo "$out"
  assert_eq "$out" $'CapEff:\t0000000000000400\nCapAmb:\t0000000000000400'
  podman rm -f -t 0 "$name" >/dev/null
  # Without it: the daemon's own error, and the build warned (above).
  ref=$(load_image "$(build_image -E "$(low_port_module '')" 2>/dev/null)")
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1) || code=$?
  echo "$out"
  assert_contains "$out" "bind: Permission denied"
  assert_eq "$code" 1
}

t_L4_hint_a_command_not_on_the_service_path_names_the_path_option() {
  local ref out code=0
  ref=$(load_image "$(build_image -E '{ image.name = "no-path"; s6.services.a.execStart = "sleep 100"; }')")
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1) || code=$?
  echo "$out"
  [ "$code" != 0 ] || fail "the container did not fail"
  grep -Eq "service 'a': 'sleep' is not on its PATH \([^)]*\): add the package that has it to s6.services.a.path, or give its full path" <<<"$out" ||
    fail "no hint naming s6.services.a.path"
  # The same in a script: the shell's 127.
  code=0
  ref=$(load_image "$(build_image -E '{ image.name = "no-path-script"; s6.services.a = { type = "oneshot-pre"; script = "sleep 1"; }; s6.services.b.script = "exit 0"; }')")
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1) || code=$?
  echo "$out"
  assert_eq "$code" 127
  assert_contains "$out" "[init stage 1] oneshot-pre service 'a' failed with exit code 127 (a command was not found: add the package that has it to s6.services.a.path)"
}

t_L4_hint_a_long_run_that_exits_at_once_names_type() {
  local ref name=nci-hint-exits-$$ log
  ref=$(load_image "$(build_image -E '{ image.name = "exits"; s6.services.task.script = "echo task done"; }')")
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  "${PODMAN_RUN[@]}" -d --name "$name" "$ref" >/dev/null
  for _ in $(seq 100); do
    log=$(podman logs "$name" 2>&1)
    grep -q "restarting it" <<<"$log" && break
    sleep 0.1
  done
  echo "$log"
  grep -Eq "\[init\] service 'task' exited with exit code 0: restarting it \(it ran [0-9]+ ms: a long-run must stay in the foreground, so run the daemon's foreground mode; a task that ends is a oneshot: s6.services.task.type = \"oneshot-pre\" or \"oneshot-post\"\)" <<<"$log" ||
    fail "no hint naming type"
}
