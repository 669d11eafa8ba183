# Helpers of the systemd shim modules (not a module): the type of unit
# settings, and the normalisation of settings into what `nci-systemd`
# reads (docs/spec.md, "systemd units").
{ lib }:
let
  inherit (lib) mkOptionType isList concatMap toList;
in
rec {
  # A unit setting: a value, or a list for repeatable settings; lists
  # from several definitions are concatenated, as NixOS merges them.
  unitOption = mkOptionType {
    name = "systemd option";
    description = "systemd unit setting (string, number, boolean, path, package or a list of them)";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (d: isList d.value) defs' then
        concatMap (d: toList d.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  # The file name of a job script (NixOS replaces `\` and `@`).
  scriptName = name: builtins.replaceStrings [ "\\" "@" "/" ] [ "-" "_" "-" ] name;

  # Settings values as `nci-systemd` reads them: a list of strings for a
  # repeatable setting, where an empty string resets the list (systemd's
  # rule, used by NixOS modules to replace an upstream ExecStart).
  asList =
    v:
    builtins.foldl' (acc: x: if x == "" then [ ] else acc ++ [ (toScalar x) ]) [ ] (toList v);
  toScalar =
    v:
    if builtins.isBool v then
      (if v then "yes" else "no")
    else if builtins.isInt v || builtins.isFloat v then
      toString v
    else
      "${v}";
  # A unit file's text as { Section = { Key = [ values ]; }; }, in the
  # file's order (systemd's syntax: `[Section]`, `Key=Value` repeated,
  # `#`/`;` comments, a trailing `\` joins lines; an empty value is kept:
  # it resets a list, as in the file).
  parseUnitFile =
    text:
    let
      lines = map lib.trim (lib.splitString "\n" (builtins.replaceStrings [ "\\\n" ] [ " " ] text));
      step =
        acc: line:
        let
          header = builtins.match "\\[([^]]+)]" line;
          kv = builtins.match "([A-Za-z0-9_-]+)[[:space:]]*=[[:space:]]*(.*)" line;
          sec = acc.section;
          put =
            k: v:
            acc
            // {
              sections = acc.sections // {
                ${sec} = (acc.sections.${sec} or { }) // {
                  ${k} = (acc.sections.${sec}.${k} or [ ]) ++ [ v ];
                };
              };
            };
        in
        if line == "" || lib.hasPrefix "#" line || lib.hasPrefix ";" line then
          acc
        else if header != null then
          acc // { section = builtins.head header; }
        else if kv != null then
          put (builtins.elemAt kv 0) (builtins.elemAt kv 1)
        else
          acc;
    in
    (builtins.foldl' step {
      section = "";
      sections = { };
    } lines).sections;

  # Settings of a unit file laid under a module's, as systemd reads a
  # drop-in over a unit: a module's list extends the file's (an empty
  # string first resets it), a module's single value replaces it.
  layOver =
    fromFile: fromModule:
    fromFile
    // lib.mapAttrs (k: v: if fromFile ? ${k} then fromFile.${k} ++ toList v else v) fromModule;

  # The last value of a setting that may have been given as a list.
  asScalar =
    v:
    let
      l = asList v;
    in
    if isList v then (if l == [ ] then null else lib.last l) else toScalar v;

  # A systemd time span in milliseconds ("90", "1min 30s", "500ms", "1.5s",
  # "infinity" = null; the units of rust/nci-systemd/src/timespan.rs), for
  # the values Nix needs (the s6 stop timeout); nci-systemd parses every
  # span itself and rejects bad ones.
  spanMs =
    v:
    let
      s = lib.trim (toScalar v);
      units = {
        "" = 1000;
        us = 0.001;
        usec = 0.001;
        "µs" = 0.001;
        ms = 1;
        msec = 1;
        s = 1000;
        sec = 1000;
        second = 1000;
        seconds = 1000;
        m = 60000;
        min = 60000;
        minute = 60000;
        minutes = 60000;
        h = 3600000;
        hr = 3600000;
        hour = 3600000;
        hours = 3600000;
        d = 86400000;
        day = 86400000;
        days = 86400000;
        w = 604800000;
        week = 604800000;
        weeks = 604800000;
      };
      parts = builtins.filter builtins.isList (
        builtins.split "([0-9]+(\\.[0-9]*)?|\\.[0-9]+)[ ]*([a-zµ]*)" s
      );
      # "1.", ".5": JSON wants a digit on both sides of the point.
      number =
        t:
        builtins.fromJSON (
          (if lib.hasPrefix "." t then "0" else "") + t + (if lib.hasSuffix "." t then "0" else "")
        );
      valueOf =
        p: number (lib.head p) * (units.${lib.elemAt p 2} or (throw "invalid time span '${s}'"));
    in
    if s == "infinity" then null else builtins.floor (lib.foldl' (a: p: a + valueOf p) 0 parts);
}
