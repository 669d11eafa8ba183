# Renders the options reference (docs/options.md) from the evaluated
# modules, with nixpkgs' lib only, so it is generated and checked offline.
{ lib, options }:
let
  inherit (lib) concatMapStringsSep optionalString;
  visible = builtins.filter (o: o.visible && !o.internal) (lib.optionAttrSetToDocList options);
  root = toString ../.;
  relative = d: lib.removePrefix "${root}/" (toString d);
  # Our interface: options declared in modules/ (not the module system's
  # `_module`, nor those of NixOS service modules or test stand-ins
  # evaluated along with ours).
  documented = builtins.filter (
    o: !(lib.hasPrefix "_module" o.name) && lib.any (d: lib.hasPrefix "modules/" (relative d)) o.declarations
  ) visible;
  render =
    v:
    if v == null then
      null
    else if v ? _type && v._type == "literalExpression" then
      if lib.hasInfix "\n" v.text then "\n```nix\n${v.text}\n```" else "`${v.text}`"
    else if v ? _type && v._type == "literalMD" then
      v.text
    else
      "`${builtins.toJSON v}`";
  field = label: v: optionalString (v != null) "\n*${label}:* ${v}\n";
  entry = o: ''
    ## `${o.name}`

    ${o.description or ""}

    *Type:* ${o.type}
    ${field "Default" (render (o.default or null))}${field "Example" (render (o.example or null))}
    *Declared in:* ${concatMapStringsSep ", " (d: "`${relative d}`") o.declarations}
  '';
in
''
  # Options reference

  Generated from the modules by `docs/generate`; a test fails when this
  file is out of date. Options marked *internal* are not listed.

  ${concatMapStringsSep "\n" entry documented}''
