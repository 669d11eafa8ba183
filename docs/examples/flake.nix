# flake.nix of your project
{
  inputs.nci.url = "github:<owner>/nix-container-images"; # where you got this repository
  outputs = { nci, ... }: {
    packages.x86_64-linux.hello = nci.lib.makeImage ({ pkgs, ... }: {
      image = {
        name = "hello";
        entryPoint = [ "${pkgs.hello}/bin/hello" ];
      };
    });
  };
}
