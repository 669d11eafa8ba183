# Tests of the `nix` module: Nix in the image with a registered store.

t_L4_nix_image_runs_nix_with_every_image_path_registered() {
  local ref out nixpath
  ref=$(load_image "$(build_image "$ROOT/images/nix.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref" nix --version)
  [[ $out == "nix (Nix) "* ]] || fail "unexpected nix --version: $out"
  # Every store path of the image is valid in the image's database, with
  # its references: verify, query and evaluate inside the container.
  "${PODMAN_RUN[@]}" "$ref" nix-store --verify
  out=$("${PODMAN_RUN[@]}" "$ref" sh -c 'nix-store -q --references "$(readlink -f /bin/nix-store)"')
  nixpath=$(dirname "$(dirname "$("${PODMAN_RUN[@]}" "$ref" readlink -f /bin/nix-store)")")
  assert_contains "$out" "$nixpath"
  out=$("${PODMAN_RUN[@]}" "$ref" sh -c 'nix-store -q --requisites "$(readlink -f /bin/ls)" | wc -l')
  [ "$out" -ge 1 ] || fail "coreutils is not registered"
  assert_eq "$("${PODMAN_RUN[@]}" "$ref" nix-instantiate --eval -E '6 * 7' 2>/dev/null)" 42
}

t_L4_nix_in_the_image_loads_glibcs_nss_dns_module_and_prints_no_warning() {
  # Nix dlopens libnss_dns.so.2 when it starts (libstore's preloadNSS) and
  # prints "warning: unable to load nss_dns backend" where it is not
  # found. In nixpkgs it is in glibc's lib/, which nix's rpath names; the
  # stand-ins have it there too (tests/hermetic/default.nix's glibc).
  local ref out
  ref=$(load_image "$(build_image "$ROOT/images/nix.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref" nix --version 2>&1)
  assert_eq "$out" "nix (Nix) 2.8.0"
  out=$("${PODMAN_RUN[@]}" "$ref" sh -c 'ls /nix/store/*/lib/libnss_dns.so.2')
  [[ $out == /nix/store/*-glibc-2.36-standin/lib/libnss_dns.so.2 ]] ||
    fail "libnss_dns.so.2 is not (only) in glibc's store path: $out"
}

t_L4_nix_settings_are_written_to_nix_conf() {
  local ref out
  ref=$(load_image "$(build_image -E '{
    image.name = "nixconf";
    nix.enable = true;
    nix.settings = { max-jobs = 3; keep-outputs = true; experimental-features = [ "nix-command" "flakes" ]; };
    nix.extraOptions = "keep-derivations = false";
    nix.nixPath = [ "nixpkgs=/srv/nixpkgs" ];
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref" nix show-config --extra-experimental-features nix-command 2>/dev/null)
  assert_contains "$out" "max-jobs = 3"
  assert_contains "$out" "keep-outputs = true"
  assert_contains "$out" "keep-derivations = false"
  assert_contains "$out" "experimental-features = flakes nix-command"
  assert_contains "$out" "sandbox = false"
  assert_eq "$(podman image inspect "$ref" --format '{{range .Config.Env}}{{println .}}{{end}}' | grep ^NIX_PATH=)" "NIX_PATH=nixpkgs=/srv/nixpkgs"
}

t_L4_nix_database_is_the_same_bytes_when_rebuilt_alone_and_beside_other_builds() {
  local drv dir=$PWD/load pids=() pid rc=0
  build_image "$ROOT/images/nix.nix" >/dev/null
  drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" \
    --arg module "$ROOT/images/nix.nix" 2>/dev/null)
  drv=$(nix-store -qR "$drv" | grep -- '-nix-database.drv$')
  # --check rebuilds and fails if the output differs in any byte.
  nix-build --no-out-link --check "$drv"
  # Under load: a build that holds a build user (nixbld1, say) until told
  # to stop, so the database is rebuilt as another one, twice at once.
  # The database once kept the build user's name (per-user/nixbld2).
  mkdir -p "$dir" && chmod 1777 "$dir" # the build user writes `started`
  nix-build --no-out-link "$ROOT/tests/modules/busy-build.nix" --argstr dir "$dir" \
    --argstr nonce "$RANDOM$RANDOM$$" >"$dir/log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2064
  trap "touch '$dir/stop'; wait $pid" EXIT
  for _ in $(seq 300); do [ -e "$dir/started" ] && break; sleep 0.1; done
  [ -e "$dir/started" ] || fail "the busy build did not start: $(tail -n 5 "$dir/log")"
  for i in 1 2; do
    nix-build --no-out-link --check "$drv" 2>"$dir/check-$i.log" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [ "$rc" = 0 ] || fail "a rebuild beside another build differs: $(cat "$dir"/check-*.log)"
}

t_L3_a_bad_nix_setting_is_an_error_naming_it() {
  expect_build_error '{ image.name = "x"; nix.enable = true; nix.settings.substituters = { a = 1; }; }' \
    "nix\.settings\.substituters' is not of type"
}
