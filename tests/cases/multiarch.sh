# lib.makeMultiArchImage: one image per Nix system joined by an OCI image
# index (or a Docker manifest list). The second architecture offline is
# aarch64-linux, made of Debian's arm64 packages (tests/hermetic/arm64.nix,
# downloaded by tests/setup); x86_64-linux is the host's stand-in set.

# The Nix expression of a multi-architecture image of the hermetic set:
# `multi_expr ARGS` where ARGS is the attribute set's body.
multi_expr() {
  echo "(import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }).nciLib.makeMultiArchImage { $1 }"
}

MULTI_MODULE=$ROOT/tests/modules/multiarch-hello.nix
MULTI_ARGS="systems = [ \"x86_64-linux\" \"aarch64-linux\" ]; modules = [ $MULTI_MODULE ];"

# Builds an attribute of the multi-architecture image; prints its path.
multi_build() { # ARGS [ATTR]
  nbuild -E "$(multi_expr "$1")" ${2:+-A "$2"}
}

need_arm64_debs() {
  compgen -G "${NCI_ARM64_DEBS:-/var/cache/nci-arm64}/hello_*_arm64.deb" >/dev/null ||
    skip "Debian's arm64 packages are not downloaded (tests/setup downloads them into ${NCI_ARM64_DEBS:-/var/cache/nci-arm64})"
}

# Expects evaluating the image's derivation to fail with exactly MESSAGE
# (the `error: ` line Nix prints).
expect_multi_error() { # ARGS MESSAGE
  local out
  if out=$(nix-instantiate --read-write-mode --eval -I nixpkgs-lib="$NIXPKGS_LIB" -E "($(multi_expr "$1")).drvPath" 2>&1); then
    fail "evaluation succeeded, expected: $2"
  fi
  echo "$out"
  assert_contains "$out" "error: $2"
}

t_L3_multiarch_an_empty_systems_list_is_refused_naming_systems() {
  expect_multi_error "systems = [ ]; modules = [ $MULTI_MODULE ];" \
    'lib.makeMultiArchImage: systems is empty: list the Nix systems to build for, e.g. systems = [ "x86_64-linux" "aarch64-linux" ];'
  expect_multi_error "systems = \"x86_64-linux\"; modules = [ $MULTI_MODULE ];" \
    'lib.makeMultiArchImage: systems must be a list of Nix systems, e.g. systems = [ "x86_64-linux" "aarch64-linux" ];'
}

t_L3_multiarch_an_unknown_or_repeated_system_is_refused_naming_it() {
  expect_multi_error "systems = [ \"x86_64-linux\" \"aarch64-darwin\" ]; modules = [ $MULTI_MODULE ];" \
    'lib.makeMultiArchImage: systems: "aarch64-darwin" is not a system an image can be built for (known: aarch64-linux, armv7l-linux, i686-linux, powerpc64le-linux, riscv64-linux, s390x-linux, x86_64-linux)'
  expect_multi_error "systems = [ \"x86_64-linux\" \"x86_64-linux\" ]; modules = [ $MULTI_MODULE ];" \
    'lib.makeMultiArchImage: systems: "x86_64-linux" is listed twice (an index has one image per architecture)'
}

t_L3_multiarch_image_names_or_tags_that_differ_between_systems_are_refused_naming_the_option() {
  local differ="{ config, lib, ... }: { image.name = lib.mkForce (if config.nixpkgs.system == \"aarch64-linux\" then \"multi-arm\" else \"multi\"); }"
  expect_multi_error "systems = [ \"x86_64-linux\" \"aarch64-linux\" ]; modules = [ $MULTI_MODULE ($differ) ];" \
    'lib.makeMultiArchImage: image.name differs between systems (x86_64-linux: "multi", aarch64-linux: "multi-arm"); the index is tagged with one: set image.name the same for every system'
  differ="{ config, lib, ... }: { image.tag = lib.mkForce config.nixpkgs.system; }"
  expect_multi_error "systems = [ \"x86_64-linux\" \"aarch64-linux\" ]; modules = [ $MULTI_MODULE ($differ) ];" \
    'lib.makeMultiArchImage: image.tag differs between systems (x86_64-linux: "x86_64-linux", aarch64-linux: "aarch64-linux"); the index is tagged with one: set image.tag the same for every system'
}

t_L3_multiarch_a_bad_format_or_one_package_set_for_all_is_refused_naming_the_option() {
  expect_multi_error "$MULTI_ARGS format = \"oci-archive\";" \
    'lib.makeMultiArchImage: format: "oci-archive" is neither "oci" (an OCI image index) nor "docker" (a Docker manifest list)'
  local fixed="{ lib, ... }: { nixpkgs.pkgs = lib.mkForce (import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }).pkgs; }"
  expect_multi_error "systems = [ \"x86_64-linux\" \"aarch64-linux\" ]; modules = [ $MULTI_MODULE ($fixed) ];" \
    'lib.makeMultiArchImage: the image for aarch64-linux has packages for x86_64-linux (nixpkgs.pkgs): leave nixpkgs.pkgs unset, makeMultiArchImage picks each system'"'"'s package set'
}

