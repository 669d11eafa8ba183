# `environment.systemPackages`: packages whose bin/, sbin/ and share/ (and
# what `environment.pathsToLink` adds) are merged into the image root, as
# NixOS links them into its system path; `environment.binsh`: the /bin/sh
# NixOS gives every system.
{ config, lib, ... }:
let
  inherit (lib) mkOption types literalExpression;
in
{
  # interface
  options.environment = {
    systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = literalExpression "[ pkgs.coreutils pkgs.curl ]";
      description = ''
        Packages installed in the image. Their `bin/`, `sbin/` and `share/`
        directories are merged into `/bin`, `/sbin` and `/share` (the first
        package wins when two provide the same file), so their programs are
        on the default `PATH` of `docker run` and `podman run`.
      '';
    };
    pathsToLink = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "/lib/udev"
        "/etc/xdg"
      ];
      description = ''
        The subdirectories of `environment.systemPackages` linked into the
        image root, as NixOS links them into its system path. The image
        always links `/bin`, `/sbin` and the whole of `/share`; NixOS
        modules add their own (e.g. `/lib/udev`), and so can you. A path
        under another listed one adds nothing.
      '';
    };
    binsh = mkOption {
      type = types.str;
      default = config.systemd.shim.shell;
      defaultText = literalExpression "config.systemd.shim.shell";
      example = literalExpression "\"\${pkgs.busybox}/bin/sh\"";
      description = ''
        The shell linked to `/bin/sh` in every image that runs services, as
        NixOS links it on every system: glibc's `system()` and `popen()`,
        and so many daemons, run commands with it (without it they fail,
        some with a misleading `ENOMEM`). It stands before the packages of
        `environment.systemPackages`, as on NixOS.
      '';
    };
  };

  # implementation
  # The directories every image links: stated once, in
  # rust/nci-core/src/profile.rs (nix/rules.json's profilePaths).
  config.environment.pathsToLink = (import ../nix/rules.nix { inherit lib; }).profilePaths;
}
