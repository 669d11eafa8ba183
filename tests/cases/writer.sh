# Tests of the image writer (issue 3): layering, the three outputs,
# image.from, image.run, and bad inputs. See docs/image-writer.md.

# An image module with busybox, hello and a few settings, as Nix text.
writer_module() {
  cat <<NIX
{ pkgs, ... }: {
  image.name = "${1:-writer}";
  environment.systemPackages = [ pkgs.busybox pkgs.hello ];
  image.env.GREETING = "hi";
  ${2:-}
}
NIX
}

# The config of a docker-archive's image (the blob manifest.json names).
archive_config() {
  tar -xOf "$1" "$(tar -xOf "$1" manifest.json | jq -r '.[0].Config')"
}

# "comment diff_id" per layer of a docker-archive (comments name the
# store paths of store layers).
layer_table() {
  archive_config "$1" | jq -r '[.history, .rootfs.diff_ids] | transpose[] | "\(.[0].comment) \(.[1])"'
}

t_L4_writer_archive_stream_and_oci_hold_the_same_image_and_each_runs() {
  local module archive stream oci ref tag out id
  module=$(writer_module writer-outputs)
  archive=$(build_image -E "$module")
  stream=$(nbuild "$ROOT/tests/build.nix" --arg module "$module" -A stream)
  oci=$(nbuild "$ROOT/tests/build.nix" --arg module "$module" -A oci)
  tag=$(basename "$archive" | cut -d- -f1)
  # The stream writes the archive's very bytes, without storing them.
  [ -x "$stream" ] || fail "stream is not executable"
  rm -rf "$NCI_IMAGE_CACHE"
  "$stream" | cmp - "$archive"
  # Run again, it takes the store layers' facts from its cache: the same bytes.
  [ "$(ls "$NCI_IMAGE_CACHE" | wc -l)" -gt 2 ] || fail "the stream keeps no layer facts in $NCI_IMAGE_CACHE"
  "$stream" | cmp - "$archive"
  # skopeo reads both forms and sees the same digests.
  a=$(skopeo inspect "docker-archive:$archive" | jq -c .Layers)
  o=$(skopeo inspect "oci:$oci:writer-outputs:$tag" | jq -c .Layers)
  echo "docker-archive: $a"
  assert_eq "$o" "$a" "(skopeo inspect oci: vs docker-archive:)"
  skopeo inspect --config "docker-archive:$archive" | jq -e '.config.Env | index("GREETING=hi")' >/dev/null
  # umoci reads the OCI layout, and the archive unpacked is one too.
  # The layout's ref.name is the whole reference, name and tag.
  assert_eq "$(umoci ls --layout "$oci")" "writer-outputs:$tag"
  umoci unpack --rootless --image "$oci:writer-outputs:$tag" unpacked-oci >/dev/null
  [ -L unpacked-oci/rootfs/bin/hello ] || fail "umoci unpack misses /bin/hello"
  mkdir archive-layout && tar -xf "$archive" -C archive-layout
  assert_eq "$(umoci ls --layout archive-layout)" "writer-outputs:$tag"
  umoci unpack --rootless --image "archive-layout:writer-outputs:$tag" unpacked-archive >/dev/null
  diff -r --no-dereference unpacked-oci/rootfs unpacked-archive/rootfs
  # podman runs the image from each form.
  ref=$(load_image "$archive")
  assert_eq "$("${PODMAN_RUN[@]}" "$ref" hello)" "Hello, world!"
  podman rmi -f "$ref" >/dev/null
  ref=$("$stream" | podman load -q | sed -n 's/^Loaded image: //p' | tail -n 1)
  assert_eq "$("${PODMAN_RUN[@]}" "$ref" sh -c 'echo $GREETING')" "hi"
  id=$(podman pull -q "oci:$oci:writer-outputs:$tag")
  assert_eq "$("${PODMAN_RUN[@]}" "$id" hello)" "Hello, world!"
  # Named imageName:imageTag from the layout, as docs/image-writer.md says.
  skopeo copy -q "oci:$oci:writer-outputs:$tag" "containers-storage:localhost/writer-outputs:$tag"
  assert_eq "$("${PODMAN_RUN[@]}" "localhost/writer-outputs:$tag" hello)" "Hello, world!"
}

