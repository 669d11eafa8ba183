# L5 (machines with nixpkgs and KVM): the headline image, built from
# NixOS' own nginx module (`services.nginx.enable = true;` with a virtual
# host, images/nginx.nix), loaded into podman in a NixOS VM and asked for
# /plop, as the original project's nginx test did; nginx must run as the
# nginx user and the container must stop cleanly.
# Use: checks.<system>.nginx = import ./nix/checks-nginx.nix { inherit pkgs; image = dockerImages.nginx; };
{ pkgs, image }:
pkgs.testers.runNixOSTest {
  name = "nix-container-images-nginx";
  nodes.machine = {
    virtualisation.podman.enable = true;
    virtualisation.diskSize = 4096;
    environment.systemPackages = [ pkgs.curl ];
  };
  testScript = ''
    machine.wait_for_unit("multi-user.target")
    machine.succeed("podman load -i ${image}")
    machine.succeed("podman run -d --name nginx -p 8000:80 localhost/${image.imageName}:${image.imageTag}")
    machine.wait_until_succeeds("curl -sf localhost:8000/plop | grep -x plop", timeout=60)
    machine.succeed("podman top nginx user args | grep -E '^nginx +nginx: master process'")
    machine.succeed("podman stop -t 10 nginx")
    machine.succeed("test \"$(podman inspect nginx --format '{{.State.ExitCode}}')\" = 0")
    machine.succeed("podman logs nginx 2>&1 | grep \"service 'nginx' stopped\"")
  '';
}
