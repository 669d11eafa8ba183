# Plain images (an entry point that is not the s6 init) run under
# `nci-init pid1` (image.pid1, issue 17 item 2): signals reach the
# program, zombies are reaped, the exit code is the program's. The loop
# itself is tested at L1 (recorded fake) and L2 (rust/nci-init/tests/l2_pid1.rs).

pid1_httpd='{ pkgs, ... }: { image.name = "plain-httpd"; image.entryPoint = [ "${pkgs.busybox}/bin/httpd" "-f" "-p" "8080" "-h" "/" ]; }'
# The same image with image.pid1 = false, named $1.
pid1_off() {
  echo '{ pkgs, ... }: { image.name = "'"$1"'"; image.pid1 = false; image.entryPoint = [ "${pkgs.busybox}/bin/httpd" "-f" "-p" "8080" "-h" "/" ]; }'
}

t_L3_pid1_plain_images_get_the_minimal_pid_1_and_s6_images_and_empty_ones_do_not() {
  local inits='[.[] | select(endswith("-nci-init"))] | length'
  assert_eq "$(eval_image "$pid1_httpd" config.system.build.storeRoots | jq "$inits")" 1 "(the plain image)"
  # The s6 init is a PID 1 already (nci-init is in its closure, not a root).
  assert_eq "$(eval_image '{ image.name = "x"; s6.services.a.script = "x"; }' config.system.build.storeRoots |
    jq "$inits")" 0 "(the s6 image)"
  assert_eq "$(eval_image '{ image.name = "x"; }' config.system.build.storeRoots)" "[]" "(the empty image gets nothing)"
  assert_eq "$(eval_image "$(pid1_off plain-httpd-bare)" config.system.build.storeRoots | jq "$inits")" 0 "(image.pid1 = false)"
  # The option keeps what the user wrote.
  eval_image "$pid1_httpd" config.image.entryPoint | jq -e '.[0] | endswith("/bin/httpd")' >/dev/null ||
    fail "image.entryPoint was changed"
}

t_L4_pid1_podman_stop_of_a_busybox_httpd_image_is_prompt_with_its_exit_code() {
  local ref name top
  ref=$(load_image "$(build_image -E "$pid1_httpd")")
  name=nci-pid1-httpd-$$
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  podman run -d --name "$name" --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref" >/dev/null
  for _ in $(seq 100); do
    top=$(podman top "$name" pid args 2>/dev/null || true)
    grep -q httpd <<<"$top" && break
    sleep 0.1
  done
  echo "$top"
  grep -Eq '^ *1 +/nix/store/[a-z0-9]{32}-nci-init pid1 -- ' <<<"$top" || fail "PID 1 is not nci-init pid1"
  grep -Eq '^ *[0-9]+ +/nix/store/[a-z0-9]{32}-busybox-1.35/bin/httpd -f' <<<"$top" || fail "httpd does not run"
  # 143: httpd ended by the forwarded TERM (128 + 15).
  stop_ended_by_the_container "$name" 143
}

t_L4_pid1_opted_out_the_program_is_pid_1_and_ignores_term() {
  # What image.pid1 fixes, shown with it off: podman waits, then KILL.
  local ref name code
  ref=$(load_image "$(build_image -E "$(pid1_off plain-httpd-bare)")")
  name=nci-pid1-bare-$$
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  podman run -d --name "$name" --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref" >/dev/null
  for _ in $(seq 100); do
    podman top "$name" pid args 2>/dev/null | grep -Eq '^ *1 +.*/bin/httpd' && break
    sleep 0.1
  done
  podman top "$name" pid args | grep -Eq '^ *1 +.*/bin/httpd' || fail "httpd is not PID 1"
  podman stop -t 1 "$name" >/dev/null
  code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
  assert_eq "$code" 137 "(killed after the timeout)"
}

t_L4_pid1_orphans_of_a_plain_image_are_reaped_and_its_code_is_kept() {
  local ref out code=0
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: { image.name = "plain-orphans";
    image.entryPoint = [ "${pkgs.busybox}/bin/sh" "-c"
      "for i in 1 2 3 4 5 6 7 8 9 10; do (sleep 0.05 &); done; sleep 0.5; echo zombies: $(grep -l \"^State:.*Z\" /proc/[0-9]*/status 2>/dev/null | wc -l); exit 7" ];
    image.env.PATH = "${pkgs.busybox}/bin"; }')")
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1) || code=$?
  echo "$out"
  assert_eq "$out" "zombies: 0"
  assert_eq "$code" 7
}
