# Every example of README.md and docs/ is a test (issue 17): modules are
# files of docs/examples/ that the guides quote (docs/examples/quote keeps
# the quotes equal to the files), built and run here; console blocks
# marked `<!-- run -->` are run as written.

# Runs the `<!-- run -->` console blocks of a markdown file as written:
# each `$` command (with its `\` continuation lines) in one bash, from a
# scratch directory that has the repository's files (links to them)
# (and `result`, the image of MODULE, for `<!-- run: result=MODULE -->`);
# its output (stdout and stderr) must be the lines that follow it, `…`
# matching any text (lines included).
run_console_blocks() {
  local md=$1 n=0 dir block
  block=$(mktemp)
  # This host's podman needs these (docs/running.md, "On this machine").
  cat >containers.conf <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF=$PWD/containers.conf
  while IFS= read -r -d $'\0' spec; do
    n=$((n + 1))
    dir=$(mktemp -d "$PWD/console-XXXX")
    ln -s "$ROOT"/* "$dir/"
    local marker=${spec%%$'\n'*}
    if [[ $marker == run:\ result=* ]]; then
      ln -s "$(build_image "$ROOT/${marker#run: result=}")" "$dir/result"
    fi
    printf '%s\n' "${spec#*$'\n'}" >"$block"
    run_console_block "$md" "$dir" "$block"
  done < <(awk '
      /^<!-- run(: result=[^ ]+)? -->$/ { marker = substr($0, 6, length($0) - 9); want = 1; next }
      want && /^```console/ { printf "%s\n", marker; inb = 1; want = 0; next }
      inb && /^```/ { printf "%c", 0; inb = 0; next }
      inb { print; next }
      { want = 0 }
    ' "$ROOT/$md")
  rm -f "$block"
  echo "$md: $n console block(s) run"
}

# The expected text as a glob: `…` in a line is `*`, a line that is only
# `…` is any number of lines (none included), the rest is literal.
expected_glob() {
  local line esc pattern=""
  while IFS= read -r line; do
    if [ "$line" = "…" ]; then
      pattern+="*"
      continue
    fi
    esc=$(sed -e 's/[][\\*?]/\\&/g' -e 's/…/*/g' <<<"$line")
    if [ -n "$pattern" ] && [ "$pattern" != "*" ]; then
      pattern+=$'\n'
    fi
    pattern+=$esc
  done <<<"$1"
  printf '%s' "$pattern"
}

