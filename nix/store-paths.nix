# Store paths named in option values (Nix owns this rule, docs/rules.md):
# a store path in a string without string context is not built by Nix
# nor put in the image, so it fails at run time; refused at evaluation
# instead, naming the option. Used by modules/image-build.nix (image
# options) and modules/s6.nix (service commands).
{ lib }:
let
  storeDir = builtins.storeDir;
in
rec {
  regex = "(${storeDir}/[a-z0-9]{32}-[-a-zA-Z0-9+._?=]+)";

  # The store paths a string names (without their context).
  pathsIn = s: map builtins.head (builtins.filter builtins.isList (builtins.split regex s));

  # `named`: a list of { option, value }; the failed assertions of the
  # values that name a store path without carrying its context.
  assertions =
    named:
    lib.concatMap (
      n:
      lib.optionals (!builtins.hasContext n.value) (
        map (path: {
          assertion = false;
          message =
            if builtins.pathExists path then
              "${n.option}: ${path} is named without string context (for example after builtins.unsafeDiscardStringContext), so it is not in the image's closure; refer to the package itself, e.g. \"\${pkgs.hello}/bin/hello\"."
            else
              "${n.option}: ${path} is not in the Nix store (a missing store path); refer to a package, e.g. \"\${pkgs.hello}/bin/hello\".";
        }) (pathsIn n.value)
      )
    ) named;
}
