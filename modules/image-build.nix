# Turns the `image` options into the image spec (contract version 1, see
# docs/spec.md) and the derivation whose builder is `nci-image`.
{
  config,
  lib,
  pkgs,
  nciTools,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.image;
  storeDir = builtins.storeDir;

  # The OCI architecture of the Nix system the image is built for.
  architectures = {
    x86_64-linux = "amd64";
    aarch64-linux = "arm64";
    i686-linux = "386";
    armv7l-linux = "arm";
    riscv64-linux = "riscv64";
    powerpc64le-linux = "ppc64le";
    s390x-linux = "s390x";
  };
  system = pkgs.stdenv.hostPlatform.system;

  nullIfEmpty = v: if v == [ ] || v == "" then null else v;

  containerConfig = {
    Entrypoint = nullIfEmpty cfg.entryPoint;
    Cmd = nullIfEmpty cfg.cmd;
    # attrNames is sorted: the same env always renders the same list.
    Env = lib.mapAttrsToList (n: v: "${n}=${toString v}") cfg.env;
    WorkingDir = cfg.workingDir;
    User = cfg.user;
    ExposedPorts = cfg.exposedPorts;
    Volumes = cfg.volumes;
    Labels = cfg.labels;
    StopSignal = cfg.stopSignal;
  };

  interactivePackages = lib.optionals cfg.interactive [
    pkgs.bashInteractive
    pkgs.coreutils
  ];
  profile = map toString (lib.unique (config.environment.systemPackages ++ interactivePackages));
  # bashInteractive provides bin/sh, linked into /bin with the profile.
  symlinks =
    lib.optionalAttrs cfg.interactive {
      "/usr/bin/env" = "${pkgs.coreutils}/bin/env";
    }
    // cfg.symlinks;

  # Every store path a string mentions, each carrying the string's
  # context, so that `exportReferencesGraph` gets store paths (not paths
  # inside them) and Nix still knows what to build first.
  storePathsIn =
    s:
    let
      found = builtins.filter builtins.isList (
        builtins.split "(${storeDir}/[a-z0-9]{32}-[-a-zA-Z0-9+._?=]+)" s
      );
    in
    map (m: lib.addContextFrom s (builtins.head m)) found;

  storeRoots = lib.unique (
    storePathsIn (builtins.toJSON [
      containerConfig
      profile
      symlinks
      (map toString cfg.contents)
    ])
  );

  spec = {
    version = 1;
    inherit (cfg) name tag created;
    architecture =
      architectures.${system} or (throw "image: the system ${system} has no known OCI architecture");
    config = lib.filterAttrs (_: v: v != null && v != [ ] && v != { }) containerConfig;
    maxLayers = cfg.maxLayers;
    inherit storeRoots profile symlinks;
    rootTrees = map toString cfg.rootTrees;
  };
in
{
  options.system.build = mkOption {
    type = types.lazyAttrsOf types.unspecified;
    default = { };
    internal = true;
    description = "Derivations the modules build; `image` is the image archive.";
  };

  # The store paths the image's closure is computed from (the `nix`
  # module registers that closure in the image's Nix database).
  config.system.build.storeRoots = storeRoots;

  config.system.build.image = derivation {
    name = "docker-image-${builtins.replaceStrings [ "/" ":" ] [ "-" "-" ] cfg.name}.tar";
    inherit system;
    builder = nciTools.image;
    args = [ "nix-builder" ];
    __structuredAttrs = true;
    inherit spec;
    exportReferencesGraph = {
      storeGraph = storeRoots;
      treeGraph = cfg.rootTrees;
    };
  };
}
