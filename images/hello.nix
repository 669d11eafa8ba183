# The smallest useful image: runs GNU hello.
{ pkgs, ... }:
{
  image = {
    name = "hello";
    entryPoint = [ "${pkgs.hello}/bin/hello" ];
  };
}
