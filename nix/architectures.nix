# The OCI architecture (`amd64`, `arm64`, ...) of each Nix system an
# image can be built for: the image config's `architecture` and the
# platform an index lists it under (nix/multi-arch.nix).
{
  x86_64-linux = "amd64";
  aarch64-linux = "arm64";
  i686-linux = "386";
  armv7l-linux = "arm";
  riscv64-linux = "riscv64";
  powerpc64le-linux = "ppc64le";
  s390x-linux = "s390x";
}
