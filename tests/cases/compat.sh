# Tests of what a user of the original project relies on (issue 12): its
# lib helpers from every entry point, its test scripts, its renamed NixOS
# options. L3 here is evaluation with nixpkgs-lib and the stand-in package
# set; makeContainerTest's NixOS test itself needs nixpkgs and KVM (L5).

# Evaluates EXPR (strict, JSON) with `h` the hermetic set
# (tests/hermetic: h.nciLib is the lib users get) and `img` the image of
# images/hello.nix.
compat_eval() {
  nix-instantiate --eval --strict --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "
    let
      h = import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; };
      img = h.makeImage $ROOT/images/hello.nix;
    in $1"
}

t_L3_lib_image_hash_and_image_ref_are_the_original_s_from_every_entry_point() {
  local out hash
  out=$(compat_eval 'img.outPath')
  hash=$(basename "${out//\"/}")
  hash=${hash%%-*}
  assert_eq "$(compat_eval 'h.nciLib.imageHash img')" "\"$hash\""
  assert_eq "$(compat_eval 'h.nciLib.imageRef img')" "\"hello:$hash\""
  # The reference the archive carries (image.tag unset).
  assert_eq "$(compat_eval 'img.imageTag')" "\"$hash\""
  # default.nix, overlay.nix and the flake's outputs give the same
  # functions (the flake's and the overlay's with nixpkgs' lib only).
  assert_eq "$(compat_eval "(import $ROOT/default.nix { inherit (h) pkgs tools nixosModules; }).lib.imageRef img")" "\"hello:$hash\""
  assert_eq "$(compat_eval "(import $ROOT/overlay.nix h.pkgs { inherit (h) lib; }).lib.imageRef img")" "\"hello:$hash\""
  assert_eq "$(compat_eval "((import $ROOT/flake.nix).outputs { self = { }; nixpkgs = { inherit (h) lib; outPath = /nonexistent; }; }).lib.imageRef img")" "\"hello:$hash\""
  assert_eq "$(compat_eval "builtins.attrNames (import $ROOT/default.nix { inherit (h) pkgs tools nixosModules; }).lib")" \
    '["containerTestModule","imageHash","imageRef","makeContainerTest","makeImage","makeMultiArchImage"]'
}

t_L3_make_container_test_loads_the_image_and_runs_the_original_perl_script_in_python() {
  # The original's tests/s6-image.nix script, unchanged.
  local script out
  script=$(compat_eval '(h.nciLib.containerTestModule {
    image = img;
    testScript = '"''"'
      $machine->waitForUnit("docker.service");
      $machine->succeed("docker load -i ${img}");
      $machine->succeed("docker run --name container -d ${h.nciLib.imageRef img}");
      $machine->waitUntilSucceeds("docker inspect container | jq -e '"'"'.[].State.Status == \"exited\"'"'"'");
      $machine->succeed("docker logs container | grep -q '"'"'sending all processes the TERM signal'"'"'");
    '"''"';
  }).testScript' 2>err) || fail "$(cat err)"
  assert_contains "$(cat err)" "lib.makeContainerTest: testScript is written for NixOS' old Perl test driver"
  out=$(compat_eval 'img.outPath')
  local ref
  ref=$(compat_eval 'h.nciLib.imageRef img')
  python3 -c 'import json,sys; print(json.loads(sys.argv[1]), end="")' "$script" >script.py
  cat script.py
  # The image is loaded first, then the user's script, in Python.
  cat >expected.py <<PY
machine.wait_for_unit("docker.service")
machine.succeed("docker load -i ${out//\"/}")
machine.wait_for_unit("docker.service");
machine.succeed("docker load -i ${out//\"/}");
machine.succeed("docker run --name container -d ${ref//\"/}");
machine.wait_until_succeeds("docker inspect container | jq -e '.[].State.Status == \"exited\"'");
machine.succeed("docker logs container | grep -q 'sending all processes the TERM signal'");
PY
  diff -u expected.py script.py || fail "unexpected test script"
  python3 -c 'import sys; compile(open(sys.argv[1]).read(), "testScript", "exec")' script.py ||
    fail "the test script is not Python"
  # The image stays a dependency of the script and reachable from the test.
  assert_eq "$(compat_eval '(h.nciLib.containerTestModule { image = img; testScript = "x"; }).passthru.image.outPath')" "$out"
  assert_eq "$(compat_eval 'let m = h.nciLib.containerTestModule { image = img; testScript = "x"; }; in builtins.hasContext m.testScript')" true
  assert_eq "$(compat_eval 'let m = h.nciLib.containerTestModule { image = img; testScript = "x"; }; in [ m.name m.nodes.machine.virtualisation.docker.enable ]')" '["hello",true]'
}

