# The `image` option tree: what `docker inspect` shows of the image
# (name, tag, entrypoint, env, ...) and what goes into its root.
{ config, lib, ... }:
let
  inherit (lib) mkOption types literalExpression;
  # Values a user may put in `image.env`; packages and paths become
  # their store path.
  envValue = types.oneOf [
    types.str
    types.int
    types.path
    types.package
  ];
  # Docker writes sets as `{ "key": {} }`. The module system's "is not of
  # type" message shows the type's description: it shows the shape.
  dockerSet =
    example:
    types.attrsOf (types.attrsOf types.anything)
    // {
      description = "attribute set of empty attribute sets, like ${example}";
    };
  cfg = config.image;
  # The grammars, limits and messages are stated once, in Rust
  # (nix/rules.json, docs/rules.md); the image writer checks the same.
  rules = import ../nix/rules.nix { inherit lib; };
in
{
  # interface
  options.image = {
    name = mkOption {
      type = types.str;
      example = "hello";
      description = ''
        The image name: the repository part of the reference `podman load`
        and `docker load` give it (`name:tag`).
      '';
    };

    tag = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "latest";
      description = ''
        The image tag. By default the hash part of the image's store path,
        as nixpkgs' `dockerTools` does: it changes exactly when the
        content does.
      '';
    };

    entryPoint = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = literalExpression ''[ "''${pkgs.hello}/bin/hello" ]'';
      description = "The command the container runs (Docker's `Entrypoint`).";
    };

    pid1 = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        Run a plain image's program under a minimal PID 1
        (`nci-init pid1 --`, prepended to the entry point; tini's job):
        it forwards every signal to the program, reaps zombies, and exits
        with the program's code, so `podman stop` stops a program that
        was not written to be PID 1 at once instead of killing it after
        its timeout (exit 137). Only when the entry point or `cmd` is set
        and is not the s6 init (which is a PID 1 already). `false`: the
        program is PID 1 itself (for one that is written for it).
      '';
    };

    cmd = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--greeting" "hi" ];
      description = ''
        Default arguments of the entry point (Docker's `Cmd`), replaced by
        the arguments given to `podman run IMAGE ...`.
      '';
    };

    env = mkOption {
      type = types.attrsOf envValue;
      default = { };
      example = literalExpression ''{ LANG = "C.UTF-8"; SSL_CERT_FILE = "''${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"; }'';
      description = ''
        Environment variables of the container, written as `NAME=value`
        in name order. Packages and paths become their store path, which
        is then part of the image.
      '';
    };

    workingDir = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/srv";
      description = "The working directory of the entry point (Docker's `WorkingDir`).";
    };

    user = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "1000:1000";
      description = ''
        The user the entry point runs as (Docker's `User`): a name from
        the image's `/etc/passwd`, a uid, or `uid:gid`.
      '';
    };

    exposedPorts = mkOption {
      type = dockerSet ''{ "80/tcp" = { }; }'';
      default = { };
      example = {
        "80/tcp" = { };
        "53/udp" = { };
      };
      description = ''
        Ports the container listens on, Docker style (`"<port>/<proto>" = { };`),
        published by `podman run -P`.
      '';
    };

    volumes = mkOption {
      type = dockerSet ''{ "/var/lib/data" = { }; }'';
      default = { };
      example = {
        "/var/lib/data" = { };
      };
      description = "Paths the container runtime mounts a volume on (Docker's `Volumes`).";
    };

    labels = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        "org.opencontainers.image.source" = "https://example.org/app";
      };
      description = "Image labels, shown by `podman inspect`.";
    };

    stopSignal = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "SIGQUIT";
      description = "The signal `podman stop` sends first (Docker's `StopSignal`).";
    };

    created = mkOption {
      type = types.str;
      default = "1970-01-01T00:00:01Z";
      example = "2024-01-01T00:00:00Z";
      description = ''
        The image creation date (RFC 3339). The default is fixed so that
        the same inputs give the same image on any day.
      '';
    };

    interactive = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Make the image usable interactively: adds `bashInteractive` and
        `coreutils` to the image, `/bin/sh` and `/usr/bin/env`.
      '';
    };

    maxLayers = mkOption {
      type = types.int;
      default = 100;
      example = 20;
      description = ''
        The most layers the image has. Store paths get a layer each, most
        shared first; when there are more, the rest share the last store
        layer. The customisation layer (everything outside `/nix/store`)
        is always last.
      '';
    };

    run = mkOption {
      type = types.lines;
      default = "";
      example = ''
        mkdir -p var/lib/app
        echo hello > etc/motd
      '';
      description = ''
        Shell commands run at build time in the image root (the working
        directory), by `pkgs.bash` with `set -e -o pipefail`, as the
        unprivileged build user (no VM, no root). The root holds the
        image's files outside `/nix/store` (`/etc`, users, the profile,
        `/tmp`), and what the commands leave there (new, changed and
        removed files, and modes set with `chmod`) is the customisation
        layer. `PATH` has `coreutils`, `bash` and
        `environment.systemPackages`. A `tmp` directory with mode 1777 is
        always present. Owners: see `image.runOwners`.
      '';
    };

    runOwners = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            user = mkOption {
              type = types.nullOr (types.either types.str types.int);
              default = null;
              example = "app";
              description = "The owner: a user of the image's `/etc/passwd` or a uid; `null` keeps the owner.";
            };
            group = mkOption {
              type = types.nullOr (types.either types.str types.int);
              default = null;
              example = "app";
              description = "The group: a group of the image's `/etc/group` or a gid; `null` keeps the group.";
            };
            mode = mkOption {
              type = types.nullOr (types.strMatching "[0-7]{3,4}");
              default = null;
              example = "4755";
              description = ''
                Permission bits to set (octal); `null` keeps those
                `image.run` left. Needed for setuid and setgid bits, which
                Nix does not let a build set with `chmod`.
              '';
            };
            recursive = mkOption {
              type = types.bool;
              default = false;
              example = true;
              description = "Whether everything under the path gets the owner (and mode) too (`chown -R`).";
            };
          };
        }
      );
      default = { };
      example = {
        "/var/lib/app" = {
          user = "app";
          group = "app";
          recursive = true;
        };
      };
      description = ''
        Owners (and modes) of paths in the image root after `image.run`,
        by absolute path: what `chown` in dockerTools' `fakeRootCommands`
        would do.
        `image.run` runs unprivileged, so files it creates belong to root
        (uid 0) in the image unless listed here; the modes it sets with
        `chmod` are kept as they are.
      '';
    };

    from = mkOption {
      type = types.nullOr types.package;
      default = null;
      example = literalExpression "pkgs.dockerTools.pullImage { imageName = \"alpine\"; ... }";
      description = ''
        A base image archive (docker-archive or OCI layout) whose layers
        come first and whose config is the default of ours.
      '';
    };

    contents = mkOption {
      type = types.listOf (types.either types.package types.str);
      default = [ ];
      example = literalExpression "[ pkgs.cacert ]";
      description = ''
        Store paths whose closure goes into the image (each in a layer of
        its own) besides those the other options refer to, without being
        linked into `/bin` (that is `environment.systemPackages`): data
        a program finds by its store path, or a dependency to keep
        cached (docs/image-writer.md). Other modules add to it too.
      '';
    };

    rootTrees = mkOption {
      type = types.listOf types.package;
      default = [ ];
      internal = true;
      description = ''
        Generated trees copied into the image root: each has `root/` and
        an optional `manifest.json` of owners and modes (set by the users,
        etc and s6 modules).
      '';
    };

    symlinks = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = literalExpression ''{ "/bin/sh" = "''${pkgs.bash}/bin/bash"; }'';
      description = ''
        Symlinks in the image root (customisation layer), link path to
        target. A target in the store brings its closure into the image.
      '';
    };
  };

  # implementation
  # `reference`: checked where a reference is made (the archive, stream
  # and OCI outputs), not for `.init`, `.config` or `.options`.
  config.assertions =
    map (a: a // { reference = true; }) (
      rules.assertions "imageName" "image.name" [ cfg.name ]
      ++ rules.assertions "imageTag" "image.tag" (lib.optional (cfg.tag != null) cfg.tag)
    )
    ++ rules.assertions "port" "image.exposedPorts" (builtins.attrNames cfg.exposedPorts)
    ++ rules.assertions "signal" "image.stopSignal" (lib.optional (cfg.stopSignal != null) cfg.stopSignal)
    ++ rules.assertions "rfc3339" "image.created" [ cfg.created ]
    ++ rules.assertions "envName" "image.env" (builtins.attrNames cfg.env)
    ++ rules.assertions "absolutePath" "image.workingDir" (
      lib.optional (cfg.workingDir != null) cfg.workingDir
    )
    ++ rules.assertions "absolutePath" "image.volumes" (builtins.attrNames cfg.volumes)
    ++ [
      {
        assertion = cfg.maxLayers >= 1;
        message = "image.maxLayers: must be at least 1 (the customisation layer needs one), got ${toString cfg.maxLayers}";
      }
    ];
}
