# Tests of the `image` module and the image writer's first form (issue 2).

t_L4_hello_image_prints_hello_world() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/images/hello.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref")
  assert_eq "$out" "Hello, world!"
}
