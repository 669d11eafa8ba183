# Checks that need neither KVM nor a container engine, so that `nix flake
# check` runs them on any builder: an example image's init runs inside
# the build, as a build user, the way the original project's tests ran
# `(makeImage …).init STATE-DIR`; its log and exit code are checked.
# Written with bash and coreutils only: tests/cases/s6.sh builds the same
# checks offline with the stand-in packages.
{ pkgs, dockerImages }:
let
  # Runs the image's init; once its log matches `until` (a bash regex,
  # "" for none) it gets TERM; it must end within 60 s. `expect` is bash
  # run afterwards with $log (the output) and $code (the exit code).
  runInit =
    name:
    {
      image,
      until ? "",
      expect,
    }:
    pkgs.runCommand "check-init-${name}" { UNTIL = until; } ''
      # Made before the init starts: the loop below may read it before
      # the background job's redirection has (seen under load).
      : > log
      ${image.init} "$PWD/s6-state" > log 2>&1 &
      pid=$!
      stopped=0
      for _ in $(seq 600); do
        kill -0 $pid 2>/dev/null || break
        if [ -n "$UNTIL" ] && [[ $(< log) =~ $UNTIL ]]; then
          kill -TERM $pid
          stopped=1
          break
        fi
        sleep 0.1
      done
      if [ $stopped = 0 ] && kill -0 $pid 2>/dev/null; then
        kill -KILL $pid
        echo "check-init-${name}: the init did not end within 60 s" >&2
      fi
      code=0
      wait $pid || code=$?
      log=$(< log)
      echo "$log"
      fail() {
        echo "check-init-${name}: $*" >&2
        exit 1
      }
      ${expect}
      echo ok > $out
    '';
in
{
  # A failing long-run stops the container with its exit code (stage 3).
  init-s6 = runInit "s6" {
    image = dockerImages.s6;
    expect = ''
      [ "$code" = 1 ] || fail "exit code $code, expected 1"
      [[ $log == *stopContainer* ]] || fail "the service did not run"
      [[ $log == *"[init stage 3] exiting with code 1"* ]] || fail "no stage 3"
    '';
  };
  # NixOS-style services through the systemd shim: the oneshots run
  # before the long-runs, `second` after `first`; TERM stops them all and
  # the init exits 0.
  init-example-systemd = runInit "example-systemd" {
    image = dockerImages.example-systemd;
    until = "dependent services 2";
    expect = ''
      [ "$code" = 0 ] || fail "exit code $code, expected 0"
      for line in systemd.services.oneshot "dependent services 1" "dependent services 2"; do
        [[ $log == *"$line"* ]] || fail "missing: $line"
      done
    '';
  };
}
