# `environment.etc`: files in the image's /etc, with NixOS' options.
# `nci-etc etc` assembles them at build time: a `symlink` entry links
# straight to its source in the store (NixOS goes through /etc/static);
# any other mode makes a copy with that mode and owner.
{
  config,
  lib,
  pkgs,
  nciTools,
  ...
}:
let
  inherit (lib)
    mkOption
    mkIf
    types
    literalExpression
    filterAttrs
    mapAttrs
    ;
  system = pkgs.stdenv.buildPlatform.system;
  # The entries' defaults, stated once in rust/nci-core/src/etc_spec.rs
  # (nci-etc fills a field the spec leaves out with the same).
  defaults = (lib.importJSON ../nix/etc-defaults.json).entry;
  textFile = import ../nix/text-file.nix { inherit nciTools system; };

  entryOpts =
    {
      name,
      config,
      options,
      ...
    }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          example = false;
          description = "Whether this file is in the image's /etc.";
        };

        target = mkOption {
          type = types.str;
          default = name;
          defaultText = literalExpression "<name>";
          example = "nginx/nginx.conf";
          description = ''
            The path below /etc (the attribute name by default). It must be
            relative and stay inside /etc: an absolute target or one with
            `..` is an error.
          '';
        };

        text = mkOption {
          type = types.nullOr types.lines;
          default = null;
          example = "Welcome!\n";
          description = "The file's content; sets `source` to a store file holding it.";
        };

        source = mkOption {
          type = types.path;
          example = literalExpression ''"''${pkgs.nginx}/conf/mime.types"'';
          description = ''
            The file (or, for `mode = "symlink"`, also a directory) the
            entry links to or copies. A local path is copied to the store.
          '';
        };

        mode = mkOption {
          type = types.str;
          default = defaults.mode;
          example = "0600";
          description = ''
            `symlink`: /etc/<target> is a symlink to `source`. Anything
            else is an octal mode: the file is copied into the image with
            that mode, owned by `user` and `group`.
          '';
        };

        uid = mkOption {
          type = types.int;
          default = defaults.uid;
          example = 1000;
          description = "The owner's uid of a copied file (`user` takes precedence).";
        };

        gid = mkOption {
          type = types.int;
          default = defaults.gid;
          example = 100;
          description = "The group's gid of a copied file (`group` takes precedence).";
        };

        user = mkOption {
          type = types.str;
          default = "+${toString config.uid}";
          defaultText = literalExpression ''"+''${toString uid}"'';
          example = "alice";
          description = ''
            The owner of a copied file: a user of `users.users`, looked up
            in the image's /etc/passwd, or `+<uid>`.
          '';
        };

        group = mkOption {
          type = types.str;
          default = "+${toString config.gid}";
          defaultText = literalExpression ''"+''${toString gid}"'';
          example = "users";
          description = ''
            The group of a copied file: a group of `users.groups`, looked up
            in the image's /etc/group, or `+<gid>`.
          '';
        };
      };

      config.source = mkIf (config.text != null) (
        lib.mkDerivedConfig options.text (
          text: textFile "etc-${lib.strings.sanitizeDerivationName (baseNameOf name)}" [ { inherit text; } ]
        )
      );
    };

  spec = {
    version = 1;
    storeDir = builtins.storeDir;
    entries = mapAttrs (_: e: {
      inherit (e)
        target
        mode
        user
        group
        ;
      # Interpolation copies a local path to the store, as NixOS does.
      source = "${e.source}";
    }) (filterAttrs (_: e: e.enable) config.environment.etc);
  };

  etcTree = derivation {
    name = "etc";
    inherit system spec;
    builder = nciTools.etc;
    args = [
      "nix-builder"
      "etc"
    ];
    __structuredAttrs = true;
    # Owners are looked up in its /etc/passwd and /etc/group; its files
    # may not be overwritten.
    users = config.system.build.users;
  };
in
{
  # interface
  options.environment.etc = mkOption {
    type = types.attrsOf (types.submodule entryOpts);
    default = { };
    example = literalExpression ''
      {
        "nginx/nginx.conf".source = ./nginx.conf;
        motd.text = "Welcome!";
        "app/secret.conf" = { text = "key=1"; mode = "0600"; user = "app"; };
      }
    '';
    description = ''
      Files in the image's /etc, as NixOS' `environment.etc`. Two entries
      for one path, or a file where another entry needs a directory, are
      errors naming both entries.
    '';
  };

  # implementation
  config = {
    system.build.etc = etcTree;
    image.rootTrees = [ etcTree ];
  };
}
