# `users.users` and `users.groups`: the image's accounts, with NixOS'
# options and meanings. An image has no activation step, so `nci-etc users`
# writes /etc/passwd, /etc/group, /etc/shadow, /etc/subuid, /etc/subgid,
# the home directories and the per-user profiles at build time; an account
# without an id gets one derived from its name (same names, same ids).
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
    mkDefault
    mkIf
    mkMerge
    types
    literalExpression
    mapAttrs
    mapAttrsToList
    filterAttrs
    attrValues
    concatMap
    concatStringsSep
    elem
    optional
    optionalString
    ;
  cfg = config.users;
  inherit (config) ids;

  # The option path of an attribute of users.users / users.groups, quoted
  # as the module system prints it.
  optionPath =
    prefix: attr: field:
    "${prefix}.${lib.strings.escapeNixIdentifier attr}${optionalString (field != "") ".${field}"}";
  userOpt = optionPath "users.users";
  groupOpt = optionPath "users.groups";

  # The name rules, id ranges and messages, stated once in
  # rust/nci-core/src/rules.rs (nix/rules.json, docs/rules.md); nci-etc
  # checks the same with the same words.
  rules = import ../nix/rules.nix { inherit lib; };
  inherit (rules.users) systemIds normalUids;
  firstNormalUid = builtins.head normalUids;

  # The options' defaults, stated once in rust/nci-core/src/users_spec.rs
  # (nci-etc fills a field the spec leaves out with the same).
  defaults = lib.importJSON ../nix/users-defaults.json;
  userDefaults = defaults.user;
  range = r: "${toString (builtins.head r)}-${toString (lib.last r)}";

  subIdRange = idName: {
    options = {
      ${idName} = mkOption {
        type = types.int;
        example = 100001;
        description = "First id of the range.";
      };
      count = mkOption {
        type = types.int;
        default = defaults.subIdRange.count;
        example = 65534;
        description = "Number of ids in the range.";
      };
    };
  };

  userOpts =
    { name, config, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          example = false;
          description = "Whether the account exists in the image; `false` leaves it out.";
        };

        name = mkOption {
          type = types.passwdEntry types.str;
          default = name;
          defaultText = literalExpression "<name>";
          example = "alice";
          description = "The user name in /etc/passwd; the attribute name by default.";
        };

        uid = mkOption {
          type = types.nullOr types.int;
          default = userDefaults.uid;
          example = 1234;
          description = ''
            The account's uid. When null, one is derived from the user name:
            in ${range systemIds} for system users, ${range normalUids} for normal users (NixOS'
            ranges). The same name gets the same uid in every build, and
            adding a user does not renumber the others (unless two names
            hash to the same free id: pin the uid when it must never move).
          '';
        };

        isSystemUser = mkOption {
          type = types.bool;
          default = userDefaults.isSystemUser;
          example = true;
          description = ''
            Whether the account is a system account (for a service): its uid,
            when not set, is taken below ${toString firstNormalUid}. Exactly one of `isNormalUser`
            and `isSystemUser` must be true.
          '';
        };

        isNormalUser = mkOption {
          type = types.bool;
          default = userDefaults.isNormalUser;
          example = true;
          description = ''
            Whether the account is for a real user. Sets `group` to `users`,
            `createHome` to true, `home` to `/home/<name>`, `useDefaultShell`
            to true and `isSystemUser` to false. Exactly one of
            `isNormalUser` and `isSystemUser` must be true.
          '';
        };

        group = mkOption {
          type = types.str;
          default = userDefaults.group;
          example = "nginx";
          description = "The user's primary group: the name of a group of `users.groups`.";
        };

        extraGroups = mkOption {
          type = types.listOf types.str;
          default = userDefaults.extraGroups;
          example = [ "wheel" ];
          description = "The user's supplementary groups (each must be in `users.groups`).";
        };

        description = mkOption {
          type = types.passwdEntry types.str;
          default = userDefaults.description;
          example = "Alice Q. User";
          description = "The GECOS field of /etc/passwd, usually the user's full name.";
        };

        home = mkOption {
          type = types.passwdEntry types.path;
          default = userDefaults.home;
          example = "/var/lib/app";
          description = "The user's home directory.";
        };

        homeMode = mkOption {
          # Its grammar is rules.json's homeMode (the assertions below),
          # the one nci-etc applies.
          type = types.str;
          default = userDefaults.homeMode;
          example = "750";
          description = "The mode of the home directory when `createHome` is set: 1 to 5 octal digits, at most `07777`.";
        };

        createHome = mkOption {
          type = types.bool;
          default = userDefaults.createHome;
          example = true;
          description = ''
            Whether the image contains the home directory, owned by the user
            and its primary group, with mode `homeMode`.
          '';
        };

        shell = mkOption {
          type = types.nullOr (types.either types.shellPackage (types.passwdEntry types.path));
          default = userDefaults.shell;
          example = literalExpression "pkgs.bashInteractive";
          description = ''
            The login shell. A shell package (one with `shellPath`, such as
            `pkgs.bashInteractive`) is installed in the image and written
            as its path in the image root (`/bin/bash`), as NixOS writes
            `/run/current-system/sw/bin/bash`; a path is written as is.
            NixOS' default is `pkgs.shadow`'s nologin; in an image it is
            `${userDefaults.shell}`, which need not exist (login fails either way),
            so that no image carries shadow for it. `null` means the same.
          '';
        };

        useDefaultShell = mkOption {
          type = types.bool;
          default = false;
          example = true;
          description = "Whether the shell is `users.defaultUserShell`.";
        };

        hashedPassword = mkOption {
          type = types.nullOr (types.passwdEntry types.str);
          default = userDefaults.hashedPassword;
          example = "$6$jv0t0yUqGsk1zR3h$...";
          description = ''
            The password hash in /etc/shadow (generate one with `mkpasswd`);
            `""` allows login without a password. When no password option
            is set the account's password is locked (`!`). Precedence, the
            right one winning: `initialHashedPassword`, `initialPassword`,
            `hashedPassword`, `password`, `hashedPasswordFile`.
          '';
        };

        password = mkOption {
          type = types.nullOr types.str;
          default = userDefaults.password;
          example = "guest";
          description = ''
            A clear-text password, hashed (SHA-512 crypt) at build time with
            a salt derived from the user name and the password, so builds
            stay reproducible. It is world-readable in the Nix store: only
            for public accounts.
          '';
        };

        hashedPasswordFile = mkOption {
          type = types.nullOr types.str;
          default = config.passwordFile;
          defaultText = literalExpression "null";
          example = literalExpression ''"''${./alice.hash}"'';
          description = ''
            A file in the Nix store whose one line is the password hash, read
            when the image is built. NixOS reads it at each activation; an
            image has no activation, so a path outside the store (a secret
            mounted at run time) is an error.
          '';
        };

        passwordFile = mkOption {
          type = types.nullOr types.str;
          default = userDefaults.hashedPasswordFile;
          visible = false;
          description = "Deprecated alias of `hashedPasswordFile`.";
        };

        initialHashedPassword = mkOption {
          type = types.nullOr (types.passwdEntry types.str);
          default = userDefaults.initialHashedPassword;
          example = "$6$jv0t0yUqGsk1zR3h$...";
          description = ''
            The hash the account starts with. Every account of an image is
            created fresh, so this acts like `hashedPassword` with the
            lowest precedence.
          '';
        };

        initialPassword = mkOption {
          type = types.nullOr types.str;
          default = userDefaults.initialPassword;
          example = "changeme";
          description = ''
            The clear-text password the account starts with (hashed like
            `password`, world-readable in the store).
          '';
        };

        packages = mkOption {
          type = types.listOf types.package;
          default = userDefaults.packages;
          example = literalExpression "[ pkgs.hello ]";
          description = ''
            Packages for this user only, linked into
            `/etc/profiles/per-user/<name>` as NixOS does. When `image.user`
            is this user, that profile's `bin` comes first on the image's
            `PATH`.
          '';
        };

        subUidRanges = mkOption {
          type = types.listOf (types.submodule (subIdRange "startUid"));
          default = userDefaults.subUidRanges;
          example = [
            {
              startUid = 100001;
              count = 65534;
            }
          ];
          description = "Subordinate uids of the user (/etc/subuid), for user namespaces.";
        };

        subGidRanges = mkOption {
          type = types.listOf (types.submodule (subIdRange "startGid"));
          default = userDefaults.subGidRanges;
          example = [
            {
              startGid = 100001;
              count = 65534;
            }
          ];
          description = "Subordinate gids of the user (/etc/subgid), for user namespaces.";
        };

        autoSubUidGidRange = mkOption {
          type = types.bool;
          default = userDefaults.autoSubUidGidRange;
          example = true;
          description = ''
            Give the user ${toString rules.users.subIdCount} subordinate uids and gids, at
            `${toString rules.users.subIdBase} + k * ${toString rules.users.subIdCount}` with `k` derived from the user name. True
            by default for normal users without explicit ranges, as in NixOS.
          '';
        };
      };

      config = mkMerge [
        { shell = mkIf config.useDefaultShell (mkDefault cfg.defaultUserShell); }
        (mkIf config.isNormalUser {
          group = mkDefault "users";
          createHome = mkDefault true;
          home = mkDefault "${cfg.defaultUserHome}/${config.name}";
          homeMode = mkDefault userDefaults.homeMode;
          useDefaultShell = mkDefault true;
          isSystemUser = mkDefault false;
        })
        # Without mutable users, the initial password is the password.
        (mkIf (!cfg.mutableUsers && config.initialPassword != null) {
          password = mkDefault config.initialPassword;
        })
        (mkIf (!cfg.mutableUsers && config.initialHashedPassword != null) {
          hashedPassword = mkDefault config.initialHashedPassword;
        })
        (mkIf (config.isNormalUser && config.subUidRanges == [ ] && config.subGidRanges == [ ]) {
          autoSubUidGidRange = mkDefault true;
        })
      ];
    };

  groupOpts =
    { name, config, ... }:
    {
      options = {
        name = mkOption {
          type = types.passwdEntry types.str;
          default = name;
          defaultText = literalExpression "<name>";
          example = "staff";
          description = "The group name in /etc/group; the attribute name by default.";
        };

        gid = mkOption {
          type = types.nullOr types.int;
          default = defaults.group.gid;
          example = 1001;
          description = ''
            The group's gid. When null, one is derived from the group name,
            in ${range systemIds} (NixOS' range): same name, same gid, in every build.
          '';
        };

        members = mkOption {
          type = types.listOf (types.passwdEntry types.str);
          default = defaults.group.members;
          example = [ "alice" ];
          description = ''
            Users listed as members in /etc/group, besides those naming the
            group in their `extraGroups` (added automatically). Each must
            be a user of `users.users`.
          '';
        };
      };

      config.members = mapAttrsToList (_: u: u.name) (
        filterAttrs (_: u: u.enable && elem config.name u.extraGroups) cfg.users
      );
    };

  enabledUsers = filterAttrs (_: u: u.enable) cfg.users;
  groupNames = mapAttrsToList (_: g: g.name) cfg.groups;
  userNames = mapAttrsToList (_: u: u.name) enabledUsers;

  # What /etc/passwd says for a shell: a package's path in the image root
  # (its bin/ is merged into /bin), a path as is.
  shellPath =
    s:
    if s == null then
      null
    else if types.shellPackage.check s then
      s.shellPath
    else
      toString s;

  spec = {
    version = 1;
    inherit (cfg) enforceIdUniqueness;
    users = mapAttrs (_: u: {
      inherit (u)
        name
        uid
        group
        extraGroups
        description
        homeMode
        createHome
        isSystemUser
        isNormalUser
        hashedPassword
        password
        initialPassword
        initialHashedPassword
        hashedPasswordFile
        autoSubUidGidRange
        ;
      home = toString u.home;
      shell = shellPath u.shell;
      packages = map toString u.packages;
      subUidRanges = map (r: { inherit (r) startUid count; }) u.subUidRanges;
      subGidRanges = map (r: { inherit (r) startGid count; }) u.subGidRanges;
    }) enabledUsers;
    groups = mapAttrs (_: g: { inherit (g) name gid members; }) cfg.groups;
  };

  usersTree = derivation {
    name = "users";
    system = pkgs.stdenv.buildPlatform.system;
    builder = nciTools.etc;
    args = [
      "nix-builder"
      "users"
    ];
    __structuredAttrs = true;
    inherit spec;
  };

  # Accounts sharing an explicit id: for each id, the first user (in
  # attribute order) and the others.
  duplicates =
    idAttr: opt: set:
    let
      byId = lib.groupBy (a: toString a.value.${idAttr}) (
        lib.filter (a: a.value.${idAttr} != null) (lib.mapAttrsToList lib.nameValuePair set)
      );
    in
    concatMap (
      group:
      let
        first = builtins.head group;
      in
      map (
        other:
        "${opt other.name idAttr}: ${
          rules.say "sameId" {
            first = opt first.name idAttr;
            id = idAttr;
            value = toString first.value.${idAttr};
          }
        }"
      ) (builtins.tail group)
    ) (attrValues byId);

  userAssertions =
    attr: u:
    let
      opt = userOpt attr;
      isEffectivelySystemUser = u.isSystemUser || (u.uid != null && u.uid < firstNormalUid && !u.isNormalUser);
    in
    rules.assertions "userName" (opt "name") [ u.name ]
    ++ rules.assertions "homeMode" (opt "homeMode") [ u.homeMode ]
    ++ [
      {
        assertion = u.isNormalUser && u.uid != null -> u.uid >= firstNormalUid;
        message = "${opt "uid"}: ${
          rules.say "normalUserBelowRange" {
            uid = toString u.uid;
            first = toString firstNormalUid;
          }
        }";
      }
      {
        assertion = lib.xor isEffectivelySystemUser u.isNormalUser;
        message = "${opt ""}: ${rules.say "systemOrNormal" { }}";
      }
      {
        assertion = u.group != "";
        message = "${opt "group"}: ${
          rules.say "groupUnset" {
            option = opt "group";
            user = u.name;
          }
        }";
      }
      {
        assertion = u.group == "" || elem u.group groupNames;
        message = "${opt "group"}: ${rules.say "groupNotDefined" { inherit (u) group; }}";
      }
      {
        assertion = u.hashedPasswordFile == null || lib.hasPrefix "${builtins.storeDir}/" u.hashedPasswordFile;
        message = "${opt "hashedPasswordFile"}: ${toString u.hashedPasswordFile} is not in the Nix store; an image has no activation step to read it at run time (use a file in the store, e.g. \"\${./alice.hash}\", or hashedPassword)";
      }
    ];

  groupAssertions =
    attr: g:
    let
      unknown = lib.filter (m: !elem m userNames) g.members;
    in
    rules.assertions "groupName" (groupOpt attr "name") [ g.name ]
    ++ [
      {
        assertion = unknown == [ ];
        message = concatStringsSep "\n" (
          map (user: "${groupOpt attr "members"}: ${rules.say "userNotDefined" { inherit user; }}") unknown
        );
      }
    ];

  # `image.user` as `name`, `name:group`, `uid` or `uid:gid`: names must exist.
  imageUser = if config.image.user == null then [ ] else lib.splitString ":" config.image.user;
  isNumber = s: builtins.match "[0-9]+" s != null;
  imageUserName = if imageUser == [ ] then null else builtins.head imageUser;
  imageGroupName = if builtins.length imageUser > 1 then builtins.elemAt imageUser 1 else null;
  imageUserAccount = lib.findFirst (u: u.name == imageUserName) null (attrValues enabledUsers);

  passwordOptions = [
    "hashedPassword"
    "hashedPasswordFile"
    "password"
  ]
  ++ lib.optionals cfg.mutableUsers [
    "initialHashedPassword"
    "initialPassword"
  ];
