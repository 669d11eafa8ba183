# A file in the store made of parts (`{ text = "..."; }` or
# `{ file = path; }`), written by `nci-etc`: what `pkgs.writeText` is to
# NixOS' /etc, without a shell or stdenv.
{ nciTools, system }:
name: parts:
derivation {
  inherit name system parts;
  builder = nciTools.etc;
  args = [
    "nix-builder"
    "text"
  ];
  __structuredAttrs = true;
}
