# flake.nix of your project: hello for two architectures under one tag
{
  inputs.nci.url = "github:<owner>/nix-container-images"; # where you got this repository
  outputs = { nci, ... }: {
    packages.x86_64-linux.hello-multi = nci.lib.makeMultiArchImage {
      systems = [ "x86_64-linux" "aarch64-linux" ];
      modules = [
        ({ pkgs, ... }: {
          image = {
            name = "hello";
            tag = "1.0";
            entryPoint = [ "${pkgs.hello}/bin/hello" ];
            # hello exits at once: it needs no init as PID 1.
            pid1 = false;
          };
        })
      ];
      # format = "docker"; # push a Docker manifest list instead of an OCI index
    };
  };
}
