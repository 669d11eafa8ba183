# The size report of every image (`(lib.makeImage m).layers`, issue 13):
# what each layer holds and weighs, checked against the image's archive.

t_L4_layers_report_names_each_layer_with_the_size_it_has_in_the_archive() {
  local module='{ image.name = "s6"; s6.services.x.script = "echo hi; exit 1"; }'
  local report archive d l want got
  report=$(nbuild "$ROOT/tests/build.nix" --arg module "$module" -A layers)
  archive=$(build_image -E "$module")
  cat "$report/layers.txt"
  d=$(mktemp -d)
  tar -xf "$archive" -C "$d"
  # Sizes in image order, as the archive's layer files have them.
  want=$(for l in $(jq -r '.[0].Layers[]' "$d/manifest.json"); do stat -c %s "$d/$l"; done)
  rm -rf "$d"
  got=$(jq -r '.layers[].size' "$report/layers.json")
  assert_eq "$got" "$want" "(layer sizes)"
  assert_eq "$(jq '[.layers[].size] | add' "$report/layers.json")" "$(jq .total "$report/layers.json")"
  assert_eq "$(jq -r '.layers[-1].name' "$report/layers.json")" customisation
  jq -e '.layers[] | select(.name | test("-bash-static-5.2$"))' "$report/layers.json" >/dev/null ||
    fail "the static shell's layer is not named"
  # The table: a header, a line per layer, the total at 100%.
  assert_eq "$(grep -c '%  /nix/store/' "$report/layers.txt")" "$(jq '[.layers[] | select(.paths != [])] | length' "$report/layers.json")"
  grep -Eq '^ +[0-9,]+\.[0-9]  100\.00%  total$' "$report/layers.txt" || fail "no total line"
  grep -q "^image 's6': $(jq '.layers | length' "$report/layers.json") layers, " "$report/layers.txt" || fail "no header"
}

t_L3_layers_every_example_image_has_a_size_report() {
  local name drv
  local names
  names=$(cd "$ROOT/images" && ls ./*.nix | sed 's|^\./||; s|\.nix$||' | grep -vx default)
  [ -n "$names" ] || fail "no example images"
  for name in $names; do
    drv=$(nix-instantiate -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" \
      --arg module "$ROOT/images/$name.nix" -A layers 2>/dev/null) || fail "images/$name.nix has no layers attribute"
    [[ $drv == *-layers-*.drv ]] || fail "$name: $drv"
  done
}
