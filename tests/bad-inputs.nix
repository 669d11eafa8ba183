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
  # The module that puts a row's value in its option.
  moduleOf =
    row:
    let
      v = row.value;
    in
    {
      "image.name".image.name = v;
      "image.tag".image.tag = v;
      "image.exposedPorts".image.exposedPorts.${v} = { };
      "image.stopSignal".image.stopSignal = v;
      "image.created".image.created = v;
      "image.env".image.env.${v} = "c";
      "image.workingDir".image.workingDir = v;
      "image.volumes".image.volumes.${v} = { };
      "image.maxLayers".image.maxLayers = v;
      "s6.services".s6.services.${v}.script = "x";
      "s6.services.a.stopSignal".s6.services.a = {
        script = "x";
        stopSignal = v;
      };
      "s6.services.a.workingDirectory".s6.services.a = {
        script = "x";
        workingDirectory = v;
      };
      "s6.services.a.environment".s6.services.a = {
        script = "x";
        environment.${v} = "c";
      };
    }
    .${row.option} or (throw "tests/golden/bad-inputs.json: no module for ${row.option}");
  failed =
    row:
    let
      eval = lib.evalModules {
        modules =
          import ../modules
          ++ h.nixosModules
          ++ [
            (moduleOf row)
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
