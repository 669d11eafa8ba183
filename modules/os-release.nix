# `/etc/os-release`: what the image is, for tools that ask (`IMAGE_ID` is
# the os-release field meant for images).
{ config, lib, ... }:
let
  inherit (lib) mkOption types literalExpression concatStrings mapAttrsToList;
  # Values are quoted as os-release(5) asks: backslash, $, " and ` escaped.
  quote = v: "\"${lib.escape [ "\\" "$" "\"" "`" ] v}\"";
in
{
  # interface
  options.system.osRelease = mkOption {
    type = types.attrsOf types.str;
    default = { };
    example = {
      VERSION_ID = "1.2";
      HOME_URL = "https://example.org";
    };
    description = ''
      Fields of /etc/os-release (os-release(5)), one `KEY="value"` line
      each, in name order. `NAME`, `ID`, `PRETTY_NAME` and `IMAGE_ID`
      (the image name) are set by default; a value given here replaces
      the default one.
    '';
  };

  # implementation
  config = {
    system.osRelease = lib.mapAttrs (_: lib.mkDefault) {
      NAME = "nix-container-images";
      ID = "nix-container-images";
      PRETTY_NAME = "${config.image.name} (nix-container-images)";
      IMAGE_ID = config.image.name;
    };
    environment.etc."os-release".text = concatStrings (
      mapAttrsToList (k: v: "${k}=${quote v}\n") config.system.osRelease
    );
  };
}