t_L3_make_container_test_keeps_python_scripts_and_script_functions() {
  local out
  out=$(compat_eval '(h.nciLib.containerTestModule { image = img; testScript = "machine.succeed(\"true\")\n"; }).testScript' 2>err)
  [ ! -s err ] || fail "a warning for a Python script: $(cat err)"
  [[ $out == *'\nmachine.succeed(\"true\")\n"' ]] || fail "script changed: $out"
  out=$(compat_eval '(h.nciLib.containerTestModule { image = img; testScript = { nodes, ... }: "print(${nodes})\n"; }).testScript { nodes = "n"; }')
  [[ $out == *'\nprint(n)\n"' ]] || fail "script function not applied: $out"
}

t_L3_make_container_test_without_runnixostest_says_how_to_run_the_checks() {
  local out
  out=$(compat_eval 'h.nciLib.makeContainerTest { image = img; testScript = "x"; }' 2>&1) && fail "evaluated: $out"
  assert_contains "$out" "lib.makeContainerTest: the image's package set (nixpkgs.pkgs) has no testers.runNixOSTest, which runs NixOS tests (nixpkgs 23.05 and later); without nixpkgs or KVM, run the same checks with podman (docs/compatibility.md)."
}

t_L4_image_ref_is_the_reference_podman_load_gives_and_runs_the_original_env_test() {
  # The original's tests/env.nix checks, the no-VM way: podman for docker.
  local m='{ pkgs, ... }: { image = { name = "env"; env.KEY = "value"; }; environment.systemPackages = [ pkgs.busybox ]; }'
  local archive ref want out
  archive=$(build_image -E "$m")
  want=$(nix-instantiate --eval --strict --json -I nixpkgs-lib="$NIXPKGS_LIB" -E "
    let h = import $ROOT/tests/hermetic { toolsDir = $TOOLS_DIR; }; in
    h.nciLib.imageRef (h.makeImage ($m))")
  ref=$(load_image "$archive")
  assert_eq "$ref" "localhost/${want//\"/}"
  out=$("${PODMAN_RUN[@]}" "${want//\"/}" env)
  grep -q '^KEY=value$' <<<"$out" || fail "KEY=value not in: $out"
}

# --- NixOS' renamed and removed options (modules/nixos-renamed.nix) ------

t_L4_original_nix_image_with_use_sandbox_a_channel_file_and_interactive_runs() {
  # The original's images/nix.nix, as written, except that the channel
  # name comes from lib's release: it read "${pkgs.path}/.version", and
  # the stand-in package set has no nixpkgs tree.
  local m='{ pkgs, config, lib, ... }:
    let channel = "nixos-${lib.trivial.release}"; in
    {
      imports = [ ];
      config = {
        image = {
          name = "nix";
          interactive = true;
          run = '"''"'
            chmod u+w root
            echo '"'"'https://nixos.org/channels/${channel} nixpkgs'"'"' > root/.nix-channels
          '"''"';
        };
        nix = {
          enable = true;
          useSandbox = false;
        };
      };
    }'
  local archive ref out release
  archive=$(build_image -E "$m" 2>build.err) || fail "$(cat build.err)"
  assert_contains "$(cat build.err)" "The option \`nix.useSandbox' defined in"
  assert_contains "$(cat build.err)" "has been renamed to \`nix.settings.sandbox'."
  release=$(nix-instantiate --eval --json -E "(import $NIXPKGS_LIB).trivial.release")
  ref=$(load_image "$archive")
  out=$("${PODMAN_RUN[@]}" "$ref" bash -c 'cat /root/.nix-channels /etc/nix/nix.conf; nix --version; nix-channel --list')
  echo "$out"
  assert_contains "$out" "https://nixos.org/channels/nixos-${release//\"/} nixpkgs"
  grep -qx 'sandbox = false' <<<"$out" || fail "sandbox is not false"
  assert_contains "$out" "nix (Nix) "
  assert_contains "$out" "nixpkgs https://nixos.org/channels/nixos-${release//\"/}"
}

t_L3_renamed_nix_options_alias_nix_settings_with_nixos_warnings() {
  local m='{ image.name = "x"; nix = { enable = true; useSandbox = false; maxJobs = 4; binaryCaches = [ "https://c.example" ]; trustedUsers = [ "root" ]; sandboxPaths = [ "/bin/sh" ]; }; }'
  assert_eq "$(eval_image "$m" config.nix.settings)" \
    '{"build-users-group":"","extra-sandbox-paths":["/bin/sh"],"max-jobs":4,"sandbox":false,"substituters":["https://c.example"],"trusted-users":["root"]}'
  local w
  w=$(eval_image "$m" config.warnings)
  for pair in useSandbox:sandbox maxJobs:max-jobs binaryCaches:substituters trustedUsers:trusted-users sandboxPaths:extra-sandbox-paths; do
    assert_contains "$w" "The option \`nix.${pair%%:*}' defined in \`<unknown-file>' has been renamed to \`nix.settings.${pair#*:}'."
  done
  # nix.useChroot, renamed to nix.useSandbox in 20.03, follows both renames.
  assert_eq "$(eval_image '{ image.name = "x"; nix.useChroot = false; }' config.nix.settings.sandbox)" false
  assert_contains "$(eval_image '{ image.name = "x"; nix.useChroot = false; }' config.warnings)" \
    "The option \`nix.useChroot' defined in \`<unknown-file>' has been renamed to \`nix.useSandbox'."
}

t_L3_removed_nixos_options_fail_with_nixos_messages() {
  local out
  out=$(expect_build_error '{ image.name = "x"; nix.daemonNiceLevel = 5; networking.hostConf = "multi on"; networking.wicd.enable = true; environment.blcr.enable = true; security.hideProcessInformation = true; systemd.extraConfig = "x"; systemd.enableUnifiedCgroupHierarchy = false; }' "Failed assertions:")
  assert_contains "$out" "- The option definition \`nix.daemonNiceLevel' in \`<unknown-file>' no longer has any effect; please remove it.
       Consider nix.daemonCPUSchedPolicy instead."
  assert_contains "$out" "- The option definition \`networking.hostConf' in \`<unknown-file>' no longer has any effect; please remove it.
       Use environment.etc.\"host.conf\" instead."
  assert_contains "$out" "- The option definition \`networking.wicd' in \`<unknown-file>' no longer has any effect; please remove it.
       The corresponding package was removed from nixpkgs."
  assert_contains "$out" "- The option definition \`environment.blcr.enable' in \`<unknown-file>' no longer has any effect; please remove it.
       The BLCR module has been removed"
  assert_contains "$out" "- The option definition \`security.hideProcessInformation' in \`<unknown-file>' no longer has any effect; please remove it.
       The hidepid module was removed, since the underlying machinery"
  assert_contains "$out" "- The option definition \`systemd.extraConfig' in \`<unknown-file>' no longer has any effect; please remove it.
       Use systemd.settings.Manager instead."
  assert_contains "$out" "- The option definition \`systemd.enableUnifiedCgroupHierarchy' in \`<unknown-file>' no longer has any effect; please remove it.
       In 256 support for cgroup v1"
}

t_L3_renamed_users_system_and_systemd_options_alias_with_nixos_warnings() {
  local m='{ image.name = "x"; security.initialRootPassword = "!"; system.nssHosts = [ "dns" ];
    boot.systemd.services.a.script = "x"; jobs.b.script = "y";
    users.users.app = { isSystemUser = true; group = "app"; passwordFile = "/nix/store/00000000000000000000000000000000-hash"; };
    users.groups.app = { }; }'
  assert_eq "$(eval_image "$m" config.users.users.root.initialHashedPassword)" '"!"'
  assert_eq "$(eval_image "$m" config.users.users.app.hashedPasswordFile)" '"/nix/store/00000000000000000000000000000000-hash"'
  eval_image "$m" config.system.nssDatabases.hosts | grep -q '"dns"' || fail "system.nssHosts did not reach system.nssDatabases.hosts"
  assert_eq "$(eval_image "$m" 'config.systemd.services.a.script')" '"x"'
  assert_eq "$(eval_image "$m" 'config.systemd.services.b.script')" '"y"'
  local w
  w=$(eval_image "$m" config.warnings)
  assert_contains "$w" "The option \`security.initialRootPassword' defined in \`<unknown-file>' has been renamed to \`users.users.root.initialHashedPassword'."
  assert_contains "$w" "The option \`system.nssHosts' defined in \`<unknown-file>' has been renamed to \`system.nssDatabases.hosts'."
  assert_contains "$w" "The option \`boot.systemd.services' defined in \`<unknown-file>' has been renamed to \`systemd.services'."
  assert_contains "$w" "The option \`jobs' defined in \`<unknown-file>' has been renamed to \`systemd.services'."
  assert_contains "$w" "The option \`users.users.\\\"app\\\".passwordFile' has been renamed to \`users.users.\\\"app\\\".hashedPasswordFile'."
  # environment.checkConfigurationOptions is _module.check, as in NixOS.
  assert_eq "$(eval_image '{ image.name = "x"; environment.checkConfigurationOptions = false; no.such.option = 1; }' config.image.name)" '"x"'
}

