# Turns the `image` options into the image spec (contract version 1, see
# docs/spec.md) and the derivations that write the image, all with
# `nci-image` as builder (docs/image-writer.md):
#
#   base (image.from) ─┬──────────────────────────────▶ image (docker-archive, one pass)
#   run (image.run) ───┼──────────────────────────────▶ stream (executable, hashes as it writes)
#   layer (one per  ───┴─▶ plan ─┬─▶ oci (OCI layout)
#   named store path)            └─▶ layers, copyToRegistry, copyToPodman
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

  # The OCI architecture of the Nix system the image is for (its
  # packages' host platform); the image is written on the build platform
  # by our tools (the same system, unless `nixpkgs.pkgs` is a cross set).
  architectures = import ../nix/architectures.nix;
  hostSystem = pkgs.stdenv.hostPlatform.system;
  system = pkgs.stdenv.buildPlatform.system;

  nullIfEmpty = v: if v == [ ] || v == "" then null else v;

  # `image.pid1`: a plain image's program runs under `nci-init pid1`;
  # the s6 init is a PID 1 already.
  ownInit =
    config.s6.init != null && cfg.entryPoint != [ ] && builtins.head cfg.entryPoint == "${config.s6.init}";
  wrapped = cfg.pid1 && !ownInit && (cfg.entryPoint != [ ] || cfg.cmd != [ ]);
  entryPoint = lib.optionals wrapped [ nciTools.init "pid1" "--" ] ++ cfg.entryPoint;

  containerConfig = {
    Entrypoint = nullIfEmpty entryPoint;
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
  # bashInteractive provides bin/sh, linked into /bin with the profile;
  # an image with services has NixOS' /bin/sh (environment.binsh).
  symlinks =
    lib.optionalAttrs cfg.interactive {
      "/usr/bin/env" = "${pkgs.coreutils}/bin/env";
    }
    // lib.optionalAttrs (config.s6.services != { }) {
      "/bin/sh" = config.environment.binsh;
    }
    // cfg.symlinks;

  storePathRegex = (import ../nix/store-paths.nix { inherit lib; }).regex;

  # Every store path a string mentions, each carrying the string's
  # context, so that `exportReferencesGraph` gets store paths (not paths
  # inside them) and Nix still knows what to build first.
  storePathsIn =
    s:
    let
      found = builtins.filter builtins.isList (builtins.split storePathRegex s);
    in
    map (m: lib.addContextFrom s (builtins.head m)) found;

  # The values options put in the image, by option name, to name the
  # option when one refers to a store path Nix does not know it needs.
  named =
    lib.concatLists [
      (lib.imap0 (i: v: {
        option = "image.entryPoint.${toString i}";
        value = v;
      }) cfg.entryPoint)
      (lib.imap0 (i: v: {
        option = "image.cmd.${toString i}";
        value = v;
      }) cfg.cmd)
      (lib.mapAttrsToList (n: v: {
        option = "image.env.${n}";
        value = toString v;
      }) cfg.env)
      (lib.mapAttrsToList (n: v: {
        option = "image.symlinks.\"${n}\"";
        value = v;
      }) symlinks)
      (map (v: {
        option = "image.contents";
        value = toString v;
      }) cfg.contents)
    ]
    ++ lib.optional (cfg.workingDir != null) {
      option = "image.workingDir";
      value = cfg.workingDir;
    };
  storeRoots = lib.unique (
    storePathsIn (builtins.toJSON [
      containerConfig
      profile
      symlinks
      (map toString cfg.contents)
    ])
  );

  builderArgs = {
    inherit system;
    builder = nciTools.image;
    args = [ "nix-builder" ];
    __structuredAttrs = true;
  };

  # The name of a store path without its hash.
  storeName = p: builtins.substring 33 (-1) (baseNameOf (builtins.unsafeDiscardStringContext p));
  safeName = builtins.replaceStrings [ "/" ":" ] [ "-" "-" ] cfg.name;

  # One small derivation per store path an option names: its layer's
  # digest, computed once and cached by Nix for every image that has it.
  layerOf =
    path:
    derivation (
      builderArgs
      // {
        name = "nci-layer-${storeName path}.json";
        step = "layer";
        storePath = path;
      }
    );

  # `image.from`, checked and described once (its layers hashed once).
  base = derivation (
    builderArgs
    // {
      name = "nci-base.json";
      step = "base";
      from = "${cfg.from}";
    }
  );

  runOwners = lib.mapAttrsToList (path: o: {
    inherit path;
    user = if o.user == null then null else toString o.user;
    group = if o.group == null then null else toString o.group;
    inherit (o) recursive mode;
  }) cfg.runOwners;

  # `image.run`: the commands on a copy of the customisation layer, as
  # the build user; the result replaces the trees, profile and links.
  runTree = derivation (
    builderArgs
    // {
      name = "image-run-${safeName}";
      step = "run";
      commands = cfg.run;
      shell = "${pkgs.bash}/bin/bash";
      path = lib.makeBinPath ([ pkgs.coreutils pkgs.bash ] ++ config.environment.systemPackages);
      rootTrees = map toString cfg.rootTrees;
      inherit profile symlinks;
      profilePaths = config.environment.pathsToLink;
      owners = runOwners;
    }
  );
  hasRun = cfg.run != "";
  trees = if hasRun then [ runTree ] else cfg.rootTrees;

  spec = {
    version = 1;
    inherit (cfg) name tag created;
    architecture =
      architectures.${hostSystem} or (throw "image: the system ${hostSystem} has no known OCI architecture");
    config = lib.filterAttrs (_: v: v != null && v != [ ] && v != { }) containerConfig;
    maxLayers = cfg.maxLayers;
    inherit storeRoots;
    profile = if hasRun then [ ] else profile;
    profilePaths = config.environment.pathsToLink;
    symlinks = if hasRun then { } else symlinks;
    rootTrees = map toString trees;
    layerInfos = map (p: {
      path = p;
      info = "${layerOf p}";
    }) storeRoots;
    fromInfo = if cfg.from == null then null else "${base}";
  };

  plan = derivation (
    builderArgs
    // {
      name = "nci-plan-${safeName}.json";
      step = "plan";
      inherit spec;
      exportReferencesGraph = {
        storeGraph = storeRoots;
        treeGraph = trees;
      };
    }
  );

  # The default output: the one-pass build (hashes each layer while it
  # writes it), one derivation with no `layer` facts and no plan: with
  # Nix 2.8 building one derivation at a time, each more costs about as
  # much as hashing 50 MB (docs/image-writer.md, "Cost model").
  image = derivation (
    builderArgs
    // {
      name = "docker-image-${safeName}.tar";
      step = "image";
      spec = spec // {
        layerInfos = [ ];
      };
      exportReferencesGraph = {
        storeGraph = storeRoots;
        treeGraph = trees;
      };
    }
  );

  # The reference of every output: the docker-archive's (its tag is the
  # hash part of its store path unless image.tag is set).
  tag =
    if cfg.tag != null then
      cfg.tag
    else
      builtins.head (lib.splitString "-" (baseNameOf (builtins.unsafeDiscardStringContext image.outPath)));
  reference = "${cfg.name}:${tag}";

  # A runnable package whose `bin/PROGRAM` (a script run by `nci-push`)
  # sends the image somewhere (docs/publishing.md).
  copyScript =
    program: extra:
    derivation (
      builderArgs
      // {
        name = "${program}-${safeName}";
        builder = nciTools.push;
        plan = "${plan}";
        imageTool = nciTools.image;
        interpreter = nciTools.push;
        inherit reference program;
      }
      // extra
    )
    // {
      meta.mainProgram = program;
    };
