# `environment.systemPackages`: packages whose bin/, sbin/ and share/ are
# merged into the image root, as NixOS links them into its system path.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.environment.systemPackages = mkOption {
    type = types.listOf types.package;
    default = [ ];
    example = lib.literalExpression "[ pkgs.coreutils pkgs.curl ]";
    description = ''
      Packages installed in the image. Their `bin/`, `sbin/` and `share/`
      directories are merged into `/bin`, `/sbin` and `/share` (the first
      package wins when two provide the same file), so their programs are
      on the default `PATH` of `docker run` and `podman run`.
    '';
  };
}