t_L3_renamed_nix_daemon_store_and_watchdog_options_reach_declared_targets_with_nixos_warnings() {
  # NixOS' renames into options an image does not apply (the Nix daemon's
  # scheduling, a read-only store, systemd's manager watchdog): declared,
  # so a configuration written for NixOS evaluates; the manager's
  # settings warn, as they are not applied.
  local m='{ image.name = "x"; nix.daemonIONiceLevel = 7; nix.readOnlyStore = false; systemd.watchdog.runtimeTime = "30s"; systemd.watchdog.device = "/dev/watchdog"; }'
  assert_eq "$(eval_image "$m" config.nix.daemonIOSchedPriority)" 7
  assert_eq "$(eval_image "$m" config.boot.readOnlyNixStore)" false
  assert_eq "$(eval_image "$m" config.systemd.settings.Manager.RuntimeWatchdogSec)" '"30s"'
  local w
  w=$(eval_image "$m" config.warnings | jq -r '.[]' | LC_ALL=C sort)
  echo "$w"
  assert_eq "$w" "The option \`nix.daemonIONiceLevel' defined in \`<unknown-file>' has been renamed to \`nix.daemonIOSchedPriority'.
The option \`nix.readOnlyStore' defined in \`<unknown-file>' has been renamed to \`boot.readOnlyNixStore'.
The option \`systemd.watchdog.device' defined in \`<unknown-file>' has been renamed to \`systemd.settings.Manager.WatchdogDevice'.
The option \`systemd.watchdog.runtimeTime' defined in \`<unknown-file>' has been renamed to \`systemd.settings.Manager.RuntimeWatchdogSec'.
systemd.settings.Manager.RuntimeWatchdogSec is ignored: an image has no systemd manager (its settings are not applied; set a service's own in systemd.services.<name>.serviceConfig).
systemd.settings.Manager.WatchdogDevice is ignored: an image has no systemd manager (its settings are not applied; set a service's own in systemd.services.<name>.serviceConfig)."
  # Unset, they say nothing.
  assert_eq "$(eval_image '{ image.name = "x"; }' config.warnings)" "[]"
}

# --- the pinned nixpkgs ----------------------------------------------------

t_L3_flake_lock_pins_nixos_26_05_and_nix_reads_it_offline_without_rewriting_it() {
  # The flake's input is locked to nixos-26.05 (rev and narHash of two
  # public pins; no lastModified, which Nix 2.8 does not need). Fetching it
  # needs the internet (L5, t_L5_flake_outputs_evaluate_with_the_pinned_nixpkgs).
  local json before
  before=$(sha256sum "$ROOT/flake.lock")
  json=$(cd "$ROOT" && nix --extra-experimental-features 'nix-command flakes' flake metadata --offline --json . 2>/dev/null)
  python3 - "$json" <<'PY' || fail "unexpected lock: $json"
import json, sys
n = json.loads(sys.argv[1])["locks"]["nodes"]["nixpkgs"]
assert n["original"] == {"owner": "NixOS", "ref": "nixos-26.05", "repo": "nixpkgs", "type": "github"}, n
assert n["locked"] == {"narHash": "sha256-K5sT4jTpGs15ADhviMKNBH38REpPf5Q6mM1+N6cArVE=", "owner": "NixOS",
                       "repo": "nixpkgs", "rev": "b51242d7d43689db2f3be91bd05d5b24fbb469c4", "type": "github"}, n
PY
  assert_eq "$(sha256sum "$ROOT/flake.lock")" "$before"
}