# The derivation of writer_module NAME's output ATTR (the default output
# without one), after checking that it is the builder step STEP and waits
# for no plan or layer derivation: one derivation to build. (It returns
# non-zero itself: `set -e` does not reach into a command substitution.)
writer_one_step_drv() { # NAME STEP [ATTR]
  local drv inputs
  drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" \
    "$ROOT/tests/build.nix" --arg module "$(writer_module "$1")" ${3:+-A "$3"} 2>/dev/null)
  nix show-derivation --extra-experimental-features nix-command "$drv" |
    jq -e --arg step "$2" '.[].env.__json | fromjson | .step == $step' >/dev/null ||
    { fail "${3:-the default output} is not the $2 step"; return 1; }
  inputs=$(nix-store -q --references "$drv")
  echo "$inputs" >&2
  if grep -E -- '-nci-(plan|layer)-' <<<"$inputs" >&2; then
    fail "${3:-the default output} waits for the plan or layer derivations above"
    return 1
  fi
  echo "$drv"
}

t_L3_writer_the_docker_archive_is_one_derivation_with_no_plan_or_layer_derivations() {
  # nix-build of the default output builds the one-pass `image` step
  # alone (docs/image-writer.md, "Cost model"): with Nix 2.8 building one
  # derivation at a time, each more would cost as much as hashing ~50 MB.
  local drv
  drv=$(writer_one_step_drv writer-one-pass image)
  # The OCI layout, for its part, goes through the plan and the layer facts.
  drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" \
    "$ROOT/tests/build.nix" --arg module "$(writer_module writer-one-pass)" -A oci 2>/dev/null)
  nix-store -qR "$drv" | grep -q -- '-nci-plan-writer-one-pass\.json\.drv$' || fail "the OCI layout has no plan"
  nix-store -qR "$drv" | grep -q -- '-nci-layer-hello-.*\.json\.drv$' || fail "the plan has no layer facts"
}

t_L3_writer_the_stream_is_one_derivation_that_hashes_nothing() {
  # nix-build of `.stream` builds one derivation, which lays the image
  # out and keeps no digest of a store layer: running it hashes them
  # (docs/image-writer.md, "Cost model").
  local drv stream
  drv=$(writer_one_step_drv writer-stream-drv stream stream)
  stream=$(nix-store -r "$drv" 2>/dev/null)
  tail -n +2 "$stream" | jq -e '.layering.layers | length > 3 and all(. == null)' >/dev/null ||
    fail "the stream keeps digests: $(tail -n +2 "$stream" | jq -c .layering.layers)"
  # Everything it reads when run stays alive with it: its closure holds
  # every store path of the image.
  nix-store -qR "$stream" >closure
  tail -n +2 "$stream" | jq -r '.layering.pending[][1][]' | while read -r p; do
    grep -qx "$p" closure || fail "$p is not in the stream's closure"
  done
}

