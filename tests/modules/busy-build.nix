# A build that holds one of Nix's build users until `DIR/stop` exists: the
# load under which the nix database test rebuilds the database. It writes
# `DIR/started` once running. Needs `sandbox = false` (the default of
# Debian's Nix), to see DIR.
{
  dir,
  # Makes each run a new derivation, so it builds rather than being found.
  nonce,
}:
derivation {
  name = "busy-build-${nonce}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [
    "-c"
    "PATH=/usr/bin:/bin; touch ${dir}/started; while [ ! -e ${dir}/stop ]; do sleep 0.1; done; echo > $out"
  ];
}
