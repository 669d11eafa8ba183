# `systemd.tmpfiles`: NixOS' tmpfiles rules, applied at container start
# by `nci-systemd tmpfiles` (a oneshot run before every other oneshot),
# as systemd-tmpfiles does at boot. Types d D e v q Q f F w L z Z r R C
# x X are supported; other types, and ages (there is no cleaning timer),
# give a warning.
{
  config,
  options,
  lib,
  nciTools,
  ...
}:
let
  inherit (lib)
    mkOption
    types
    literalExpression
    concatMap
    mapAttrsToList
    filter
    optional
    ;
  cfg = config.systemd.tmpfiles;
  serviceName = "systemd-tmpfiles-setup";
  # The types nci-systemd applies and the messages: stated once in
  # rust/nci-core/src/rules.rs (nix/rules.json).
  rules = import ../nix/rules.nix { inherit lib; };
  supportedTypes = lib.stringToCharacters rules.tmpfilesTypes;

  entry = lib.types.submodule (
    { name, ... }:
    {
      options = {
        type = mkOption {
          type = types.str;
          default = name;
          example = "d";
          description = "The rule's type (letter and modifiers), by default the attribute name.";
        };
        mode = mkOption {
          type = types.str;
          default = "-";
          example = "0755";
          description = "The mode of the file or directory.";
        };
        user = mkOption {
          type = types.str;
          default = "-";
          example = "root";
          description = "The owner (a name or a uid).";
        };
        group = mkOption {
          type = types.str;
          default = "-";
          example = "root";
          description = "The group (a name or a gid).";
        };
        age = mkOption {
          type = types.str;
          default = "-";
          example = "10d";
          description = "Age of files to clean up: not applied in an image (warning).";
        };
        argument = mkOption {
          type = types.str;
          default = "";
          example = "/nix/store/...-target";
          description = "The type's argument (a link target, file content, ...).";
        };
      };
    }
  );

  quote = s: if builtins.match ".*[[:space:]].*" s != null then "'${s}'" else s;
  settingsRules = concatMap (
    paths:
    concatMap (path: mapAttrsToList (_: e: lib.concatStringsSep " " [
      e.type
      (quote path)
      e.mode
      e.user
      e.group
      e.age
      e.argument
    ]) paths.${path}) (builtins.attrNames paths)
  ) (builtins.attrValues cfg.settings);

  allRules = filter (r: builtins.match "[[:space:]]*(#.*)?" r == null) (cfg.rules ++ settingsRules);
  fields = r: filter (x: x != "") (lib.splitString " " (builtins.replaceStrings [ "\t" ] [ " " ] (lib.trim r)));
  typeOf = r: builtins.substring 0 1 (lib.head (fields r));
  pathOf = r: builtins.elemAt (fields r) 1;
  supported = filter (r: builtins.elem (typeOf r) supportedTypes) allRules;
  unsupported = filter (r: !(builtins.elem (typeOf r) supportedTypes)) allRules;
  aged = filter (
    r:
    let
      f = fields r;
    in
    builtins.length f > 5 && builtins.elemAt f 5 != "-"
  ) supported;
  hasS6 = options ? s6 && options.s6 ? services;

  # Owners must exist in the image (when the users module is there).
  hasUsers = options ? users && options.users ? users;
  fieldAt = r: i: let f = fields r; in if builtins.length f > i then builtins.elemAt f i else "-";
  unknownOwner =
    what: known: r:
    let
      v = fieldAt r (if what == "user" then 3 else 4);
    in
    lib.optional (
      hasUsers && v != "-" && builtins.match "[0-9]+" v == null && !(known ? ${v})
    ) "systemd.tmpfiles.rules: '${r}': ${rules.say "${what}NotDefined" { ${what} = v; }}";
  ownerErrors = concatMap (
    r:
    unknownOwner "user" (if hasUsers then config.users.users else { }) r
    ++ unknownOwner "group" (if hasUsers then config.users.groups else { }) r
  ) supported;
in
{
  # interface
  options.systemd.tmpfiles = {
    rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "d /var/lib/app 0750 app app -" ];
      description = ''
        systemd-tmpfiles rules (`tmpfiles.d(5)`), applied when the container
        starts, before the oneshot services.
      '';
    };
    settings = mkOption {
      type = types.attrsOf (types.attrsOf (types.attrsOf entry));
      default = { };
      example = literalExpression ''
        { "10-app"."/var/lib/app".d = { mode = "0750"; user = "app"; group = "app"; }; }
      '';
      description = "Rules as NixOS' structured `systemd.tmpfiles.settings`.";
    };
    packages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = literalExpression "[ pkgs.lvm2 ]";
      description = "Packages with tmpfiles.d rules: not read in an image (warning when set).";
    };
  };

  # implementation
  config = lib.mkMerge [
    {
      systemd.build.tmpfilesRules = supported;
      assertions = map (m: {
        assertion = false;
        message = m;
      }) ownerErrors;
      systemd.build.tmpfilesService = if supported == [ ] then null else serviceName;
      warnings =
        map (
          r: "systemd.tmpfiles.rules: '${r}': type ${typeOf r} is not supported by the systemd shim; ignored."
        ) unsupported
        ++ optional (aged != [ ])
          "systemd.tmpfiles.rules: ages are not applied (an image has no cleaning timer): ${lib.concatMapStringsSep ", " pathOf aged}."
        ++ optional (cfg.packages != [ ])
          "systemd.tmpfiles.packages: rules of packages are not read by the systemd shim; use systemd.tmpfiles.rules.";
    }
    (lib.optionalAttrs hasS6 {
      s6.services = lib.mkIf (supported != [ ]) {
        ${serviceName} = {
          type = "oneshot-pre";
          execStart = "${nciTools.systemd} tmpfiles ${config.systemd.build.units}/tmpfiles.conf";
        };
      };
    })
  ];
}
