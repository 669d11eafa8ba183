# flake.nix of your project: one nixpkgs for the images and the helpers,
# the web server of docs/getting-started.md for two systems.
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    nci.url = "github:<owner>/nix-container-images"; # where you got this repository
    # Our nixpkgs is yours: one copy to fetch, the images' packages and
    # the helpers built from the revision your flake.lock pins.
    nci.inputs.nixpkgs.follows = "nixpkgs";
  };
  outputs = { nci, ... }:
    let
      web = system: nci.lib.makeImage [ ./web.nix { nixpkgs.system = system; } ];
    in
    {
      packages.x86_64-linux.web = web "x86_64-linux";
      packages.aarch64-linux.web = web "aarch64-linux";
    };
}
