# The L3 half of tests/golden/bad-inputs.json (the Rust tests are the L1
# half): each row's value put in its option of a module, evaluated; the
# rows whose message is not among the failed assertions, with what was.
{
  toolsDir ? /nonexistent,
}:
let
  h = import ./hermetic { inherit toolsDir; };
  inherit (h) lib;
  table = lib.importJSON ./golden/bad-inputs.json;
  # How a row's value goes in its option: as it is, or as a key (sets
  # by name) or the one element of a list.
  put = {
    "image.exposedPorts" = v: { ${v} = { }; };
    "image.env" = v: { ${v} = "c"; };
    "image.volumes" = v: { ${v} = { }; };
    "s6.services.a.after" = v: [ v ];
    "s6.services.a.environment" = v: { ${v} = "c"; };
    "users.groups.wheel.members" = v: [ v ];
  };
  # The modules that put a row's value in its option, beside the row's
  # `with` (settings of other options the row needs). An s6 row has a
  # service `a` that runs a script, or the row's value is `a`'s field; in
  # `users.users` and `users.groups` the value is an account's name (a
  # system user of group nogroup).
  modulesOf =
    row:
    let
      path = lib.splitString "." row.option;
      value = (put.${row.option} or (v: v)) row.value;
    in
    [ (row."with" or { }) ]
    ++ (
      if row.option == "users.users" then
        [
          {
            users.users.${row.value} = {
              isSystemUser = true;
              group = "nogroup";
            };
          }
        ]
      else if row.option == "users.groups" then
        [ { users.groups.${row.value} = { }; } ]
      else if row.option == "s6.services" then
        [ { s6.services.${row.value}.script = "x"; } ]
      else if lib.hasPrefix "s6.services.a." row.option then
        [ { s6.services.a = { script = "x"; } // { ${lib.last path} = value; }; } ]
      else if lib.hasPrefix "s6." row.option then
        [
          { s6.services.a.script = "x"; }
          (lib.setAttrByPath path value)
        ]
      else
        [ (lib.setAttrByPath path value) ]
    );
  failed =
    row:
    let
      eval = lib.evalModules {
        modules =
          import ../modules
          ++ h.nixosModules
          ++ modulesOf row
          ++ [
            {
              image.name = lib.mkDefault "x";
              nixpkgs.pkgs = h.pkgs;
              _module.args.nciTools = h.tools;
            }
          ];
      };
    in
    map (a: a.message) (builtins.filter (a: !a.assertion) eval.config.assertions);
  seen = row: builtins.elem "L3" (row.levels or [ "L3" ]);
in
lib.concatMap (
  row:
  let
    got = failed row;
  in
  lib.optional (!builtins.elem row.message got) {
    inherit (row) option value;
    expected = row.message;
    inherit got;
  }
) (builtins.filter seen table)
