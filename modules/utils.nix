# The `utils` module argument NixOS gives every module
# (nixos/lib/utils.nix, through nixos/modules/misc/extra-arguments.nix):
# service modules call `utils.escapeSystemdExecArgs` to write their
# command lines, `utils.genJqSecretsReplacementSnippet` to put secrets
# from files into a JSON configuration at start, ... Without it a module
# that names `utils` stops with "attribute 'utils' missing".
#
# The functions are NixOS' (same names, same arguments, same results);
# the ones about boot file systems, PAM and binfmt, which have no job in
# an image, are left out, so a module that needs one fails naming it.
# `systemdUtils` has what service modules use of it: the unit option
# type and the path-safe unit name.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    attrNames
    concatMapStringsSep
    concatStringsSep
    elem
    escapeShellArg
    filter
    flatten
    getName
    imap0
    imap1
    isAttrs
    isDerivation
    isFloat
    isInt
    isList
    isPath
    isString
    listToAttrs
    mapAttrs
    nameValuePair
    optionalString
    replaceStrings
    splitString
    stringToCharacters
    types
    ;
  sdLib = import ./systemd-lib.nix { inherit lib; };

  # systemd.unit(5)'s escaping: "/" becomes "-", a character other than
  # ASCII letters, digits, ":", "_" and "." (and "." first) becomes \xNN;
  # a path loses its leading, trailing and doubled slashes, "/" is "-".
  escapeSystemdPath =
    s:
    let
      parts = filter (c: c != "" && c != ".") (splitString "/" s);
      simplified = if parts == [ ] then "/" else concatStringsSep "/" parts;
      hex = c: "\\x" + lib.toLower (lib.toHexString (lib.strings.charToInt c));
      escapeChar =
        i: c:
        if c == "/" then
          "-"
        else if builtins.match "[A-Za-z0-9:_]" c != null || (c == "." && i > 0) then
          c
        else
          hex c;
    in
    if simplified == "/" then "-" else concatStringsSep "" (imap0 escapeChar (stringToCharacters simplified));

  # One argument of an Exec* line: a JSON string (which systemd's
  # quoting reads), with % and $ doubled so no specifier or variable is
  # expanded.
  escapeSystemdExecArg =
    arg:
    let
      s =
        if isPath arg then
          "${arg}"
        else if isString arg then
          arg
        else if isInt arg || isFloat arg || isDerivation arg then
          toString arg
        else
          throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
    in
    replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);

  # { ".a[1].b" = { _secret = "/f"; ... }; }: where `attr` sits in a
  # value, by jq path.
  recursiveGetAttrsetWithJqPrefix =
    item: attr:
    let
      quoteKey = name: ''"${replaceStrings [ ''"'' "\\" ] [ ''\"'' "\\\\" ] name}"'';
      recurse =
        prefix: item:
        if item ? ${attr} then
          nameValuePair prefix item
        else if isDerivation item then
          [ ]
        else if isAttrs item then
          map (
            name: recurse (prefix + (if prefix == "." then "" else ".") + quoteKey name) item.${name}
          ) (attrNames item)
        else if isList item then
          imap0 (i: v: recurse (prefix + "[${toString i}]") v) item
        else
          [ ];
    in
    listToAttrs (flatten (recurse "." item));

  recursiveGetAttrWithJqPrefix =
    item: attr: mapAttrs (_: set: set.${attr}) (recursiveGetAttrsetWithJqPrefix item attr);

  # A bash snippet writing `set` as JSON to `output`, each
  # `{ _secret = "/file"; }` replaced by the file's text (or its JSON,
  # with `quote = false`); with `loadCredential`, `credentials` lists
  # LoadCredential entries for the files (the script reads the files
  # where they are, as NixOS' does).
  genJqSecretsReplacement =
    {
      attr ? "_secret",
      loadCredential ? false,
      secretsEnvGen ?
        attr: secrets:
        concatStringsSep "\n" (
          imap1 (index: name: ''
            secret${toString index}=$(<'${secrets.${name}.${attr}}')
            export secret${toString index}
          '') (attrNames secrets)
        ),
    }:
    set: output:
    let
      secretsRaw = recursiveGetAttrsetWithJqPrefix set attr;
      secrets = mapAttrs (_: s: { quote = true; } // s) secretsRaw;
      sanitize = lib.stringAsChars (c: if builtins.match "[a-zA-Z0-9_.#=!-]" c != null then c else "_");
      tag = index: name: "${toString index}_${sanitize secretsRaw.${name}.${attr}}";
      filter' =
        let
          f = concatStringsSep " | " (
            imap1 (
              index: name:
              "${name} = ($ENV.secret${toString index}${optionalString (!secrets.${name}.quote) " | fromjson"})"
            ) (attrNames secrets)
          );
        in
        if f == "" then "." else f;
    in
    {
      script = ''
        if [[ -h '${output}' ]]; then
          rm '${output}'
        fi

        inherit_errexit_enabled=0
        shopt -pq inherit_errexit && inherit_errexit_enabled=1
        shopt -s inherit_errexit
      ''
      + secretsEnvGen attr secrets
      + "\n"
      + "${pkgs.jq}/bin/jq >'${output}' "
      + escapeShellArg filter'
      + ''
         <<'EOF'
        ${builtins.toJSON set}
        EOF
        (( ! inherit_errexit_enabled )) && shopt -u inherit_errexit
      '';
      credentials =
        if loadCredential then
          imap1 (index: name: "${tag index name}:${secretsRaw.${name}.${attr}}") (attrNames secretsRaw)
        else
          null;
    };
in
{
  config._module.args.utils = rec {
    inherit
      escapeSystemdPath
      escapeSystemdExecArg
      recursiveGetAttrWithJqPrefix
      recursiveGetAttrsetWithJqPrefix
      genJqSecretsReplacement
      ;
    escapeSystemdExecArgs = concatMapStringsSep " " escapeSystemdExecArg;

    genJqSecretsReplacementSnippet = set: output: (genJqSecretsReplacement { } set output).script;
    # The same with "DUMMY" for each secret, to check a file at build time.
    genJqSecretsReplacementSnippetDummy =
      set: output:
      (genJqSecretsReplacement {
        secretsEnvGen =
          _: secrets:
          concatStringsSep "\n" (
            imap1 (index: name: ''
              secret${toString index}=${if secrets.${name}.quote then "\"DUMMY\"" else "DUMMY"}
              export secret${toString index}
            '') (attrNames secrets)
          );
      } set output).script;

    # A copy of one file, so that its source tree stays out of the image.
    copyFile =
      filePath:
      pkgs.runCommand (builtins.unsafeDiscardStringContext (baseNameOf filePath)) { } ''
        cp ${filePath} $out
      '';

    # A login shell's path: NixOS gives /run/current-system/sw/<shellPath>;
    # an image has no system profile, so the shell's own store path (which
    # the reference brings into the image).
    toShellPath =
      shell:
      if types.shellPackage.check shell then
        "${shell}${shell.shellPath}"
      else if types.package.check shell then
        throw "${shell} is not a shell package"
      else
        shell;

    removePackagesByName =
      packages: packagesToRemove:
      let
        names = map getName packagesToRemove;
      in
      filter (p: !(elem (getName p) names)) packages;
    disablePackageByName = package: packagesToDisable: !(elem (getName package) (map getName packagesToDisable));

    systemdUtils = {
      lib = {
        # NixOS' unit name of a path (escapeSystemdPath, by another name).
        mkPathSafeName = replaceStrings [ "@" ":" "\\" "[" "]" ] [ "-" "-" "-" "" "" ];
        inherit (sdLib) unitOption;
      };
      unitOptions = {
        inherit (sdLib) unitOption;
      };
    };
  };
}
