# The image of bench/user-path: a synthetic closure made by bench/writer
# (its packaged shape: 64 store paths of files copied from /usr) turned
# into real Nix packages with a reference graph, and an image that names
# only its entry point, as users write, so that `plan` finds and hashes
# the 64 dependencies. `changed = true` changes one package (pkg20: one
# more file), as a new version of a dependency would.
#   nix-build bench/user-path.nix -I nixpkgs-lib=... --arg toolsDir ... \
#     --argstr src /tmp/nci-bench/packaged/store -A image
# The packages copy their files from `src` (a string, not a path: Nix
# would hash 327 MB again at every evaluation), so this needs Nix's
# sandbox off, as the offline stand-ins do.
{
  src,
  toolsDir,
  changed ? false,
  nonce ? "",
  # bench/user-path names its image apart, so that another benchmark
  # building this image (bench/push) keeps none of its outputs alive.
  name ? "user-path-bench",
}:
let
  hermetic = import ../tests/hermetic { inherit toolsDir; };
  inherit (hermetic) lib;
  dirs = builtins.attrNames (builtins.readDir src);
  # "<hash>-pkgN" -> N
  number = dir: lib.toInt (lib.removePrefix "pkg" (lib.last (lib.splitString "-" dir)));
  byNumber = lib.listToAttrs (map (d: lib.nameValuePair (toString (number d)) d) dirs);
  count = builtins.length dirs;
  # pkg0 is used by all, pkg1..7 each by an eighth, pkg8.. are the roots
  # (the graph of bench/writer).
  deps = n: if n == 0 then [ ] else if n < 8 then [ 0 ] else [ (lib.mod n 8) 0 ];
  pkg =
    n:
    derivation {
      name = "pkg${toString n}";
      system = builtins.currentSystem;
      builder = "/bin/bash";
      args = [
        "-c"
        ''
          set -e
          /bin/cp -r "$from" "$out"
          /bin/chmod -R u+w "$out"
          /bin/rm -f "$out/links/dep"
          /bin/mkdir -p "$out/nix-support"
          echo "$deps" >"$out/nix-support/depends"
          if [ -n "$changed" ]; then echo changed >"$out/CHANGED"; fi
        ''
      ];
      from = "${src}/${byNumber.${toString n}}";
      deps = toString (map (d: packages.${toString d}) (deps n));
      changed = if changed && n == 20 then "1" else "";
    };
  packages = lib.genAttrs (map toString (lib.range 0 (count - 1))) (n: pkg (lib.toInt n));
  # The entry point: a script whose package refers to the roots.
  app = derivation {
    name = "app";
    system = builtins.currentSystem;
    builder = "/bin/bash";
    args = [
      "-c"
      ''
        /bin/mkdir -p "$out/bin" "$out/nix-support"
        printf '#!/bin/sh\necho app\n' >"$out/bin/app"
        /bin/chmod +x "$out/bin/app"
        echo "$roots" >"$out/nix-support/depends"
      ''
    ];
    roots = toString (map (n: packages.${toString n}) (lib.range 8 (count - 1)));
  };
  image = hermetic.makeImage {
    image.name = name;
    image.entryPoint = [ "${app}/bin/app" ];
  };
in
{
  inherit app packages image;
  # A floor: nix-build of a derivation that only copies the finished
  # archive (evaluating the image as above), so Nix hashes and registers
  # an output of the same size. No writer of this output can take less.
  # A new `nonce` makes it a new derivation.
  copy = derivation {
    name = "copy-of-${name}.tar";
    system = builtins.currentSystem;
    builder = "/bin/bash";
    args = [
      "-c"
      "/bin/cp \"$archive\" \"$out\""
    ];
    archive = image;
    inherit nonce;
  };
}
