# Tests of lib.makeImage and the `image` module (issue 2).

t_L4_hello_image_prints_hello_world() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/images/hello.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref")
  assert_eq "$out" "Hello, world!"
}

t_L4_empty_image_from_the_original_attrset_form_loads_and_is_under_100_KB() {
  local archive size ref
  archive=$(build_image -E '{ config.image.name = "empty"; }')
  size=$(stat -L -c %s "$archive")
  echo "empty image archive: $size bytes"
  [ "$size" -le 102400 ] || fail "empty image is $size bytes, more than 100 KB"
  ref=$(load_image "$archive")
  [[ $ref == localhost/empty:* ]] || fail "unexpected reference $ref"
  # The tag is the hash part of the output path, as nixpkgs does.
  assert_eq "${ref#localhost/empty:}" "$(basename "$archive" | cut -d- -f1)"
}

t_L4_every_image_option_shows_in_podman_inspect() {
  local ref cfg
  ref=$(load_image "$(build_image "$ROOT/tests/modules/options.nix")")
  assert_eq "$ref" "localhost/options:v1"
  cfg=$(podman image inspect "$ref" --format json | jq '.[0].Config')
  echo "$cfg"
  assert_eq "$(jq -c '[.Env[] | select(test("^(AA_FIRST|GREETING|TOOL|ZZ_LAST)="))]' <<<"$cfg" | sed 's|/nix/store/[^"]*|STORE|')" \
    '["AA_FIRST=1","GREETING=hello world","TOOL=STORE","ZZ_LAST=z"]'
  assert_eq "$(jq -r .WorkingDir <<<"$cfg")" /srv/app
  assert_eq "$(jq -r .User <<<"$cfg")" 1234:4321
  assert_eq "$(jq -r '.Labels["org.example.purpose"]' <<<"$cfg")" tests
  assert_eq "$(jq -r '.ExposedPorts | keys[0]' <<<"$cfg")" 8080/tcp
  assert_eq "$(jq -r '.Volumes | keys[0]' <<<"$cfg")" /data
  assert_eq "$(jq -r .StopSignal <<<"$cfg")" SIGQUIT
  assert_eq "$(jq -r '.Cmd[0]' <<<"$cfg")" default-arg
  # A store path named in env is part of the image.
  tool=$(jq -r '.Env[] | select(startswith("TOOL=")) | ltrimstr("TOOL=")' <<<"$cfg")
  "${PODMAN_RUN[@]}" --entrypoint "$tool/bin/hello" "$ref" | grep -q 'Hello, world!'
}

t_L4_image_options_take_effect_in_the_running_container() {
  local ref out id
  ref=$(load_image "$(build_image "$ROOT/tests/modules/options.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref")
  echo "$out"
  assert_contains "$out" "greeting=hello world"
  assert_contains "$out" "pwd=/srv/app"
  assert_contains "$out" "uid=1234 gid=4321"
  assert_contains "$out" "args=default-arg"
  # `podman run IMAGE args` replaces cmd.
  out=$("${PODMAN_RUN[@]}" "$ref" one two)
  assert_contains "$out" "args=one two"
  # The exposed port is published by -P.
  id=$(podman run -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 -P "$ref" serve)
  out=$(podman port "$id" || true)
  podman rm -f -t 0 "$id" >/dev/null
  echo "ports: $out"
  assert_contains "$out" "8080/tcp ->"
}

t_L4_interactive_image_has_a_shell_coreutils_and_usr_bin_env() {
  local ref out
  ref=$(load_image "$(build_image -E '{ image.name = "interactive"; image.interactive = true; }')")
  out=$("${PODMAN_RUN[@]}" "$ref" sh -c 'ls /bin | head')
  echo "$out"
  [ "$(wc -l <<<"$out")" -ge 5 ] || fail "expected a listing of /bin"
  "${PODMAN_RUN[@]}" "$ref" /usr/bin/env sh -c 'echo "$0 works"' | grep -q 'works'
}

t_L4_system_packages_are_on_the_default_path() {
  local ref
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "syspkgs";
    environment.systemPackages = [ pkgs.hello pkgs.busybox ];
  }')")
  "${PODMAN_RUN[@]}" "$ref" hello | grep -q 'Hello, world!'
  "${PODMAN_RUN[@]}" "$ref" sh -c 'test -d /bin && test -L /bin/hello && echo ok' | grep -q ok
}

