# Helpers for the shell tests in tests/cases/*.sh (sourced by tests/run).
# A test is a function named t_L<level>_<words>; it passes when it returns
# 0. Set -e is on inside each test; `fail` explains a failure.

NIXPKGS_LIB=${NIXPKGS_LIB:-/opt/nixpkgs-lib/lib}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# No binary cache is reachable here: don't let Nix wait for one.
export NIX_CONFIG="substituters =
${NIX_CONFIG:-}"
# NixOS' own service modules (byte-exact copies), for the stand-in set.
NCI_NIXPKGS_MODULES=$("$ROOT/tests/find-nixos-modules")
export NCI_NIXPKGS_MODULES
PODMAN_RUN=(podman run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

fail() {
  echo "FAILED: $*" >&2
  return 1
}

# nix-build with nixpkgs-lib and the cargo-built tools; prints the path.
nbuild() {
  nix-build --no-out-link -I nixpkgs-lib="$NIXPKGS_LIB" \
    --arg toolsDir "$TOOLS_DIR" "$@"
}

# Builds the image of a module file (or a Nix expression given with -E)
# with the hermetic package set; prints the archive path.
build_image() {
  if [ "$1" = -E ]; then
    nbuild "$ROOT/tests/build.nix" --arg module "$2"
  else
    nbuild "$ROOT/tests/build.nix" --arg module "$(realpath "$1")"
  fi
}

# Evaluates an attribute of the image of a module expression.
eval_image() {
  # Read-write: a module may read files of packages it builds (import from
  # derivation, e.g. systemd.packages), which writes their derivations.
  nix-instantiate --read-write-mode --eval --strict --json -I nixpkgs-lib="$NIXPKGS_LIB" \
    --arg toolsDir "$TOOLS_DIR" "$ROOT/tests/build.nix" --arg module "$1" -A "$2"
}

# Expects evaluating/building the module expression to fail with a
# message matching the extended regex; prints the message.
expect_build_error() {
  local out
  if out=$(build_image -E "$1" 2>&1); then
    fail "build of $1 succeeded, expected an error matching: $2"
  fi
  echo "$out"
  grep -Eq -- "$2" <<<"$out" || fail "error did not match /$2/: $out"
}

# Loads an archive into podman; prints the image reference.
load_image() {
  podman load -q -i "$1" | sed -n 's/^Loaded image: //p' | tail -n 1
}

# Ends the test as skipped (exit 77), with the reason shown by tests/run.
skip() {
  echo "$*"
  exit 77
}

# Ends the test as skipped unless NixOS' own service modules are at hand.
need_nixos_modules() {
  [ -n "$NCI_NIXPKGS_MODULES" ] ||
    skip "NixOS' service modules not found (../shared/nixpkgs-modules beside the project, or NCI_NIXPKGS_MODULES)"
}

# Ends the test as skipped unless the static s6 stand-in (pkgsStatic.s6,
# built by tests/hermetic/skaware-static from tests/setup) is built,
# saying why it is not.
need_static_s6() {
  local dir
  dir=$("$ROOT/tests/hermetic/skaware-static" --dir)
  [ -x "$dir/s6/bin/s6-svscan" ] ||
    skip "the static s6 stand-in is not built: $(cat "$dir.why" 2>/dev/null || echo "tests/hermetic/skaware-static has not run")"
}

assert_eq() {
  [ "$1" = "$2" ] || fail "expected '$2', got '$1' ${3:-}"
}

# http_get URL: the body of URL once it answers (a server in a
# container just started), polled for up to 10 s; empty if it never does.
http_get() {
  local out=""
  for _ in $(seq 50); do
    out=$(curl -sf "$1") && break
    sleep 0.2
  done
  printf '%s' "$out"
}

assert_contains() {
  grep -Fq -- "$2" <<<"$1" || fail "expected output to contain '$2', got: $1"
}

# Stops container $1 with podman's 10 s timeout and checks that what ended
# it was the container itself, not podman's KILL at the timeout: its exit
# code is $2 (podman's KILL would give 137) and the stop came before the
# timeout. Prints the time taken. No tighter time bound: under load (2
# cores, CI beside other builds) a prompt stop has been seen to take 2.6 s,
# and the exit code already tells a prompt stop from podman's KILL.
stop_ended_by_the_container() {
  local t0 ms code
  t0=$(date +%s%N)
  podman stop -t 10 "$1" >/dev/null
  ms=$((($(date +%s%N) - t0) / 1000000))
  code=$(podman inspect -f '{{.State.ExitCode}}' "$1")
  echo "podman stop took $ms ms, exit code $code"
  assert_eq "$code" "$2" "(exit code after podman stop)"
  [ "$ms" -lt 10000 ] || fail "podman stop took $ms ms: podman's timeout ended the container"
  STOP_MS=$ms
}

# The store paths a docker-archive's layers carry, one a line, sorted.
image_store_paths() {
  local d l
  d=$(mktemp -d)
  tar -xf "$1" -C "$d"
  for l in $(jq -r '.[0].Layers[]' "$d/manifest.json"); do tar -tf "$d/$l"; done |
    sed -nE 's|^(\./)?nix/store/([^/]+).*|/nix/store/\2|p' | sort -u
  rm -rf "$d"
}