t_L4_writer_two_images_sharing_a_package_share_its_layer() {
  local a b hello_a hello_b
  a=$(build_image -E '{ pkgs, ... }: { image.name = "share-a"; environment.systemPackages = [ pkgs.hello pkgs.busybox ]; }')
  b=$(build_image -E '{ pkgs, ... }: { image.name = "share-b"; image.entryPoint = [ "${pkgs.hello}/bin/hello" ]; image.env.SH = "${pkgs.bash}/bin/bash"; }')
  hello=$(nix-instantiate --eval -I nixpkgs-lib="$NIXPKGS_LIB" -E "(import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }).pkgs.hello.outPath" | tr -d '"')
  layer_table "$a"
  hello_a=$(layer_table "$a" | awk -v p="$hello" '$1 == p { print $2 }')
  hello_b=$(layer_table "$b" | awk -v p="$hello" '$1 == p { print $2 }')
  [ -n "$hello_a" ] || fail "no layer of its own for $hello in share-a"
  assert_eq "$hello_b" "$hello_a" "(digest of hello's layer in both images)"
  # The layer is in the archive under that digest, and nothing else is shared.
  tar -tf "$b" >members
  grep -qx "blobs/sha256/${hello_a#sha256:}" members
  [ "$(archive_config "$a" | jq -r '.rootfs.diff_ids[-1]')" != "$(archive_config "$b" | jq -r '.rootfs.diff_ids[-1]')" ]
}