t_L3_multiarch_the_offline_arm64_set_names_what_it_lacks() {
  # images/hello.nix keeps image.pid1 = true: its entry point is nci-init.
  expect_multi_error "systems = [ \"x86_64-linux\" \"aarch64-linux\" ]; modules = [ $ROOT/images/hello.nix ];" \
    'the offline stand-ins have no aarch64-linux nci-init (Rust'"'"'s standard library for it cannot be installed without internet): set image.pid1 = false in an offline image for it'
}

# The blob a layout's digest names.
oci_blob() { # LAYOUT DIGEST
  echo "$1/blobs/sha256/${2#sha256:}"
}

t_L4_multiarch_index_layout_lists_both_platforms_and_each_architecture_is_its_single_image_byte_for_byte() {
  need_arm64_debs
  local index again top raw arch system single entry
  index=$(multi_build "$MULTI_ARGS")
  # skopeo reads the layout's index as the tag's manifest.
  raw=$(skopeo inspect --raw "oci:$index:nci/multi:v1")
  echo "$raw" | jq .
  assert_eq "$(jq -r .mediaType <<<"$raw")" application/vnd.oci.image.index.v1+json
  assert_eq "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' <<<"$raw")" "linux/amd64 linux/arm64"
  top=$(jq -r '.manifests[0].digest' "$index/index.json")
  assert_eq "sha256:$(sha256sum <"$(oci_blob "$index" "$top")" | cut -c1-64)" "$top"
  for system in x86_64-linux aarch64-linux; do
    arch=$([ "$system" = x86_64-linux ] && echo amd64 || echo arm64)
    single=$(multi_build "$MULTI_ARGS" "images.$system.oci")
    entry=$(jq -c --arg a "$arch" '.manifests[] | select(.platform.architecture == $a)' <<<"$raw")
    # The index lists the single-architecture image's own manifest ...
    assert_eq "$(jq -r .digest <<<"$entry")" "$(jq -r '.manifests[0].digest' "$single/index.json")" "($system manifest)"
    # ... and every blob of that image is in the index's layout, same bytes.
    for blob in "$single"/blobs/sha256/*; do
      cmp "$blob" "$index/blobs/sha256/$(basename "$blob")" || fail "$system: $(basename "$blob") differs"
    done
    # skopeo picks the platform's image; its config says the same.
    assert_eq "$(skopeo inspect --override-arch "$arch" --override-os linux "oci:$index:nci/multi:v1" | jq -r '.Architecture + "/" + .Os')" "$arch/linux"
  done
  # The arm64 image carries arm64 programs (the ELF header's machine).
  single=$(multi_build "$MULTI_ARGS" "images.aarch64-linux.oci")
  file -L "$(nbuild -E "($(multi_expr "$MULTI_ARGS")).images.aarch64-linux.config.nixpkgs.pkgs.hello")/bin/hello" | grep -q 'ARM aarch64' ||
    fail "the arm64 hello is not an aarch64 program"
  # Same inputs, same bytes: the layout written again is identical.
  again=$(nix-build --no-out-link --check -I nixpkgs-lib="$NIXPKGS_LIB" -E "$(multi_expr "$MULTI_ARGS")" 2>&1) ||
    fail "rebuilding the index gave other bytes: $again"
}

t_L4_multiarch_copy_to_registry_pushes_the_index_podman_pulls_each_architecture_and_runs_them() {
  need_arm64_debs
  local push out raw before system arch single entry mnt hello
  # (ref is global: the trap runs after the function returns.)
  trap 'podman image unmount "$ref" >/dev/null 2>&1 || true; podman rmi -f "$ref" >/dev/null 2>&1 || true; stop_registry' EXIT
  start_registry
  ref=127.0.0.1:$REG_PORT/nci/multi:v1
  push=$(multi_build "$MULTI_ARGS" copyToRegistry)/bin/copy-to-registry
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://$ref" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" "copy-to-registry: x86_64-linux (linux/amd64): pushed sha256:"
  assert_contains "$out" "copy-to-registry: aarch64-linux (linux/arm64): pushed sha256:"
  assert_contains "$out" "): an OCI image index of linux/amd64, linux/arm64"
  # The index is the one tag: the architectures' manifests have none.
  assert_eq "$(registry_tags nci/multi)" v1
  raw=$(skopeo inspect --raw --tls-verify=false "docker://$ref")
  echo "$raw" | jq .
  assert_eq "$(jq -r .mediaType <<<"$raw")" application/vnd.oci.image.index.v1+json
  assert_eq "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' <<<"$raw")" "linux/amd64 linux/arm64"
  # Each architecture's manifest is the one its single-architecture
  # image's copyToRegistry pushes (which then has every blob already).
  for system in x86_64-linux aarch64-linux; do
    arch=$([ "$system" = x86_64-linux ] && echo amd64 || echo arm64)
    single=$(multi_build "$MULTI_ARGS" "images.$system.copyToRegistry")/bin/copy-to-registry
    out=$(REGISTRY_AUTH_FILE=/nonexistent "$single" "docker://127.0.0.1:$REG_PORT/nci/multi:single-$arch" 2>&1) || fail "$out"
    assert_contains "$out" ": 0 layer(s) sent,"
    entry=$(jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest' <<<"$raw")
    assert_eq "sha256:$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$REG_PORT/nci/multi:single-$arch" | sha256sum | cut -c1-64)" "$entry" "($system)"
  done
  # A second push of the index sends no blob.
  before=$(blob_uploads)
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://$ref" 2>&1) || fail "$out"
  assert_eq "$(blob_uploads)" "$before" "(the second push uploaded blobs)"

  # podman picks each architecture from the index.
  podman pull -q --tls-verify=false --arch amd64 "$ref" >/dev/null
  assert_eq "$(podman image inspect --format '{{.Os}}/{{.Architecture}}' "$ref")" linux/amd64
  "${PODMAN_RUN[@]}" "$ref" | grep -q 'Hello, world!' || fail "the amd64 image does not print hello"
  podman rmi -f "$ref" >/dev/null
  podman pull -q --tls-verify=false --arch arm64 "$ref" >/dev/null
  assert_eq "$(podman image inspect --format '{{.Os}}/{{.Architecture}}' "$ref")" linux/arm64
  # No binfmt_misc here (podman run --arch arm64 cannot exec): the arm64
  # image's own files run under qemu-user, its root as the ELF prefix.
  command -v qemu-aarch64-static >/dev/null || skip "qemu-user-static is not installed (tests/setup installs it)"
  mnt=$(podman image mount "$ref")
  hello=$(podman image inspect --format '{{index .Config.Entrypoint 0}}' "$ref")
  file -L "$mnt$hello" | grep -q 'ARM aarch64' || fail "$hello in the arm64 image is not an aarch64 program"
  assert_eq "$(qemu-aarch64-static -L "$mnt" "$mnt$hello")" "Hello, world!"
}

t_L4_multiarch_copy_to_registry_pushes_a_docker_manifest_list_where_asked() {
  need_arm64_debs
  local push out raw m
  trap 'podman rmi -f "$ref" >/dev/null 2>&1 || true; stop_registry' EXIT
  start_registry
  ref=127.0.0.1:$REG_PORT/nci/multi:list
  push=$(multi_build "$MULTI_ARGS format = \"docker\";" copyToRegistry)/bin/copy-to-registry
  out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" "docker://$ref" 2>&1) || fail "$out"
  echo "$out"
  assert_contains "$out" "): a Docker manifest list of linux/amd64, linux/arm64"
  raw=$(skopeo inspect --raw --tls-verify=false "docker://$ref")
  assert_eq "$(jq -r .mediaType <<<"$raw")" application/vnd.docker.distribution.manifest.list.v2+json
  m=$(jq -r '.manifests[1].digest' <<<"$raw")
  assert_eq "$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$REG_PORT/nci/multi@$m" | jq -r '.mediaType + " " + .config.mediaType')" \
    "application/vnd.docker.distribution.manifest.v2+json application/vnd.docker.container.image.v1+json"
  podman pull -q --tls-verify=false --arch arm64 "$ref" >/dev/null
  assert_eq "$(podman image inspect --format '{{.Os}}/{{.Architecture}}' "$ref")" linux/arm64
  # Docker's schema 2 has no zstd layers: the push says so and tags nothing.
  if out=$(REGISTRY_AUTH_FILE=/nonexistent "$push" --compression-format zstd "docker://127.0.0.1:$REG_PORT/nci/multi:zstd" 2>&1); then
    fail "a Docker manifest list of zstd layers was pushed: $out"
  fi
  assert_eq "$(tail -n 1 <<<"$out")" "copy-to-registry: error: docker://127.0.0.1:$REG_PORT/nci/multi:zstd: the x86_64-linux image: nci/multi: Docker's manifest list (format = \"docker\") cannot carry a layer of type application/vnd.oci.image.layer.v1.tar+zstd; use format = \"oci\""
  assert_eq "$(registry_tags nci/multi)" list
}

t_L4_multiarch_docs_example_flake_builds_an_index_skopeo_reads() {
  need_arm64_debs
  # docs/publishing.md's flake, given this repository's lib over the
  # stand-in packages as `nci`.
  local index raw
  index=$(nbuild -E "
    let nci = { lib = (import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }).nciLib; };
    in ((import $ROOT/docs/examples/multi-arch.nix).outputs { inherit nci; }).packages.x86_64-linux.hello-multi")
  raw=$(skopeo inspect --raw "oci:$index:hello:1.0")
  assert_eq "$(jq -r '.mediaType + " " + ([.manifests[].platform.architecture] | join(","))' <<<"$raw")" \
    "application/vnd.oci.image.index.v1+json amd64,arm64"
}