in
{
  options.system.build = mkOption {
    type = types.lazyAttrsOf types.unspecified;
    default = { };
    internal = true;
    description = ''
      Derivations the modules build: `image` is the docker-archive,
      `stream` an executable writing the same archive to standard output,
      `oci` the same image as an OCI layout directory.
    '';
  };

  # A store path in a string without context: Nix would not build it nor
  # put it in the image.
  config.assertions = (import ../nix/store-paths.nix { inherit lib; }).assertions named;

  # The store paths the image's closure is computed from (the `nix`
  # module registers that closure in the image's Nix database).
  config.system.build.storeRoots = storeRoots;

  config.system.build.image = image;

  # The plan (every layer's digest and source, the config and manifest
  # bytes): what an index of several architectures joins
  # (nix/multi-arch.nix).
  config.system.build.plan = plan;

  # The tag all three outputs carry (`imageName:imageTag` after loading).
  config.system.build.imageTag = tag;

  # The stream: one derivation that lays the image out (from the
  # reference graph: which store paths, in which layer, in what order)
  # and hashes nothing; the script it writes hashes each layer just
  # before writing it (docs/image-writer.md, "Cost model").
  config.system.build.stream = derivation (
    builderArgs
    // {
      name = "stream-${safeName}";
      step = "stream";
      spec = spec // {
        layerInfos = [ ];
      };
      exportReferencesGraph = {
        storeGraph = storeRoots;
        treeGraph = trees;
      };
      inherit reference;
      interpreter = nciTools.image;
    }
  );

  # The size report: each layer (store path, "customisation" or a base
  # layer), its size and share of the image; `layers.json` for tools,
  # `layers.txt` for people (docs/image-writer.md, "Size report").
  config.system.build.layers = derivation (
    builderArgs
    // {
      name = "layers-${safeName}";
      step = "layers";
      plan = "${plan}";
    }
  );

  # `copyToRegistry`: `bin/copy-to-registry docker://HOST/REPO[:TAG]`
  # sends the image to a registry, its layers read from the store
  # through `nci-image blob` (gzip-compressed by default, `--compression-format`),
  # skipping the blobs the registry has (docs/publishing.md).
  config.system.build.copyToRegistry = copyScript "copy-to-registry" { };

  # `copyToPodman` / `copyToDockerDaemon`: `bin/copy-to-podman` streams
  # the docker-archive into `podman load` (`docker load`) through a pipe.
  config.system.build.copyToPodman = copyScript "copy-to-podman" { engine = "podman"; };
  config.system.build.copyToDockerDaemon = copyScript "copy-to-docker-daemon" { engine = "docker"; };

  config.system.build.oci = derivation (
    builderArgs
    // {
      name = "oci-image-${safeName}";
      step = "oci";
      plan = "${plan}";
      inherit reference;
    }
  );
}
