# NixOS' renamed and removed options under the option trees we declare
# (nix.*, users.*, environment.*, networking.*, security.*, system.*,
# systemd.*): a module written for NixOS (or for the original project,
# whose nix image set `nix.useSandbox`) gets the alias with NixOS' own
# warning, or NixOS' own removal message, from the same lib functions.
#
# The list is NixOS' own mkRenamedOptionModule(With)/mkRemovedOptionModule
# calls, read in nixpkgs (mid-2026, close to nixos-26.05):
# nixos/modules/config/nix.nix, services/system/nix-daemon.nix,
# config/users-groups.nix, config/networking.nix, config/nsswitch.nix,
# system/boot/systemd.nix, rename.nix. Every target is declared (the
# daemon's and manager's ones in modules/nixos-compat.nix, accepted and
# not applied): an alias to an undeclared option could only end in
# "option does not exist".
{ config, lib, ... }:
let
  inherit (lib)
    mapAttrsToList
    mkAliasOptionModule
    mkRemovedOptionModule
    mkRenamedOptionModule
    mkRenamedOptionModuleWith
    ;

  # nixos/modules/config/nix.nix: the `nix.*` settings of before NixOS
  # 22.05, now keys of `nix.settings`.
  legacyConfMappings = {
    allowedUsers = "allowed-users";
    autoOptimiseStore = "auto-optimise-store";
    binaryCachePublicKeys = "trusted-public-keys";
    binaryCaches = "substituters";
    buildCores = "cores";
    maxJobs = "max-jobs";
    requireSignedBinaryCaches = "require-sigs";
    sandboxPaths = "extra-sandbox-paths";
    systemFeatures = "system-features";
    trustedBinaryCaches = "trusted-substituters";
    trustedUsers = "trusted-users";
    useSandbox = "sandbox";
  };
in
{
  imports = [
    # nixos/modules/config/nix.nix
    (mkRenamedOptionModuleWith {
      sinceRelease = 2003;
      from = [
        "nix"
        "useChroot"
      ];
      to = [
        "nix"
        "useSandbox"
      ];
    })
    (mkRenamedOptionModuleWith {
      sinceRelease = 2003;
      from = [
        "nix"
        "chrootDirs"
      ];
      to = [
        "nix"
        "sandboxPaths"
      ];
    })
    # nixos/modules/services/system/nix-daemon.nix
    (mkRenamedOptionModuleWith {
      sinceRelease = 2205;
      from = [
        "nix"
        "daemonIONiceLevel"
      ];
      to = [
        "nix"
        "daemonIOSchedPriority"
      ];
    })
    (mkRenamedOptionModuleWith {
      sinceRelease = 2211;
      from = [
        "nix"
        "readOnlyStore"
      ];
      to = [
        "boot"
        "readOnlyNixStore"
      ];
    })
    (mkRemovedOptionModule [ "nix" "daemonNiceLevel" ] "Consider nix.daemonCPUSchedPolicy instead.")

    # nixos/modules/config/users-groups.nix
    (mkRenamedOptionModule
      [ "security" "initialRootPassword" ]
      [ "users" "users" "root" "initialHashedPassword" ]
    )

    # nixos/modules/config/networking.nix
    (mkRemovedOptionModule [ "networking" "hostConf" ] "Use environment.etc.\"host.conf\" instead.")

    # nixos/modules/config/nsswitch.nix
    (mkRenamedOptionModule [ "system" "nssHosts" ] [ "system" "nssDatabases" "hosts" ])

    # nixos/modules/system/boot/systemd.nix
    (mkRenamedOptionModule [ "boot" "systemd" "sockets" ] [ "systemd" "sockets" ])
    (mkRenamedOptionModule [ "boot" "systemd" "targets" ] [ "systemd" "targets" ])
    (mkRenamedOptionModule [ "boot" "systemd" "services" ] [ "systemd" "services" ])
    (mkRenamedOptionModule [ "jobs" ] [ "systemd" "services" ])
    (mkRemovedOptionModule [ "systemd" "generator-packages" ] "Use systemd.packages instead.")
    (mkRemovedOptionModule [ "systemd" "enableUnifiedCgroupHierarchy" ] ''
      In 256 support for cgroup v1 ('legacy' and 'hybrid' hierarchies) is now considered obsolete and systemd by default will refuse to boot under it.
      To forcibly reenable cgroup v1 support, you can set boot.kernelParams = [ "systemd.unified_cgroup_hierarchy=0" "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1" ].
      NixOS does not officially support this configuration and might cause your system to be unbootable in future versions. You are on your own.
    '')
    (mkRemovedOptionModule [ "systemd" "extraConfig" ] "Use systemd.settings.Manager instead.")
    (mkRemovedOptionModule [
      "systemd"
      "sleep"
      "extraConfig"
    ] "Use systemd.sleep.settings.Sleep instead.")
    (mkRenamedOptionModule
      [ "systemd" "watchdog" "device" ]
      [ "systemd" "settings" "Manager" "WatchdogDevice" ]
    )
    (mkRenamedOptionModule
      [ "systemd" "watchdog" "runtimeTime" ]
      [ "systemd" "settings" "Manager" "RuntimeWatchdogSec" ]
    )
    (mkRenamedOptionModule
      [ "systemd" "watchdog" "rebootTime" ]
      [ "systemd" "settings" "Manager" "RebootWatchdogSec" ]
    )
    (mkRenamedOptionModule
      [ "systemd" "watchdog" "kexecTime" ]
      [ "systemd" "settings" "Manager" "KExecWatchdogSec" ]
    )
    (mkRemovedOptionModule [
      "systemd"
      "enableCgroupAccounting"
    ] "To disable cgroup accounting, disable systemd.settings.Manager.*Accounting directly.")

    # nixos/modules/rename.nix
    (mkAliasOptionModule [ "environment" "checkConfigurationOptions" ] [ "_module" "check" ])
    (mkRemovedOptionModule [ "environment" "blcr" "enable" ] "The BLCR module has been removed")
    (mkRemovedOptionModule [ "environment" "noXlibs" ] ''
      The environment.noXlibs option was removed, as it often caused surprising breakages for new users.
      If you need its functionality, you can apply similar overlays in your own config.
    '')
    (mkRemovedOptionModule [ "networking" "vpnc" ] "Use environment.etc.\"vpnc/service.conf\" instead.")
    (mkRemovedOptionModule [
      "networking"
      "wicd"
    ] "The corresponding package was removed from nixpkgs.")
    (mkRemovedOptionModule [ "security" "hideProcessInformation" ] ''
      The hidepid module was removed, since the underlying machinery
      is broken when using cgroups-v2.
    '')
  ]
  # nixos/modules/config/nix.nix
  ++ mapAttrsToList (
    old: new:
    mkRenamedOptionModuleWith {
      sinceRelease = 2205;
      from = [
        "nix"
        old
      ];
      to = [
        "nix"
        "settings"
        new
      ];
    }
  ) legacyConfMappings;

  # nixos/modules/config/users-groups.nix: `passwordFile` is an alias of
  # `hashedPasswordFile` (modules/users.nix), with this warning.
  config.warnings = lib.filter (w: w != null) (
    mapAttrsToList (
      name: user:
      if user.passwordFile != null then
        ''The option `users.users."${name}".passwordFile' has been renamed ''
        + ''to `users.users."${name}".hashedPasswordFile'.''
      else
        null
    ) config.users.users
  );
}
