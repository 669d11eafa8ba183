# Applies the single-value rules of nix/rules.json, generated from
# rust/nci-core/src/rules.rs (docs/rules.md): the grammars, limits,
# lists and messages are written there once, and the helpers apply the
# same ones.
{ lib }:
let
  json = lib.importJSON ./rules.json;
  max = json.quoteMax;
in
rec {
  # A value as a message quotes it: the first quoteMax bytes, then its size.
  quote =
    v:
    let
      n = builtins.stringLength v;
    in
    if n <= max then v else "${builtins.substring 0 max v}[... ${toString n} bytes in all]";

  # The messages (`option: reason`) for `value` breaking rule `name`: none
  # or one. The length is checked before the pattern, so a huge value
  # never reaches the regex engine.
  check =
    name: option: value:
    let
      r = json.rules.${name};
      subject = if r.upper then lib.toUpper value else value;
      ok = builtins.stringLength value <= r.maxLength && builtins.match r.pattern subject != null;
    in
    lib.optional (!ok) "${option}: ${builtins.replaceStrings [ "{value}" ] [ (quote value) ] r.message}";

  # The message `name` of rules.json's `messages`, each `{key}` of `args`
  # replaced by its value (rules::Message::fill, unquoted).
  say =
    name: args:
    builtins.replaceStrings (map (k: "{${k}}") (builtins.attrNames args)) (builtins.attrValues args)
      json.messages.${name};

  # The s6 lists (service types, stop signals) and the phase table:
  # `s6.phases.<type>.<type of an after>` is why it is refused.
  # The systemd shim's service types and restart policies.
  inherit (json) s6 users profilePaths tmpfilesTypes systemd;

  # `check` as assertions.
  assertions =
    name: option: values:
    map (message: {
      assertion = false;
      inherit message;
    }) (lib.concatMap (check name option) values);
}