t_L3_make_image_takes_a_list_of_modules_and_exposes_config() {
  local out
  out=$(nix-instantiate --eval --strict --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "
    let h = import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; };
        img = h.makeImage [ $ROOT/images/hello.nix { image.tag = \"t\"; image.env.A = \"b\"; } ];
    in [ img.config.image.name img.imageName img.imageTag img.config.image.env.A
         (img.options.image.name.description != \"\") ]")
  assert_eq "$out" '["hello","hello","t","b",true]'
}

t_L4_same_image_from_two_checkouts_has_the_same_digests() {
  local other a b
  other=$PWD/other-checkout
  mkdir -p "$other"
  git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 cp --parents -t "$other")
  # The other checkout builds its own helpers, in its own directory.
  other_tools=$("$other/tests/build-tools")
  a=$(nbuild "$ROOT/tests/build.nix" --arg module "$ROOT/tests/modules/options.nix")
  b=$(nix-build --no-out-link -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$other_tools" \
    "$other/tests/build.nix" --arg module "$other/tests/modules/options.nix")
  assert_eq "$b" "$a" "(store paths of the two builds)"
  cmp "$a" "$b"
  digests() { tar -xOf "$1" manifest.json | jq -c '.[0] | [.Config, .Layers]'; }
  assert_eq "$(digests "$b")" "$(digests "$a")"
}

t_L3_unknown_option_is_an_error_naming_it() {
  expect_build_error '{ image.name = "x"; image.entrypoint = [ ]; }' "option .image\.entrypoint' does not exist"
}

t_L3_wrong_type_is_an_error_naming_the_option() {
  expect_build_error '{ image.name = "x"; image.entryPoint = "hello"; }' "image\.entryPoint' is not of type .list of string'"
}

t_L3_bad_inputs_table_is_refused_at_evaluation_with_the_messages_the_helpers_give() {
  # tests/golden/bad-inputs.json: the same rows drive nci-core's L1 test.
  local out
  out=$(nix-instantiate --eval --strict --json -I nixpkgs-lib="$NIXPKGS_LIB" \
    "$ROOT/tests/bad-inputs.nix" --arg toolsDir "$TOOLS_DIR")
  assert_eq "$out" "[]" "(rows of bad-inputs.json not refused as the table says)"
}

t_L3_the_three_disagreements_of_issue_14_fail_the_build_at_evaluation() {
  # Refused before any builder runs: the message is the module's, not nci-image's.
  local out
  for bad in 'name = "MyRegistry/app";' 'name = "x"; exposedPorts."70000/tcp" = { };' 'name = "x"; exposedPorts."0/tcp" = { };'; do
    out=$(expect_build_error "{ image = { $bad }; }" "Failed assertions:")
    if grep -q "building '" <<<"$out"; then fail "a builder ran: $out"; fi
  done
}

t_L3_failed_assertions_are_reported_together_naming_the_options() {
  local out
  out=$(expect_build_error '{ image.name = "Bad Name"; image.maxLayers = 0; image.exposedPorts."http" = { }; }' "Failed assertions:")
  assert_contains "$out" "- image.name: 'Bad Name' is not a valid image name"
  assert_contains "$out" "- image.maxLayers: must be at least 1"
  assert_contains "$out" "- image.exposedPorts: 'http' is not <port>/<tcp|udp|sctp>"
}

t_L3_invalid_spec_fails_the_builder_naming_the_field_with_no_output() {
  local out drv outpath module='{ image.name = "x"; image.symlinks."relative" = "target"; }'
  # image.symlinks (internal) is only checked by the builder: the build must fail cleanly.
  out=$(expect_build_error "$module" "symlinks: 'relative' -> 'target' needs an absolute link path")
  drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" \
    --arg module "$module" 2>/dev/null)
  outpath=$(nix-store -q --outputs "$drv")
  [ ! -e "$outpath" ] || fail "$outpath exists after a failed build"
}

t_L1_nci_image_rejects_a_bad_spec_file_naming_the_field_and_writes_nothing() {
  local out
  printf '%s' '{"version":1,"name":"UPPER","tag":null,"created":"1970-01-01T00:00:01Z","architecture":"amd64","config":{},"maxLayers":1,"storeRoots":[]}' >spec.json
  if out=$("$TOOLS_DIR/nci-image" build --spec spec.json --out image.tar 2>&1); then
    fail "nci-image accepted a bad name"
  fi
  echo "$out"
  assert_contains "$out" "image.name: 'UPPER' is not a valid image name"
  [ ! -e image.tar ] || fail "image.tar left behind"
  printf '{"version":1,' >broken.json
  if out=$("$TOOLS_DIR/nci-image" build --spec broken.json --out image.tar 2>&1); then
    fail "nci-image accepted broken JSON"
  fi
  assert_contains "$out" "broken.json: not a valid spec"
  [ ! -e image.tar ] || fail "image.tar left behind"
}

t_L4_default_nix_builds_the_original_readme_example() {
  # The seed's `with import ./default.nix {}; lib.makeImage {...}`, with the
  # stand-in package set in place of the pinned nixpkgs (no internet here).
  local archive ref
  archive=$(nix-build --no-out-link -I nixpkgs-lib="$NIXPKGS_LIB" -E "
    let h = import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }; in
    with import $ROOT/default.nix { inherit (h) pkgs tools nixosModules; };
    lib.makeImage { config.image.name = \"empty\"; }")
  ref=$(load_image "$archive")
  [[ $ref == localhost/empty:* ]] || fail "unexpected reference $ref"
  nix-build --no-out-link -I nixpkgs-lib="$NIXPKGS_LIB" -E "
    let h = import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }; in
    (import $ROOT/default.nix { inherit (h) pkgs tools nixosModules; }).dockerImages.nginx" >/dev/null
}

t_L3_options_reference_is_up_to_date() {
  "$ROOT/docs/generate" --check
}

t_L5_flake_outputs_evaluate_with_the_pinned_nixpkgs() {
  if ! curl -sfI --max-time 5 https://github.com >/dev/null 2>&1; then
    skip "no internet: the flake's pinned nixpkgs cannot be fetched (runs on machines with internet)"
  fi
  (cd "$ROOT" && nix --extra-experimental-features 'nix-command flakes' flake check --no-build)
}

t_L3_image_tag_defaults_to_the_hash_part_of_the_archive_path() {
  local out
  out=$(nix-instantiate --eval --strict --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "
    let h = import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; };
        img = h.makeImage $ROOT/images/hello.nix;
    in [ img.imageTag (builtins.substring 11 32 (builtins.unsafeDiscardStringContext img.outPath)) ]")
  [ "$(jq -r '.[0]' <<<"$out")" = "$(jq -r '.[1]' <<<"$out")" ] || fail "imageTag is not the hash part: $out"
  [ "$(jq -r '.[0] | length' <<<"$out")" = 32 ] || fail "unexpected tag: $out"
}

t_L1_nix_files_are_formatted_as_nix_fmt_formats_them() {
  # `nix fmt` is nixpkgs' nixfmt (RFC 166 style); Debian 12 has no package
  # of it, so machines without it skip this, saying so.
  command -v nixfmt >/dev/null || skip "nixfmt is not installed (nix fmt installs it on machines with nixpkgs)"
  (cd "$ROOT" && git ls-files -z '*.nix' | xargs -0 nixfmt --check)
}

t_L3_a_name_docker_rejects_fails_only_the_outputs_that_carry_a_reference() {
  # The original project's s6 tests were named in camelCase and used only
  # `.init`; `.config` and `.options` are for debugging. Building the
  # archive, the stream or the OCI layout is still an error naming image.name.
  local m='{ image.name = "stopIfOneshotFail"; s6.services.a = { type = "oneshot-pre"; script = "exit 1"; }; }'
  local msg="- image.name: 'stopIfOneshotFail' is not a valid image name: up to 255 characters, lowercase letters, digits and '.', '_', '-' between them, '/' between path components, after an optional registry host ('ghcr.io/owner/app', 'localhost:5000/app')"
  local attr out
  [[ $(eval_image "$m" init.outPath) == *-s6-init\" ]] || fail "init does not evaluate"
  assert_eq "$(eval_image "$m" config.image.name)" '"stopIfOneshotFail"'
  assert_eq "$(eval_image "$m" imageName)" '"stopIfOneshotFail"'
  assert_eq "$(eval_image "$m" options.image.name.type.name)" '"str"'
  for attr in outPath drvPath stream.outPath oci.outPath imageTag; do
    if out=$(eval_image "$m" "$attr" 2>&1); then fail "$attr evaluated: $out"; fi
    assert_contains "$out" "$msg"
  done
  # Other failed assertions still stop `.init`.
  out=$(eval_image '{ image.name = "stopIfOneshotFail"; image.maxLayers = 0; s6.services.a.script = "x"; }' init.outPath 2>&1) &&
    fail "init evaluated despite a failed assertion"
  assert_contains "$out" "- image.maxLayers: must be at least 1"
  [[ $out != *"image.name:"* ]] || fail "init reported the name: $out"
}

t_L4_paths_to_link_adds_package_subpaths_to_the_image_root() {
  # As NixOS' environment.pathsToLink: a module adds a subpath (here
  # nginx's conf/mime.types) and it is linked into the root, beside /bin,
  # /sbin and /share, which stay.
  local ref out
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "links";
    image.entryPoint = [ "${pkgs.busybox}/bin/ls" "-l" "/conf/mime.types" "/bin/hello" ];
    environment.systemPackages = [ pkgs.hello pkgs.nginx ];
    environment.pathsToLink = [ "/conf/mime.types" ];
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref" 2>&1)
  echo "$out"
  grep -Eq '/conf/mime.types -> /nix/store/[a-z0-9]+-nginx-1.22.1/conf/mime.types$' <<<"$out" ||
    fail "conf/mime.types of the package is not linked"
  grep -Eq '/bin/hello -> /nix/store/[a-z0-9]+-hello-2.12/bin/hello$' <<<"$out" || fail "/bin is no longer linked"
}
