# The stand-ins for nixpkgs' pkgsStatic.s6 and pkgsStatic.execline:
# the upstream sources of skalibs, execline and s6 (Ubuntu noble's orig
# tarballs: Debian's mirror here lacks execline's and s6's) built static
# against musl by ./skaware-static (tests/setup runs it), cached outside the
# repository. Named as nixpkgs names its static builds
# (`s6-static-x86_64-unknown-linux-musl-2.12.0.3`). Each is one store path
# of programs and nothing else: no C library, no shared skalibs.
# `built` is false where they are not (no musl-tools, the sources not to
# be had, another system): the stand-in set then keeps Debian's dynamic
# s6, and the tests that need the static one are skipped, saying why.
{
  lib,
  system,
  # tests/hermetic's stand-in builder.
  standin,
  # Where ./skaware-static caches its builds; null: $NCI_SKAWARE_CACHE,
  # else /var/cache/nix-container-images, as the script.
  cache ? null,
}:
let
  spec = lib.importJSON ./skaware-static.json;
  version = name: (lib.findFirst (p: p.name == name) (throw "skaware-static.json: no ${name}") spec.packages).version;
  arch = lib.head (lib.splitString "-" system);
  # The script's directory: the machine and a hash of the script and the spec.
  key = builtins.substring 0 16 (builtins.hashString "sha256" (builtins.readFile ./skaware-static + builtins.readFile ./skaware-static.json));
  root =
    if cache != null then
      cache
    else if builtins.getEnv "NCI_SKAWARE_CACHE" != "" then
      builtins.getEnv "NCI_SKAWARE_CACHE"
    else
      "/var/cache/nix-container-images";
  dir = "${root}/skaware-static-${arch}-${key}";
  programs = sub: map (p: "${dir}/${sub}/bin/${p}") (lib.attrNames (builtins.readDir "${dir}/${sub}/bin"));
  static = name: "${name}-static-${arch}-unknown-linux-musl-${version name}";
  built = builtins.pathExists "${dir}/s6/bin/s6-svscan";
in
{
  # Where ./skaware-static builds (`skaware-static --dir`), built or not.
  inherit dir built;
}
// lib.optionalAttrs built {
  # The compiled-in /usr/bin/ (s6's helper programs) becomes a PATH
  # look-up, as for Debian's s6 (./skaware-static says why).
  s6 = standin (static "s6") {
    binaries = programs "s6";
    binPrefix = "/usr/bin/";
  };
  execline = standin (static "execline") { binaries = programs "execline"; };
}