# One block: commands and the output expected of each.
run_console_block() {
  local md=$1 dir=$2 file=$3 cmd="" expected="" line out pattern
  local -a cmds=() outs=()
  while IFS= read -r line; do
    if [[ $line == '$ '* ]]; then
      [ -z "$cmd" ] || { cmds+=("$cmd"); outs+=("$expected"); }
      cmd=${line#\$ } expected=""
    elif [[ $cmd == *\\ && -z $expected ]]; then
      cmd=$cmd$'\n'$line
    else
      expected=${expected:+$expected$'\n'}$line
    fi
  done <"$file"
  [ -z "$cmd" ] || { cmds+=("$cmd"); outs+=("$expected"); }
  local i
  for i in "${!cmds[@]}"; do
    echo "\$ ${cmds[$i]}"
    out=$(cd "$dir" && bash -c "${cmds[$i]}" 2>&1) || fail "$md: '${cmds[$i]}' failed: $out"
    echo "$out"
    pattern=$(expected_glob "${outs[$i]}")
    # shellcheck disable=SC2053
    [[ $out == $pattern ]] || fail "$md: '${cmds[$i]}' printed:
$out
expected (… matching anything):
${outs[$i]}"
  done
}

t_L1_docs_quote_their_examples_and_say_how_each_is_tested() {
  "$ROOT/docs/examples/quote" --check
}

t_L1_docs_quote_finds_a_stale_and_an_unmarked_block() {
  # The check itself, on a copy: a quote that differs, a nix block without
  # its file, a console block that says nothing.
  mkdir -p copy/docs/examples
  cp "$ROOT/docs/examples/quote" "$ROOT/docs/examples/quote.awk" copy/docs/examples/
  echo '{ image.name = "x"; }' >copy/docs/examples/x.nix
  printf '# t\n' >copy/README.md
  printf '<!-- example: docs/examples/x.nix -->\n```nix\n{ image.name = "y"; }\n```\n\n```nix\n{ }\n```\n\n```console\n$ true\n```\n' >copy/docs/a.md
  local out code=0
  out=$(copy/docs/examples/quote --check 2>&1) || code=$?
  echo "$out"
  assert_eq "$code" 1
  assert_contains "$out" "docs/a.md:6: a \`\`\`nix block must be quoted from a file the suite runs: put <!-- example: docs/examples/NAME.nix --> on the line before it"
  assert_contains "$out" "docs/a.md:10: a \`\`\`console block must say how it is tested: <!-- run -->, <!-- run: result=MODULE -->, <!-- online --> or <!-- not run: REASON --> on the line before it"
  assert_contains "$out" "docs/a.md: a quoted example differs from its file (run docs/examples/quote):"
  assert_contains "$out" '+{ image.name = "x"; }'
  # Without --check it rewrites the quote from the file.
  copy/docs/examples/quote 2>/dev/null || true
  grep -qx '{ image.name = "x"; }' copy/docs/a.md || fail "the quote was not refreshed"
}

t_L4_docs_console_blocks_marked_run_print_what_they_show() {
  local md n=0
  # What the blocks start is removed, even when one fails (the run's own
  # storage: only this test's containers are new).
  podman ps -aq >containers-before
  trap "podman ps -aq | grep -vxF -f '$PWD/containers-before' | xargs -r podman rm -f -t 0 >/dev/null || true" EXIT
  for md in README.md $(cd "$ROOT" && echo docs/*.md); do
    [ "$md" = docs/options.md ] && continue
    grep -q '^<!-- run' "$ROOT/$md" || continue
    run_console_blocks "$md"
    n=$((n + 1))
  done
  [ "$n" -ge 5 ] || fail "only $n files with console blocks to run"
}

t_L4_docs_readme_flake_builds_an_image_that_says_hello() {
  # The README's flake, its outputs given this repository as `nci` (the
  # same makeImage, fed the stand-in packages).
  local archive ref
  archive=$(nbuild -E "
    let nci = { lib.makeImage = (import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }).makeImage; };
    in ((import $ROOT/docs/examples/flake.nix).outputs { inherit nci; }).packages.x86_64-linux.hello")
  ref=$(load_image "$archive")
  assert_eq "$("${PODMAN_RUN[@]}" "$ref")" "Hello, world!"
}

t_L4_docs_getting_started_web_serves_its_page() {
  local ref name=nci-docs-web-$$ page
  ref=$(load_image "$(build_image "$ROOT/docs/examples/web.nix")")
  assert_eq "$ref" "localhost/web:1.0"
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  "${PODMAN_RUN[@]}" -d --name "$name" -p 127.0.0.1:18482:8080 "$ref" >/dev/null
  for _ in $(seq 100); do
    page=$(curl -fsS http://127.0.0.1:18482/ 2>/dev/null) && break
    sleep 0.1
  done
  assert_eq "$page" "hello from busybox httpd"
}

t_L4_docs_s6_example_serves_its_page_after_the_oneshots() {
  # Three runs: the oneshot-post must not race nginx (issue 17).
  local ref name=nci-docs-s6-web-$$ page log run
  ref=$(load_image "$(build_image "$ROOT/docs/examples/s6-web.nix")")
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  for run in 1 2 3; do
    # Not --rm: the exit code is read after the stop.
    podman run -d --name "$name" --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
      -p 127.0.0.1:18483:80 "$ref" >/dev/null
    for _ in $(seq 100); do
      log=$(podman logs "$name" 2>&1)
      grep -q "oneshot-post service 'warm-up'" <<<"$log" && grep -q "warm-up' \(succeeded\|failed\)" <<<"$log" && break
      sleep 0.1
    done
    echo "$log"
    assert_contains "$log" "[init stage 1] oneshot-pre service 'site' succeeded"
    assert_contains "$log" "[init stage 2] oneshot-post service 'warm-up' succeeded"
    page=$(curl -fsS http://127.0.0.1:18483/)
    assert_eq "$page" "hello from nginx under s6"
    podman stop -t 10 "$name" >/dev/null
    assert_eq "$(podman inspect "$name" --format '{{.State.ExitCode}}')" 0 "(run $run)"
    podman rm -f -t 0 "$name" >/dev/null
  done
}

t_L4_docs_s6_programs_example_adds_programs_the_services_use() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/docs/examples/s6-programs.nix")")
  out=$(timeout 60 "${PODMAN_RUN[@]}" "$ref" 2>&1)
  echo "$out"
  grep -qx nobody <<<"$out" || fail "s6-setuidgid did not run the script's command as nobody"
}

t_L4_docs_systemd_example_serves_plop() {
  local ref name=nci-docs-systemd-$$ page
  ref=$(load_image "$(build_image "$ROOT/docs/examples/systemd-nginx.nix")")
  trap "podman rm -f -t 0 '$name' >/dev/null 2>&1 || true" EXIT
  "${PODMAN_RUN[@]}" -d --name "$name" -p 127.0.0.1:18484:80 "$ref" >/dev/null
  for _ in $(seq 100); do
    page=$(curl -fsS http://127.0.0.1:18484/plop 2>/dev/null) && break
    sleep 0.1
  done
  assert_eq "$page" "plop"
}

t_L4_docs_users_example_runs_as_alice_with_the_secret_owned_by_app() {
  local ref out
  ref=$(load_image "$(build_image "$ROOT/docs/examples/users.nix")")
  out=$("${PODMAN_RUN[@]}" "$ref" id)
  [[ $out =~ ^uid=[0-9]+\(alice\)\ gid=100\(users\)\ groups=100\(users\),1\(wheel\)$ ]] || fail "id: $out"
  out=$("${PODMAN_RUN[@]}" "$ref" stat -c '%U %G %a' /etc/app/secret.conf /home/alice)
  # environment.etc's group defaults to root's, as in NixOS.
  assert_eq "$out" $'app root 600\nalice users 700'
  out=$("${PODMAN_RUN[@]}" "$ref" /etc/profiles/per-user/alice/bin/hello)
  assert_eq "$out" "Hello, world!"
}

t_L4_docs_flake_with_follows_builds_the_web_image_and_asks_for_aarch64() {
  local h out ref
  h="let nci = { lib.makeImage = (import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }).makeImage; };
    in ((import $ROOT/docs/examples/flake-follows.nix).outputs { inherit nci; }).packages"
  ref=$(load_image "$(nbuild -E "($h).x86_64-linux.web")")
  assert_eq "$ref" "localhost/web:1.0"
  out=$(nix-instantiate --eval -I nixpkgs-lib="$NIXPKGS_LIB" -E "($h).aarch64-linux.web.config.nixpkgs.system")
  assert_eq "$out" '"aarch64-linux"'
}

t_L3_docs_systemd_default_path_lists_what_systemd_shim_default_path_has() {
  # docs/systemd.md names the packages of the option's default (its
  # defaultText, what users get with nixpkgs), in order.
  local listed documented
  listed=$(nix-instantiate --eval --strict --json -I nixpkgs-lib="$NIXPKGS_LIB" --arg toolsDir "$TOOLS_DIR" \
    "$ROOT/tests/build.nix" --arg module '{ image.name = "x"; }' -A options.systemd.shim.defaultPath.defaultText.text |
    jq -r . | grep -o 'pkgs\.[A-Za-z0-9_-]*' | sed 's/^pkgs\.//' | paste -sd, | sed 's/,/, /g')
  [ -n "$listed" ] || fail "no packages in systemd.shim.defaultPath's defaultText"
  documented=$(grep -o "NixOS' default path: [^;)]*" "$ROOT/docs/systemd.md")
  assert_eq "$documented" "NixOS' default path: $listed"
}
