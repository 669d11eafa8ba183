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
  # A tree laid out like nixpkgs' with (some of) NixOS' own service
  # modules under nixos/modules/ (../shared/nixpkgs-modules of the
  # project's root; tests/lib.sh finds it): nix/nixos-modules.nix takes
  # from it the modules it lists, exactly as from a nixpkgs checkout.
  # null: the NCI_NIXPKGS_MODULES environment variable, else
  # ../shared/nixpkgs-modules beside the project, else none.
  nixpkgsModules ? null,
  # Where tests/hermetic/skaware-static caches the static s6 it builds
  # (./skaware-static.nix); null: $NCI_SKAWARE_CACHE, else
  # /var/cache/nix-container-images.
  skawareCache ? null,
}:
let
  standin =
    name:
    { binaries ? [ ], debPackages ? [ ], links ? { }, files ? { }, paths ? { }, binPrefix ? "", libs ? [ ], libraries ? [ ], librariesOnly ? false }:
    derivation ({
      inherit name system;
      builder = "/bin/bash";
      args = [ ./standin.sh ];
      relinkScript = ./relink.sh;
      binaries = toString binaries;
      debPackages = toString debPackages;
      links = toString (lib.mapAttrsToList (n: t: "${n}=${t}") links);
      files = toString (lib.mapAttrsToList (n: f: "${n}=${f}") files);
      paths = toString (lib.mapAttrsToList (n: t: "${n}=${t}") paths);
    } // lib.optionalAttrs (binPrefix != "") { inherit binPrefix; }
      // lib.optionalAttrs (libs != [ ]) { libs = toString libs; }
      // lib.optionalAttrs (libraries != [ ]) { libraries = toString libraries; }
      // lib.optionalAttrs librariesOnly { librariesOnly = "1"; });

  # pkgsStatic.s6 and pkgsStatic.execline where they are built here.
  skawareStatic = import ./skaware-static.nix {
    inherit lib system standin;
    cache = skawareCache;
  };

  # A stand-in with nixpkgs' `pname` and `version` (and
  # `meta.mainProgram` where modules call `lib.getExe` on it).
  versioned =
    { pname, version, mainProgram ? null }:
    args:
    standin "${pname}-${version}" args
    // { inherit pname version; }
    // lib.optionalAttrs (mainProgram != null) { meta.mainProgram = mainProgram; };

  # s6's and execline's shared libraries in store paths of their own, as
  # in nixpkgs (glibc; skalibs.lib, and s6's and execline's libraries):
  # a copy of a few s6 programs (s6.programs) then takes the libraries
  # along, not the 65 programs of the package.
  # glibc carries its NSS modules of DNS and files beside libc, as in
  # nixpkgs' glibc: nix (below) dlopens libnss_dns.so.2 through its
  # rpath, which names glibc, and warns "unable to load nss_dns backend"
  # where it is missing.
  glibc = standin "glibc-2.36-standin" { libraries = [ "libc.so.6" "libnss_dns.so.2" "libnss_files.so.2" ]; };
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
    # Native builds: modules compare the two (caddy formats its
    # Caddyfile at build time when they are equal).
    stdenv = rec {
      hostPlatform.system = system;
      buildPlatform = hostPlatform;
    };

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
    # With coreutils, NixOS' default PATH of every service: modules'
    # scripts call grep, sed and find (postgresql-setup's `| grep -q 1`).
    gnugrep = standin "gnugrep-3.8" { binaries = [ "/bin/grep" ]; };
    gnused = standin "gnused-4.9" { binaries = [ "/bin/sed" ]; };
    findutils = standin "findutils-4.9.0" { binaries = [ "/usr/bin/find" "/usr/bin/xargs" ]; };
    # util-linux's syslog client, `logger` (Debian 12's util-linux 2.38.1,
    # packaged in bsdutils): what tests and guides log to /dev/log with.
    util-linux = standin "util-linux-2.38.1" { binaries = [ "/usr/bin/logger" ]; };
    # Debian builds s6 with /usr/bin/ compiled in (s6-svscan runs
    # /usr/bin/s6-supervise); like a build without that prefix, the
    # stand-in finds its programs on PATH (nci-init puts s6 there).
    s6 = standin "s6-2.11" { debPackages = [ "s6" ]; binPrefix = "/usr/bin/"; libs = [ skawareLibs glibc ]; };
    execline = standin "execline-2.9" { debPackages = [ "execline" ]; libs = [ skawareLibs glibc ]; };
    # nixpkgs' static (musl) builds, which s6.package and s6.shell default
    # to. Debian's bash-static (glibc, statically linked) stands in for
    # pkgsStatic.bash: no library in its closure, as nixpkgs'. s6 and
    # execline: their upstream sources (Ubuntu noble's orig tarballs) built static with musl
    # (./skaware-static.nix, built by tests/setup); where they are not
    # built, the dynamic stand-ins above (glibc and all).
    pkgsStatic = {
      inherit (if skawareStatic.built then skawareStatic else pkgs) s6 execline;
      bash = standin "bash-static-5.2" {
        binaries = [ "/bin/bash-static" ];
        links."bin/bash" = "bash-static";
        links."bin/sh" = "bash-static";
      };
    };
    nginx = pkgs.nginxStable;
    # Shaped like nixpkgs' nginx (what NixOS' nginx module reads: pname,
    # version, modules, override, conf/), from Debian's nginx-light 1.22.1,
    # its temporary directories moved to /tmp as nixpkgs builds them
    # (/tmp/nginx_proxy, ...; the client body's is /tmp/nginx_body, as
    # nixpkgs' /tmp/nginx_client_body is longer than Debian's path).
    # The stand-in cannot add third-party modules: asking for one fails
    # the evaluation, naming it.
    nginxStable =
      let
        confFiles = [ "fastcgi.conf" "fastcgi_params" "koi-utf" "koi-win" "mime.types" "scgi_params" "uwsgi_params" "win-utf" ];
        withModules =
          modules:
          if modules != [ ] then
            throw "the offline stand-in nginx has no third-party modules (asked for: ${toString (map (m: m.name or "?") modules)})"
          else
            standin "nginx-1.22.1" {
              binaries = [ "/usr/sbin/nginx" ];
              files = lib.genAttrs (map (f: "conf/${f}") confFiles) (f: "/etc/nginx/${lib.removePrefix "conf/" f}");
              paths = {
                "/var/lib/nginx/body" = "/tmp/nginx_body";
                "/var/lib/nginx/proxy" = "/tmp/nginx_proxy";
                "/var/lib/nginx/fastcgi" = "/tmp/nginx_fastcgi";
                "/var/lib/nginx/uwsgi" = "/tmp/nginx_uwsgi";
                "/var/lib/nginx/scgi" = "/tmp/nginx_scgi";
              };
            }
            // {
              pname = "nginx";
              version = "1.22.1";
              inherit modules;
              override = f: withModules ((if builtins.isFunction f then f { inherit modules; } else f).modules or modules);
            };
      in
      withModules [ ];
    nginxModules = { };
    # nixpkgs' mailcap: the media types, also in nginx's format.
    mailcap = standin "mailcap-2.1.54" {
      files = {
        "etc/mime.types" = "/etc/mime.types";
        "etc/nginx/mime.types" = "/etc/nginx/mime.types";
      };
    };
    redis = versioned { pname = "redis"; version = "7.0.15"; } { binaries = [ "/usr/bin/redis-server" "/usr/bin/redis-cli" ]; };
    memcached = versioned { pname = "memcached"; version = "1.6.18"; } { binaries = [ "/usr/bin/memcached" ]; };

    # NixOS modules beyond nginx, redis and memcached (docs/systemd.md,
    # "Real modules tried"): Debian 12's binaries under nixpkgs' names
    # and layout, `meta.mainProgram` where modules call `lib.getExe`.
    haproxy = versioned { pname = "haproxy"; version = "2.6.12"; mainProgram = "haproxy"; } { binaries = [ "/usr/sbin/haproxy" ]; };
    tinyproxy = versioned { pname = "tinyproxy"; version = "1.11.1"; mainProgram = "tinyproxy"; } { binaries = [ "/usr/bin/tinyproxy" ]; };
    dnsmasq = versioned { pname = "dnsmasq"; version = "2.90"; mainProgram = "dnsmasq"; } { binaries = [ "/usr/sbin/dnsmasq" ]; };
    # Debian builds unbound with systemd's notify support, as nixpkgs'
    # unbound-with-systemd (the module's default, Type=notify).
    unbound-with-systemd = versioned { pname = "unbound"; version = "1.17.1"; mainProgram = "unbound"; } {
      binaries = map (b: "/usr/sbin/${b}") [ "unbound" "unbound-anchor" "unbound-checkconf" "unbound-control" "unbound-control-setup" ];
    };
    unbound = pkgs.unbound-with-systemd;
    # nixpkgs' postgresql, from Debian's 15: laid out as Debian's own
    # relocatable tree (lib/postgresql/15/bin, share/postgresql/15,
    # lib/postgresql/15/lib), which postgres finds from its executable's
    # resolved path; bin/ links into it. No extensions, no JIT.
    postgresql_15 =
      let
        version = "15.18";
        programs = [ "postgres" "initdb" "psql" "pg_ctl" "pg_isready" "pg_dump" "pg_dumpall" "createdb" "createuser" "dropdb" "dropuser" ];
        bins = standin "postgresql-programs-${version}" {
          binaries = map (b: "/usr/lib/postgresql/15/bin/${b}") programs;
        };
        self =
          derivation {
            name = "postgresql-${version}";
            inherit system;
            builder = "/bin/bash";
            args = [
              "-euc"
              ''
                PATH=/usr/bin:/bin
                mkdir -p $out/bin $out/lib/postgresql/15/bin $out/lib/postgresql/15/lib $out/share/postgresql
                for p in ${toString programs}; do
                  cp ${bins}/bin/$p $out/lib/postgresql/15/bin/
                  ln -s ../lib/postgresql/15/bin/$p $out/bin/$p
                done
                cp /usr/lib/postgresql/15/lib/*.so $out/lib/postgresql/15/lib/
                chmod u+w $out/lib/postgresql/15/lib/*.so
                for so in $out/lib/postgresql/15/lib/*.so; do patchelf --set-rpath ${bins}/lib "$so"; done
                cp -r /usr/share/postgresql/15 $out/share/postgresql/15
                chmod -R a-w $out
              ''
            ];
          }
          // {
            pname = "postgresql";
            inherit version;
            psqlSchema = "15";
            withJIT = throw "the offline stand-in postgresql has no JIT";
            withoutJIT = self;
            withPackages = f: if f { } == [ ] then self else throw "the offline stand-in postgresql has no extensions";
            installedExtensions = [ ];
            meta.maintainers = [ ];
            meta.mainProgram = "postgres";
          };
      in
      self;
    postgresql = pkgs.postgresql_15;

    # nixpkgs' lighttpd: sbin/lighttpd, its modules, and the mime.conf
    # its doc tree has (Debian's script writes it from /etc/mime.types).
    # Debian's lighttpd has /usr/lib/lighttpd compiled in as its module
    # directory: sbin/lighttpd names this one with `-m`.
    lighttpd =
      let
        version = "1.4.69";
        bins = standin "lighttpd-programs-${version}" { binaries = [ "/usr/sbin/lighttpd" ]; };
      in
      derivation {
        name = "lighttpd-${version}";
        inherit system;
        builder = "/bin/bash";
        args = [
          "-euc"
          ''
            PATH=/usr/bin:/bin
            mkdir -p $out/sbin $out/lib $out/share/lighttpd/doc/config/conf.d
            cp /usr/lib/lighttpd/*.so $out/lib/
            chmod u+w $out/lib/*.so
            for so in $out/lib/*.so; do patchelf --set-rpath ${bins}/lib "$so"; done
            printf '#!${pkgs.bash}/bin/bash
exec ${bins}/bin/lighttpd -m %s "$@"
' $out/lib > $out/sbin/lighttpd
            chmod +x $out/sbin/lighttpd
            perl /usr/share/lighttpd/create-mime.conf.pl > $out/share/lighttpd/doc/config/conf.d/mime.conf
          ''
        ];
      }
      // {
        pname = "lighttpd";
        inherit version;
        meta.mainProgram = "lighttpd";
      };

    # nixpkgs' caddy ships upstream's unit (lib/systemd/system), which
    # NixOS' module runs through systemd.packages; Debian's is the same
    # file, its /usr/bin/caddy made this package's.
    caddy =
      let
        version = "2.6.2";
        bins = standin "caddy-program-${version}" { binaries = [ "/usr/bin/caddy" ]; };
      in
      derivation {
        name = "caddy-${version}";
        inherit system;
        builder = "/bin/bash";
        args = [
          "-euc"
          ''
            PATH=/usr/bin:/bin
            mkdir -p $out/bin $out/lib/systemd/system
            ln -s ${bins}/bin/caddy $out/bin/caddy
            for u in caddy caddy-api; do
              sed "s|/usr/bin/caddy|$out/bin/caddy|g" /lib/systemd/system/$u.service > $out/lib/systemd/system/$u.service
            done
          ''
        ];
      }
      // {
        pname = "caddy";
        inherit version;
        meta.mainProgram = "caddy";
      };

    jq = versioned { pname = "jq"; version = "1.6"; mainProgram = "jq"; } { binaries = [ "/usr/bin/jq" ]; };

    writers = {
      # As nixpkgs' writers.makeScriptWriter: the text behind a
      # `#! interpreter` line, executable, `check` run on the file at
      # build time (squid's configuration is checked with `squid -k parse`).
      makeScriptWriter =
        { interpreter, check ? "", ... }:
        nameOrPath: content:
        let
          name = lib.last (lib.splitString "/" nameOrPath);
          file = pkgs.writeTextFile {
            inherit name;
            executable = true;
            destination = lib.optionalString (lib.hasPrefix "/" nameOrPath) nameOrPath;
            text = "#! ${interpreter}
${content}";
          };
        in
        if check == "" then
          file
        else
          pkgs.runCommand name { } ''
            target=${file}${lib.optionalString (lib.hasPrefix "/" nameOrPath) nameOrPath}
            ${check} "$target"
            cp -r ${file} $out
          '';

      # As nixpkgs' writers.writeNginxConfig, less its re-indenting and
      # its gixy check (Debian has no gixy): the text, blank lines dropped.
      writeNginxConfig =
        name: text:
        pkgs.runCommand name { inherit text; passAsFile = [ "text" ]; } ''
          /bin/sed '/^\s*$/d' "$textPath" > $out
        '';
    };

    # What NixOS modules read of nixpkgs' kernel package set (its version:
    # nginx turns kTLS on from 4.17); Debian 12's kernel. Never built.
    linuxPackages = rec {
      kernel = {
        pname = "linux";
        version = "6.1.0";
        modDirVersion = "6.1.0";
      };
      kernelAtLeast = lib.versionAtLeast kernel.version;
      kernelOlder = lib.versionOlder kernel.version;
    };

    # nixpkgs' runtimeShell (a string) and its package.
    runtimeShellPackage = pkgs.bash;
    runtimeShell = "${pkgs.bash}/bin/bash";

    # nixpkgs' `formats`: `type` for a `settings` option and `generate`
    # for its file, for the formats lib's generators can write.
    formats =
      let
        inherit (lib) types;
        jsonValue =
          let
            valueType = types.nullOr (types.oneOf [ types.bool types.int types.float types.str types.path (types.attrsOf valueType) (types.listOf valueType) ]) // { description = "JSON value"; };
          in
          valueType;
        atom = types.nullOr (types.oneOf [ types.bool types.int types.float types.str types.path ]);
      in
      {
        json = _: {
          type = jsonValue;
          generate = name: value: pkgs.writeText name (builtins.toJSON value);
        };
        # JSON is YAML 1.2.
        yaml = _: {
          type = jsonValue;
          generate = name: value: pkgs.writeText name (builtins.toJSON value);
        };
        ini = { listsAsDuplicateKeys ? false, ... }@args: {
          type = types.attrsOf (types.attrsOf (if listsAsDuplicateKeys then types.coercedTo atom lib.toList (types.listOf atom) else atom));
          generate = name: value: pkgs.writeText name (lib.generators.toINI (removeAttrs args [ "listToValue" ]) value);
        };
        keyValue = { listsAsDuplicateKeys ? false, ... }@args: {
          type = types.attrsOf (if listsAsDuplicateKeys then types.coercedTo atom lib.toList (types.listOf atom) else atom);
          generate = name: value: pkgs.writeText name (lib.generators.toKeyValue (removeAttrs args [ "listToValue" ]) value);
        };
      };
    # The host's CA bundle, where nixpkgs' cacert keeps it.
    cacert = derivation {
      name = "nss-cacert-standin";
      inherit system;
      builder = "/bin/bash";
      args = [ "-euc" "PATH=/usr/bin:/bin; mkdir -p $out/etc/ssl/certs; cp /etc/ssl/certs/ca-certificates.crt $out/etc/ssl/certs/ca-bundle.crt" ];
    };
    # Linked to the glibc stand-in, as nixpkgs' nix is to glibc (its
    # NSS module is found there).
    nix = standin "nix-2.8" {
      binaries = [ "/usr/bin/nix" ];
      libs = [ glibc ];
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
          # stdenv's tools: coreutils, bash, sed, grep, find.
          PATH = lib.makeBinPath [ pkgs.coreutils pkgs.bash pkgs.gnused pkgs.gnugrep pkgs.findutils ];
        }
        // env
      );
    # Also takes nixpkgs' other arguments (checkPhase, meta, ...), unused.
    writeTextFile =
      { name, text, executable ? false, destination ? "", ... }:
      pkgs.runCommand name { inherit text; passAsFile = [ "text" ]; } ''
        target="$out${destination}"
        mkdir -p "$(dirname "$target")"
        cp "$textPath" "$target"
        ${lib.optionalString executable ''chmod +x "$target"''}
      '';
    writeText = name: text: pkgs.writeTextFile { inherit name text; };
    writeTextDir = path: text: pkgs.writeTextFile { name = baseNameOf path; inherit text; destination = "/${path}"; };
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
        # The first package that has a file wins (nixpkgs' lndir keeps it too).
        for p in ${toString paths}; do cp -rsn --no-preserve=mode "$p/." "$out"; done
      '';
  };

  tools = import ../../nix/tools-prebuilt.nix { dir = toolsDir; };
  # NixOS' own modules of nix/nixos-modules.nix, from the copies' tree.
  modulesTree =
    if nixpkgsModules != null then
      nixpkgsModules
    else if builtins.getEnv "NCI_NIXPKGS_MODULES" != "" then
      /. + builtins.getEnv "NCI_NIXPKGS_MODULES"
    # Beside the project, as tests/find-nixos-modules looks first: a
    # plain `nix-build tests/build.nix` finds them too.
    else if builtins.pathExists ../../../shared/nixpkgs-modules/nixos/modules then
      ../../../shared/nixpkgs-modules
    else
      null;
  nixosModules = lib.optionals (modulesTree != null) (
    import ../../nix/nixos-modules.nix {
      nixpkgs = modulesTree;
      onlyPresent = true;
    }
  );
  # The package set of each system an image is made for: this one, or
  # for aarch64-linux the arm64 stand-ins (lib.makeMultiArchImage).
  arm64Pkgs = import ./arm64.nix {
    inherit lib;
    buildPkgs = pkgs;
  };
  pkgsFor =
    s:
    if s == system then
      pkgs
    else if s == "aarch64-linux" then
      arm64Pkgs
    else
      throw "the offline stand-ins have packages for ${system} and aarch64-linux only, not ${s}";
  # The cargo-built helpers run here; an image for another system would
  # carry this machine's nci-init.
  toolsFor =
    p:
    if p.stdenv.hostPlatform.system == system then
      tools
    else
      tools
      // {
        init = throw "the offline stand-ins have no ${p.stdenv.hostPlatform.system} nci-init (Rust's standard library for it cannot be installed without internet): set image.pid1 = false in an offline image for it";
      };
  makeImage = import ../../nix/make-image.nix {
    inherit lib pkgsFor toolsFor;
    inherit nixosModules;
    defaultSystem = system;
  };
in
{
  inherit pkgs lib tools nixosModules makeImage arm64Pkgs;
  # Where tests/hermetic/skaware-static builds the static s6 stand-in,
  # and whether it is built.
  skawareStatic = { inherit (skawareStatic) dir built; };
  # The `lib` users get (nix/lib.nix) over this package set: makeImage,
  # imageHash, imageRef, makeContainerTest, containerTestModule.
  nciLib = import ../../nix/lib.nix { inherit lib makeImage; };
}