t_L4_writer_max_layers_caps_layers_with_over_100_store_paths() {
  local module archive n first ref rc
  # 130 store paths that all refer to one common path.
  module='{ pkgs, lib, ... }: let
      common = builtins.toFile "common" "shared by all";
      leaf = i: builtins.toFile "leaf-${toString i}" "leaf ${toString i} uses ${common}";
    in {
      image.name = "many";
      image.contents = map leaf (lib.range 1 130);
      MAXLAYERS
    }'
  archive=$(build_image -E "${module/MAXLAYERS/}")
  n=$(archive_config "$archive" | jq '.rootfs.diff_ids | length')
  assert_eq "$n" 100 "(layers with the default maxLayers)"
  first=$(archive_config "$archive" | jq -r '.history[0].comment')
  [[ $first == */nix/store/*-common ]] || fail "the most popular path is not first: $first"
  # The last store layer takes the rest (the 131 paths and the image's
  # own, less the 98 that have a layer each).
  last=$(archive_config "$archive" | jq -r '.history[-2].comment')
  [ "$(wc -w <<<"$last")" -ge 33 ] || fail "the last store layer has only: $last"
  assert_eq "$(archive_config "$archive" | jq -r '.history[:-1][].comment' | tr ' ' '\n' | grep -c -- '-leaf-')" 130
  ref=$(load_image "$archive")
  # podman starts a container on the 100 layers, and the most popular
  # path is in it: a text file, so it cannot be executed (126; a file
  # missing from the container would be 127).
  rc=0
  "${PODMAN_RUN[@]}" --entrypoint /nix/store/"$(basename "$first")" "$ref" 2>/dev/null || rc=$?
  assert_eq "$rc" 126 "(exit status of running a non-executable file of the image)"
  archive=$(build_image -E "${module/MAXLAYERS/image.maxLayers = 7;}")
  assert_eq "$(archive_config "$archive" | jq '.rootfs.diff_ids | length')" 7 "(layers with maxLayers = 7)"
  archive=$(build_image -E "${module/MAXLAYERS/image.maxLayers = 1;}")
  assert_eq "$(archive_config "$archive" | jq '.rootfs.diff_ids | length')" 1 "(layers with maxLayers = 1)"
  tar -xOf "$archive" "blobs/sha256/$(archive_config "$archive" | jq -r '.rootfs.diff_ids[0]' | cut -d: -f2)" | tar -t >members
  grep -qx 'tmp/' members
  grep -q -- '-leaf-1/$\|-leaf-1$' members
}

# A busybox base image with its own env and cmd.
base_expr() {
  echo "import $ROOT/tests/build.nix { toolsDir = $TOOLS_DIR; module = { pkgs, ... }: {
    image.name = \"base\";
    environment.systemPackages = [ pkgs.busybox ];
    image.env = { BASE = \"from-base\"; SHARED = \"base\"; };
    image.cmd = [ \"sh\" \"-c\" \"echo base cmd: \$SHARED\" ];
    image.run = \"echo base > etc/base-file\";
  }; }"
}

t_L4_writer_from_keeps_the_base_files_and_config_under_ours() {
  local base derived ref out base_layers
  base=$(nbuild -E "$(base_expr)")
  for form in archive oci; do
    sel=""; [ $form = oci ] && sel=".oci"
    derived=$(build_image -E "{ pkgs, ... }: {
      image.name = \"derived-$form\";
      image.from = ($(base_expr))$sel;
      environment.systemPackages = [ pkgs.hello ];
      image.env.SHARED = \"derived\";
    }")
    ref=$(load_image "$derived")
    # No entry point of ours: the base's cmd runs, with our env over its.
    assert_eq "$("${PODMAN_RUN[@]}" "$ref")" "base cmd: derived"
    out=$("${PODMAN_RUN[@]}" "$ref" sh -c 'cat /etc/base-file; echo $BASE $SHARED; hello')
    echo "$out"
    assert_eq "$out" "base
from-base derived
Hello, world!"
    # The base's layers come first, unchanged.
    base_layers=$(archive_config "$base" | jq -c .rootfs.diff_ids)
    assert_eq "$(archive_config "$derived" | jq -c ".rootfs.diff_ids[:$(jq length <<<"$base_layers")]")" "$base_layers"
  done
}

t_L4_writer_run_output_lands_in_the_image_with_the_given_owners() {
  local archive ref out
  archive=$(build_image -E '{ pkgs, ... }: {
    image.name = "run";
    environment.systemPackages = [ pkgs.busybox ];
    image.run = '"''"'
      mkdir -p var/lib/app/sub srv
      echo data > var/lib/app/sub/file
      chmod 600 var/lib/app/sub/file
      ln var/lib/app/sub/file var/lib/app/hard
      touch srv/mine
      test -d tmp && test -L bin/sh
      echo "$PWD" > srv/pwd-was
    '"''"';
    image.runOwners."/var/lib/app" = { user = 1000; group = 1001; recursive = true; };
    image.runOwners."/srv/mine" = { group = 7; mode = "4755"; };
  }')
  ref=$(load_image "$archive")
  out=$("${PODMAN_RUN[@]}" "$ref" sh -c '
    stat -c "%n %u:%g %a %h" /var/lib/app /var/lib/app/sub/file /var/lib/app/hard /srv/mine /tmp /srv
    cat /var/lib/app/sub/file')
  echo "$out"
  assert_contains "$out" "/var/lib/app 1000:1001 755 "
  assert_contains "$out" "/var/lib/app/sub/file 1000:1001 600 2"
  assert_contains "$out" "/var/lib/app/hard 1000:1001 600 2"
  assert_contains "$out" "/srv/mine 0:7 4755 1"
  assert_contains "$out" "/tmp 0:0 1777 "
  assert_contains "$out" "/srv 0:0 755 "
  assert_contains "$out" "data"
}

t_L3_writer_a_missing_store_path_is_an_error_naming_the_option() {
  expect_build_error '{ image.name = "x"; image.entryPoint = [ "/nix/store/00000000000000000000000000000000-missing/bin/x" ]; }' \
    'image\.entryPoint\.0: /nix/store/0+-missing is not in the Nix store'
}

t_L3_writer_a_store_path_outside_the_closure_is_an_error_naming_the_option() {
  expect_build_error '{ image.name = "x"; image.env.TOOL = builtins.unsafeDiscardStringContext (builtins.toFile "tool" "x"); }' \
    'image\.env\.TOOL: /nix/store/[a-z0-9]+-tool is named without string context'
}

t_L4_writer_a_failing_run_fails_the_build_and_leaves_no_image() {
  local module out drv
  module='{ image.name = "x"; image.run = "echo about to fail >&2; false"; }'
  out=$(expect_build_error "$module" 'image\.run: the commands failed with exit status 1')
  assert_contains "$out" "about to fail"
  drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" --arg module "$module" 2>/dev/null)
  [ ! -e "$(nix-store -q --outputs "$drv")" ] || fail "an image was left behind"
  expect_build_error '{ image.name = "x"; image.run = "mkdir -p a"; image.runOwners."/b".user = 1; }' \
    'image\.runOwners\."/b": no such path in the image root after image\.run'
  expect_build_error '{ image.name = "x"; image.run = "mkdir -p a"; image.runOwners."/a".user = "nobody-here"; }' \
    "image\.runOwners\.\"/a\"\.user: user 'nobody-here' is not defined \(add users\.users\.nobody-here\)"
}

t_L4_writer_a_bad_base_image_is_an_error_naming_image_from() {
  local base bad
  expect_build_error '{ image.name = "x"; image.from = builtins.toFile "not-an-image" "hello"; }' \
    'image\.from: /nix/store/[a-z0-9]+-not-an-image: not a docker-archive or OCI layout'
  base=$(nbuild -E "$(base_expr)")
  # A truncated copy, and a copy with one byte of a layer changed.
  head -c 20000 "$base" >truncated.tar
  cp "$base" corrupt.tar && chmod u+w corrupt.tar
  offset=$(python3 -c "
import tarfile,sys
t=tarfile.open('corrupt.tar')
m=[x for x in t.getmembers() if x.name.startswith('blobs/') and x.size>100000][0]
print(m.offset_data+50000)")
  printf 'X' | dd of=corrupt.tar bs=1 seek="$offset" conv=notrunc status=none
  for f in truncated corrupt; do
    bad=$(nix-store --add "$f.tar")
    out=$(expect_build_error "{ image.name = \"x\"; image.from = builtins.storePath $bad; }" "image\.from: $bad: ")
    echo "$out" | grep -E 'truncated|does not match' || fail "no reason given for $f: $out"
  done
  expect_build_error "{ image.name = \"x\"; image.maxLayers = 2; image.from = ($(base_expr)); }" \
    'image\.maxLayers: 2 is too few: the base image \(image\.from\) has [0-9]+ layers'
}

t_L1_writer_a_full_disk_is_an_error_naming_the_output_with_nothing_left() {
  # A 64 KiB tmpfs in a private mount namespace is the full disk.
  unshare -Urm true 2>/dev/null || skip "no user and mount namespaces here (unshare -Urm)"
  local p="$PWD/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-big" out
  mkdir -p "$p" full
  head -c 300000 /dev/urandom >"$p/data"
  printf '{"version":1,"name":"full","tag":"t","created":"1970-01-01T00:00:01Z","architecture":"amd64","config":{},"maxLayers":10,"storeRoots":["%s"],"storeDir":"%s"}' "$p" "$PWD/store" >spec.json
  printf '[{"path":"%s","references":[]}]' "$p" >graph.json
  "$TOOLS_DIR/nci-image" plan --spec spec.json --graph graph.json --out plan.json
  out=$(unshare -Urm sh -c '
    mount -t tmpfs -o size=64k tmpfs "$1" || exit 9
    "$2" build --spec spec.json --graph graph.json --out "$1/image.tar"; echo "build exit $?"
    "$2" assemble --plan plan.json --out "$1/image.tar"; echo "assemble exit $?"
    "$2" assemble --plan plan.json --format oci --out "$1/oci"; echo "oci exit $?"
    echo "left: $(ls -A "$1")"' _ "$PWD/full" "$TOOLS_DIR/nci-image" 2>&1)
  echo "$out"
  for step in build assemble oci; do assert_contains "$out" "$step exit 1"; done
  [ "$(grep -c "nci-image: error: $PWD/full/image.tar: cannot write the output: .*No space left on device" <<<"$out")" = 2 ] ||
    fail "the archive's errors do not name it"
  assert_contains "$out" "nci-image: error: $PWD/full/oci: cannot write the output"
  assert_contains "$out" "left: "
  grep -q "^left: $" <<<"$out" || fail "files left on the full disk"
}
