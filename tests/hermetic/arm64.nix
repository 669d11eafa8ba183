# The aarch64-linux stand-ins: a few packages of the hermetic set made of
# Debian's arm64 packages (tests/setup downloads them with
# `dpkg --add-architecture arm64` and `apt-get download PKG:arm64` into
# $NCI_ARM64_DEBS, default /var/cache/nci-arm64; never installed), under
# the same attribute names, shaped like a nixpkgs cross set
# (pkgsCross.aarch64-multiplatform): host platform aarch64-linux, built
# on this machine (build platform `buildPkgs.system`), the build's
# helpers (runCommand, writeText, ...) the build platform's. What
# `lib.makeMultiArchImage` gets for "aarch64-linux" offline.
{
  lib,
  # The host's hermetic set (tests/hermetic/default.nix's pkgs).
  buildPkgs,
}:
let
  buildSystem = buildPkgs.system;
  debDir =
    let
      env = builtins.getEnv "NCI_ARM64_DEBS";
    in
    if env != "" then env else "/var/cache/nci-arm64";
  standin =
    name:
    {
      debPackages,
      binaries,
      links ? { },
    }:
    derivation {
      inherit name debDir;
      system = buildSystem;
      builder = "/bin/bash";
      args = [ ./standin-deb.sh ];
      relinkScript = ./relink.sh;
      arch = "arm64";
      debPackages = toString debPackages;
      binaries = toString binaries;
      links = toString (lib.mapAttrsToList (n: t: "${n}=${t}") links);
    };
  provided = {
    hello = standin "hello-2.12" {
      debPackages = [ "hello" "libc6" ];
      binaries = [ "/usr/bin/hello" ];
    };
    busybox = standin "busybox-1.35" {
      debPackages = [ "busybox-static" ];
      binaries = [ "/bin/busybox" ];
      links = lib.genAttrs (map (a: "bin/${a}") [ "sh" "uname" "cat" "ls" "echo" ]) (_: "busybox");
    };
  };
  # The build's helpers run here: they are the build platform's, as in a
  # nixpkgs cross set.
  buildHelpers = {
    inherit (buildPkgs)
      runCommand
      writeTextFile
      writeText
      writeTextDir
      writeScript
      writeShellScript
      writeShellScriptBin
      symlinkJoin
      formats
      writers
      ;
  };
  missing = lib.mapAttrs (
    name: _:
    throw "the offline aarch64-linux stand-ins (tests/hermetic/arm64.nix) have ${
      lib.concatStringsSep ", " (builtins.attrNames provided)
    } only, not pkgs.${name}"
  ) buildPkgs;
in
missing
// buildHelpers
// provided
// {
  inherit lib;
  system = "aarch64-linux";
  stdenv = {
    hostPlatform.system = "aarch64-linux";
    buildPlatform.system = buildSystem;
  };
  buildPackages = buildPkgs;
}
