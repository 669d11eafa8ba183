# `assertions` and `warnings`, as NixOS declares them: failed assertions
# abort `lib.makeImage` with one bulleted message, warnings are printed.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
      example = [
        {
          assertion = false;
          message = "you can't enable this for that reason";
        }
      ];
      description = ''
        Conditions that must hold for the image to build; each failing one
        contributes its `message` (name the option it is about) to a single
        error.
      '';
    };

    warnings = mkOption {
      type = types.listOf types.str;
      internal = true;
      default = [ ];
      example = [ "The `foo` option is deprecated, use `bar` instead." ];
      description = "Messages printed when the image is evaluated.";
    };
  };
}
