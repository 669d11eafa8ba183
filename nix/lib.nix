# The `lib` every entry point gives (the flake's `lib`, `overlay.nix`'s
# `pkgs.lib`, `default.nix`'s `lib`): `makeImage` and the helpers the
# original project's `lib` had beside it, with its semantics.
{
  lib,
  # lib.makeImage, from nix/make-image.nix.
  makeImage,
}:
let
  inherit (lib) concatMapStrings stringToCharacters toLower;

  # The hash part of the image's store path: the tag `podman load` and
  # `docker load` give it unless `image.tag` is set.
  imageHash = image: builtins.head (builtins.split "-" (baseNameOf image));

  # The reference the image has once loaded, as the original's tests
  # passed it to `docker run`.
  imageRef = image: "${image.imageName}:${imageHash image}";

  # The original's test scripts were written for NixOS' Perl driver
  # (`$machine->waitForUnit("docker.service");`); NixOS runs Python ones
  # (`machine.wait_for_unit("docker.service");`). Method calls on a
  # machine, the whole of the original's scripts, are rewritten; the
  # string arguments and the `;` are the same in both languages.
  perlCall = "\\$([A-Za-z_][A-Za-z0-9_]*)->([A-Za-z_][A-Za-z0-9_]*)";
  toSnakeCase =
    name: concatMapStrings (c: if toLower c != c then "_${toLower c}" else c) (stringToCharacters name);
  isPerl = script: builtins.length (builtins.split perlCall script) > 1;
  perlToPython =
    script:
    # builtins.split drops string context: take it back from the script,
    # so the store paths it names stay dependencies of the test.
    lib.addContextFrom script (
      concatMapStrings (
        part:
        if builtins.isList part then
          "${builtins.elemAt part 0}.${toSnakeCase (builtins.elemAt part 1)}"
        else
          part
      ) (builtins.split perlCall script)
    );
  pythonScript =
    script:
    if isPerl script then
      lib.warn "lib.makeContainerTest: testScript is written for NixOS' old Perl test driver ($machine->method(...)); it runs rewritten for the Python driver (machine.method_name(...)); see docs/compatibility.md." (
        perlToPython script
      )
    else
      script;

  # The NixOS test (a module for `testers.runNixOSTest`): a machine
  # running Docker, the image loaded into it, then the user's script.
  containerTestModule =
    {
      image,
      testScript,
      # More NixOS configuration for the machine.
      machine ? { },
    }:
    let
      load = ''
        machine.wait_for_unit("docker.service")
        machine.succeed("docker load -i ${image}")
      '';
    in
    {
      name = lib.strings.sanitizeDerivationName image.imageName;
      nodes.machine = {
        imports = [ machine ];
        virtualisation.docker.enable = true;
        virtualisation.diskSize = lib.mkDefault 1024;
      };
      testScript =
        if builtins.isFunction testScript then
          args: load + pythonScript (testScript args)
        else
          load + pythonScript testScript;
      passthru = { inherit image; };
    };

  # The original's `makeContainerTest { image; testScript; }`: a NixOS test
  # built with the image's own package set (`nixpkgs.pkgs`), with `image`
  # reachable from it.
  makeContainerTest =
    args@{ image, ... }:
    let
      pkgs = image.config.nixpkgs.pkgs;
    in
    if !(pkgs ? testers.runNixOSTest) then
      throw "lib.makeContainerTest: the image's package set (nixpkgs.pkgs) has no testers.runNixOSTest, which runs NixOS tests (nixpkgs 23.05 and later); without nixpkgs or KVM, run the same checks with podman (docs/compatibility.md)."
    else
      pkgs.testers.runNixOSTest (containerTestModule args) // { inherit image; };
in
{
  # One image per Nix system joined by an OCI image index (nix/multi-arch.nix).
  makeMultiArchImage = import ./multi-arch.nix { inherit lib makeImage; };
  inherit
    makeImage
    imageHash
    imageRef
    makeContainerTest
    containerTestModule
    ;
}