in
{
  imports = [
    (lib.mkAliasOptionModule [ "users" "extraUsers" ] [ "users" "users" ])
    (lib.mkAliasOptionModule [ "users" "extraGroups" ] [ "users" "groups" ])
  ];

  # interface
  options.users = {
    users = mkOption {
      type = types.attrsOf (types.submodule userOpts);
      default = { };
      example = {
        alice = {
          isNormalUser = true;
          description = "Alice Q. User";
          extraGroups = [ "wheel" ];
        };
      };
      description = ''
        The image's user accounts, as NixOS' `users.users`. `root` (uid 0)
        and `nobody` (uid 65534) always exist.
      '';
    };

    groups = mkOption {
      type = types.attrsOf (types.submodule groupOpts);
      default = { };
      example = {
        students.gid = 1001;
        hackers = { };
      };
      description = ''
        The image's groups, as NixOS' `users.groups`. NixOS' base groups
        (`root`, `wheel`, `users`, `nogroup`, `shadow`, ...) always exist.
      '';
    };

    mutableUsers = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        NixOS' switch between merging declared accounts into existing files
        (true) and replacing them (false). An image's files are always
        written whole; as in NixOS, with `false` an `initialPassword` or
        `initialHashedPassword` is also the `password` / `hashedPassword`.
      '';
    };

    enforceIdUniqueness = mkOption {
      type = types.bool;
      default = defaults.enforceIdUniqueness;
      example = false;
      description = "Whether two users (or two groups) sharing an explicit id is an error.";
    };

    defaultUserShell = mkOption {
      type = types.either types.path types.shellPackage;
      default = "/bin/sh";
      example = literalExpression "pkgs.bashInteractive";
      description = ''
        The shell of users with `useDefaultShell` (normal users) and of
        root. A shell package is installed in the image.
      '';
    };

    defaultUserHome = mkOption {
      type = types.str;
      default = "/home";
      example = "/users";
      description = "The directory normal users' homes are created in.";
    };
  };

  # implementation
  config = {
    users.users = {
      root = {
        uid = ids.uids.root;
        description = "System administrator";
        home = "/root";
        shell = mkDefault cfg.defaultUserShell;
        group = "root";
      };
      nobody = {
        uid = ids.uids.nobody;
        isSystemUser = true;
        description = "Unprivileged account (don't use!)";
        group = "nogroup";
      };
    };

    users.groups = lib.genAttrs [
      "root"
      "wheel"
      "disk"
      "kmem"
      "tty"
      "floppy"
      "uucp"
      "lp"
      "cdrom"
      "tape"
      "audio"
      "video"
      "dialout"
      "nogroup"
      "users"
      "nixbld"
      "utmp"
      "adm"
      "input"
      "kvm"
      "render"
      "sgx"
      "shadow"
    ] (g: { gid = ids.gids.${g}; });

    # Shell packages are installed, as NixOS does.
    environment.systemPackages = lib.filter types.shellPackage.check (
      mapAttrsToList (_: u: u.shell) enabledUsers
    );

    system.build.users = usersTree;
    image.rootTrees = [ usersTree ];

    image.env = mkIf (imageUserAccount != null && imageUserAccount.packages != [ ]) {
      PATH = mkDefault "/etc/profiles/per-user/${imageUserName}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    };

    assertions =
      lib.flatten (mapAttrsToList userAssertions enabledUsers)
      ++ lib.flatten (mapAttrsToList groupAssertions cfg.groups)
      ++ map (message: {
        assertion = !cfg.enforceIdUniqueness;
        inherit message;
      }) (duplicates "uid" userOpt enabledUsers ++ duplicates "gid" groupOpt cfg.groups)
      ++ [
        {
          assertion = imageUserName == null || isNumber imageUserName || imageUserAccount != null;
          message = "image.user: ${rules.say "userNotDefined" { user = toString imageUserName; }}";
        }
        {
          assertion = imageGroupName == null || isNumber imageGroupName || elem imageGroupName groupNames;
          message = "image.user: ${rules.say "groupNotDefined" { group = toString imageGroupName; }}";
        }
      ];

    warnings =
      concatMap (
        u:
        optional (lib.length (lib.filter (o: u.${o} != null) passwordOptions) > 1) ''
          The user '${u.name}' has more than one of the options ${concatStringsSep ", " passwordOptions} set; the last of initialHashedPassword, initialPassword, hashedPassword, password, hashedPasswordFile wins.''
      ) (attrValues enabledUsers)
      # A group of `extraGroups` nobody declares is left out, as NixOS
      # does (users-groups.nix makes a group's members from the declared
      # groups only; nothing fails). NixOS is silent; the warning says
      # so, as the group may be one a NixOS module not in the image
      # declares (`docker`, `networkmanager`).
      ++ concatMap (
        attr:
        let
          u = enabledUsers.${attr};
        in
        map (
          group:
          "${userOpt attr "extraGroups"}: group '${group}' is not declared, so ${u.name} is not made a member of it (NixOS leaves it out too); declare it with users.groups.${group} = { }; if ${u.name} needs it."
        ) (lib.filter (g: !elem g groupNames) (lib.unique u.extraGroups))
      ) (lib.attrNames enabledUsers);
  };
}
