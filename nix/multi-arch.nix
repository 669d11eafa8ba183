# `lib.makeMultiArchImage`: the same modules made into one image per
# Nix system (`lib.makeImage` with `nixpkgs.system` set to each), joined
# under one tag by an OCI image index (or a Docker manifest list): what
# `podman pull` and `docker pull` pick their architecture's image from.
#
#   lib.makeMultiArchImage {
#     systems = [ "x86_64-linux" "aarch64-linux" ];
#     modules = [ ./image.nix ];
#   }
#
# The result is the OCI layout directory holding the OCI index, every
# architecture's manifest, config and layers (each architecture's blobs
# are those of its own `lib.makeImage` image, byte for byte), with
# `images.<system>` (each architecture's `lib.makeImage` result, with its
# `.copyToRegistry`, `.oci`, ...), `copyToRegistry` (pushes every
# architecture, then the index under the tag), `imageName`, `imageTag`
# and `systems` beside it. docs/publishing.md, "Several architectures".
{
  lib,
  # nix/make-image.nix's makeImage.
  makeImage,
}:
let
  inherit (lib) concatMapStringsSep concatStringsSep filter head toList unique;
  architectures = import ./architectures.nix;
  known = concatStringsSep ", " (builtins.attrNames architectures);
  fail = msg: throw "lib.makeMultiArchImage: ${msg}";
  quote = builtins.toJSON;
in
{
  # The Nix systems to make an image for, in the index's order (the
  # first one's build platform writes the index).
  systems,
  # The modules of every architecture's image: what `lib.makeImage`
  # takes (a module, a path, or a list of them).
  modules,
  # What copyToRegistry pushes: "oci", an OCI image index of OCI
  # manifests; "docker", a Docker manifest list of Docker schema 2
  # manifests (for engines and registries that predate OCI indexes).
  # The layout always holds the OCI index (what skopeo reads there).
  format ? "oci",
}:
let
  checkedSystems =
    if !builtins.isList systems || !builtins.all builtins.isString systems then
      fail "systems must be a list of Nix systems, e.g. systems = [ \"x86_64-linux\" \"aarch64-linux\" ];"
    else if systems == [ ] then
      fail "systems is empty: list the Nix systems to build for, e.g. systems = [ \"x86_64-linux\" \"aarch64-linux\" ];"
    else
      let
        unknown = filter (s: !(architectures ? ${s})) systems;
        twice = filter (s: builtins.length (filter (t: t == s) systems) > 1) (unique systems);
      in
      if unknown != [ ] then
        fail "systems: ${quote (head unknown)} is not a system an image can be built for (known: ${known})"
      else if twice != [ ] then
        fail "systems: ${quote (head twice)} is listed twice (an index has one image per architecture)"
      else
        systems;
  checkedFormat =
    if builtins.elem format [ "oci" "docker" ] then
      format
    else
      fail "format: ${quote format} is neither \"oci\" (an OCI image index) nor \"docker\" (a Docker manifest list)";

  images = lib.genAttrs checkedSystems (
    system: makeImage (toList modules ++ [ { nixpkgs.system = system; } ])
  );
  first = images.${head checkedSystems};

  # One name and one tag for all: the index is pushed and loaded under it.
  same =
    option: value:
    let
      values = map (s: {
        inherit s;
        v = value images.${s};
      }) checkedSystems;
      firstValue = (head values).v;
    in
    if builtins.all (x: x.v == firstValue) values then
      firstValue
    else
      fail "${option} differs between systems (${
        concatMapStringsSep ", " (x: "${x.s}: ${quote x.v}") values
      }); the index is tagged with one: set ${option} the same for every system";
  name = same "image.name" (i: i.config.image.name);
  setTag = same "image.tag" (i: i.config.image.tag);

  # Each image's packages must be its system's (a `nixpkgs.pkgs` set in
  # the modules would give every architecture the same packages).
  hostOf = i: i.config.nixpkgs.pkgs.stdenv.hostPlatform.system;
  wrongPackages = filter (s: hostOf images.${s} != s) checkedSystems;
  checkedImages =
    if wrongPackages != [ ] then
      let
        s = head wrongPackages;
      in
      fail "the image for ${s} has packages for ${hostOf images.${s}} (nixpkgs.pkgs): leave nixpkgs.pkgs unset, makeMultiArchImage picks each system's package set"
    else
      images;

  plans = map (s: {
    system = s;
    plan = "${checkedImages.${s}.plan}";
  }) checkedSystems;
  # Without image.tag: a tag that changes when any image changes.
  tag =
    if setTag != null then
      setTag
    else
      builtins.substring 0 32 (
        builtins.hashString "sha256" (
          concatMapStringsSep " " (p: builtins.unsafeDiscardStringContext p.plan) plans
        )
      );
  reference = "${name}:${tag}";
  safeName = builtins.replaceStrings [ "/" ":" ] [ "-" "-" ] name;
  # The index is written by the first system's build-platform tools.
  tools = first.nciTools;
  builderArgs = {
    system = first.config.nixpkgs.pkgs.stdenv.buildPlatform.system;
    builder = tools.image;
    args = [ "nix-builder" ];
    __structuredAttrs = true;
  };

  index =
    assert checkedFormat != null;
    derivation (
    builderArgs
    // {
      name = "oci-index-${safeName}";
      step = "index";
      images = plans;
      inherit reference;
    }
  );

  copyToRegistry =
    derivation (
      builderArgs
      // {
        name = "copy-to-registry-${safeName}";
        builder = tools.push;
        images = plans;
        format = checkedFormat;
        imageTool = tools.image;
        interpreter = tools.push;
        inherit reference;
      }
    )
    // {
      meta.mainProgram = "copy-to-registry";
    };
in
index
// {
  images = checkedImages;
  systems = checkedSystems;
  inherit copyToRegistry;
  imageName = name;
  imageTag = tag;
  format = checkedFormat;
}
