# The hermetic package set: stand-ins for the nixpkgs packages our tests
# and examples use, built offline from the host's Debian binaries, under
# nixpkgs' attribute names and bin/ layout, plus the trivial builders a
# user module may call. `import ./tests/hermetic {}` gives
# `{ pkgs, lib, tools, makeImage, nciLib }`, the same `makeImage` (and
# `lib` helpers) users get from the flake, fed these packages and the
# cargo-built helpers.
{
  # nixpkgs' lib (the module system); the tests pass -I nixpkgs-lib=...
  lib ? import <nixpkgs-lib>,
  # Where `cargo build` left the static helpers (see tests/build-tools).
  toolsDir ? ../../rust/target/nci-tools,
  system ? builtins.currentSystem,
}:
let
  standin =
    name:
    { binaries ? [ ], debPackages ? [ ], links ? { }, binPrefix ? "", libs ? [ ], libraries ? [ ], librariesOnly ? false }:
    derivation ({
      inherit name system;
      builder = "/bin/bash";
      args = [ ./standin.sh ];
      binaries = toString binaries;
      debPackages = toString debPackages;
      links = toString (lib.mapAttrsToList (n: t: "${n}=${t}") links);
    } // lib.optionalAttrs (binPrefix != "") { inherit binPrefix; }
      // lib.optionalAttrs (libs != [ ]) { libs = toString libs; }
      // lib.optionalAttrs (libraries != [ ]) { libraries = toString libraries; }
      // lib.optionalAttrs librariesOnly { librariesOnly = "1"; });

  # s6's and execline's shared libraries in store paths of their own, as
  # in nixpkgs (glibc; skalibs.lib, and s6's and execline's libraries):
  # a copy of a few s6 programs (s6.programs) then takes the libraries
  # along, not the 65 programs of the package.
  glibc = standin "glibc-2.36-standin" { libraries = [ "libc.so.6" ]; };
  skawareLibs = standin "skaware-libs-standin" {
    debPackages = [ "s6" "execline" ];
    libs = [ glibc ];
    librariesOnly = true;
  };

  # The applets of nixpkgs' busybox that our tests and guides use (a user
  # module is the same text online and offline): a server (httpd), the
  # debugging tools of docs/debugging.md, the usual file and text tools.
  busyboxApplets = [
    "sh" "ls" "cat" "id" "env" "grep" "head" "tail" "sleep" "wget" "ps" "top" "stat" "getent" "echo"
    "touch" "mkdir" "kill" "killall" "pidof" "whoami" "true" "false" "test" "printf" "rm" "wc" "find"
    "du" "df" "nc" "netstat" "pwd" "sed" "awk" "cut" "tr" "sort" "uniq" "xargs" "tee" "cp" "mv" "ln"
    "chmod" "chown" "readlink" "basename" "dirname" "date" "uname" "hostname" "which" "seq" "mktemp"
    "less" "vi" "httpd" "nslookup" "ip" "free" "uptime" "timeout" "tar" "gzip" "sha256sum" "base64"
  ];

  pkgs = {
    inherit lib system;
    stdenv.hostPlatform.system = system;

    hello = standin "hello-2.12" { binaries = [ "/usr/bin/hello" ]; };
    busybox = standin "busybox-1.35" {
      binaries = [ "/bin/busybox" ];
      links = lib.genAttrs (map (a: "bin/${a}") busyboxApplets) (_: "busybox");
    };
    bash = standin "bash-5.2" {
      binaries = [ "/bin/bash" ];
      links."bin/sh" = "bash";
    };
    # A shell package, as nixpkgs' (`users.users.<name>.shell`).
    bashInteractive = pkgs.bash // { shellPath = "/bin/bash"; };
    coreutils = standin "coreutils-9.1" { debPackages = [ "coreutils" ]; };
    # Debian builds s6 with /usr/bin/ compiled in (s6-svscan runs
    # /usr/bin/s6-supervise); like a build without that prefix, the
    # stand-in finds its programs on PATH (nci-init puts s6 there).
    s6 = standin "s6-2.11" { debPackages = [ "s6" ]; binPrefix = "/usr/bin/"; libs = [ skawareLibs glibc ]; };
    execline = standin "execline-2.9" { debPackages = [ "execline" ]; libs = [ skawareLibs glibc ]; };
    # nixpkgs' static (musl) builds, which s6.package and s6.shell default
    # to. Debian's bash-static (glibc, statically linked) stands in for
    # pkgsStatic.bash: no library in its closure, as nixpkgs'. Offline
    # there are no sources to build s6, and Debian has no static s6, so
    # s6 and execline are the dynamic stand-ins above (glibc and all).
    pkgsStatic = {
      inherit (pkgs) s6 execline;
      bash = standin "bash-static-5.2" {
        binaries = [ "/bin/bash-static" ];
        links."bin/bash" = "bash-static";
        links."bin/sh" = "bash-static";
      };
    };
    nginx = standin "nginx-1.22" { binaries = [ "/usr/sbin/nginx" ]; };
    # The host's CA bundle, where nixpkgs' cacert keeps it.
    cacert = derivation {
      name = "nss-cacert-standin";
      inherit system;
      builder = "/bin/bash";
      args = [ "-euc" "PATH=/usr/bin:/bin; mkdir -p $out/etc/ssl/certs; cp /etc/ssl/certs/ca-certificates.crt $out/etc/ssl/certs/ca-bundle.crt" ];
    };
    nix = standin "nix-2.8" {
      binaries = [ "/usr/bin/nix" ];
      links = lib.genAttrs (map (n: "bin/nix-${n}") [ "build" "channel" "collect-garbage" "copy-closure" "daemon" "env" "hash" "instantiate" "prefetch-url" "shell" "store" ]) (_: "nix");
    };

    # nixpkgs' trivial builders, with the stand-in bash and coreutils.
    runCommand =
      name: env: script:
      derivation (
        {
          inherit name system;
          builder = "${pkgs.bash}/bin/bash";
          args = [ "-euc" script ];
          PATH = "${pkgs.coreutils}/bin:${pkgs.bash}/bin";
        }
        // env
      );
    writeTextFile =
      { name, text, executable ? false, destination ? "" }:
      pkgs.runCommand name { inherit text; passAsFile = [ "text" ]; } ''
        target="$out${destination}"
        mkdir -p "$(dirname "$target")"
        cp "$textPath" "$target"
        ${lib.optionalString executable ''chmod +x "$target"''}
      '';
    writeText = name: text: pkgs.writeTextFile { inherit name text; };
    writeScript = name: text: pkgs.writeTextFile { inherit name text; executable = true; };
    writeShellScript = name: text: pkgs.writeScript name "#!${pkgs.bash}/bin/bash\n${text}";
    writeShellScriptBin =
      name: text:
      pkgs.writeTextFile {
        inherit name;
        executable = true;
        destination = "/bin/${name}";
        text = "#!${pkgs.bash}/bin/bash\n${text}";
      };
    symlinkJoin =
      { name, paths, ... }:
      pkgs.runCommand name { } ''
        mkdir -p $out
        for p in ${toString paths}; do cp -rs --no-preserve=mode "$p/." "$out"; done
      '';
  };

  tools = import ../../nix/tools-prebuilt.nix { dir = toolsDir; };
  # Offline stand-ins for the NixOS modules of nix/nixos-modules.nix.
  nixosModules = [ ../modules/nginx-fixture.nix ];
  makeImage = import ../../nix/make-image.nix {
    inherit lib;
    pkgsFor = _: pkgs;
    toolsFor = _: tools;
    inherit nixosModules;
    defaultSystem = system;
  };
in
{
  inherit pkgs lib tools nixosModules makeImage;
  # The `lib` users get (nix/lib.nix) over this package set: makeImage,
  # imageHash, imageRef, makeContainerTest, containerTestModule.
  nciLib = import ../../nix/lib.nix { inherit lib makeImage; };
}
