//! Build time of the s6 services: what `nci-s6` does as a Nix builder
//! (`generate`: the init file and the service directories from the init
//! spec; `programs`: `s6.programs` copied out of `s6.package`). Split
//! from `nci-init` so that the binary in images is only the init.

pub mod generate;
pub mod programs;
