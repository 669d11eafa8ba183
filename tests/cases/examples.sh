# The examples of README.md and docs/ as a newcomer runs them: the example
# runner (tests/run-example) and, in docs.sh, the guides' examples.

t_L4_run_example_passes_podman_options_before_the_image_and_arguments_after_dashes() {
  local name=nci-run-example-$$ out page
  # Arguments after `--` go to the image (hello's own option).
  out=$("$ROOT/tests/run-example" hello -- --greeting=salut 2>/dev/null)
  assert_eq "$out" "salut"
  # podman's options before it: a name, detached, a published port.
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  "$ROOT/tests/run-example" nginx -d --name "$name" -p 127.0.0.1:18437:80 >/dev/null
  for _ in $(seq 100); do
    page=$(curl -fsS http://127.0.0.1:18437/plop 2>/dev/null) && break
    sleep 0.1
  done
  assert_eq "$page" "plop"
}

t_L4_run_example_of_an_image_with_nothing_to_run_explains_itself() {
  local out code=0
  out=$("$ROOT/tests/run-example" empty 2>&1) || code=$?
  echo "$out"
  assert_eq "$code" 0
  assert_contains "$out" "images/empty.nix sets neither image.entryPoint nor image.cmd: the image has"
  assert_contains "$out" "nothing to run (podman would say \"no command or entrypoint provided\")"
  assert_contains "$out" "podman image inspect localhost/empty:"
}

t_L4_image_contents_and_symlinks_are_public_options_that_work() {
  # Used by guides (docs/image-writer.md): documented in options.md, not
  # internal, and doing what they say.
  grep -q '^## `image.contents`' "$ROOT/docs/options.md" || fail "image.contents is not in options.md"
  grep -q '^## `image.symlinks`' "$ROOT/docs/options.md" || fail "image.symlinks is not in options.md"
  local ref out
  ref=$(load_image "$(build_image -E '{ pkgs, ... }: {
    image.name = "contents-symlinks";
    image.contents = [ pkgs.hello ];
    image.symlinks."/usr/local/bin/greet" = "${pkgs.hello}/bin/hello";
    image.entryPoint = [ "/usr/local/bin/greet" ];
  }')")
  out=$("${PODMAN_RUN[@]}" "$ref")
  assert_eq "$out" "Hello, world!"
}
