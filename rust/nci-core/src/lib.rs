//! Shared code of the nix-container-images helpers: the JSON spec types
//! written by the Nix modules (validated on parse), the Nix build
//! environment (structured attrs, reference graphs), deterministic tar
//! writing and hashing.

#[cfg(test)]
mod bad_inputs;
pub mod closure;
pub mod error;
pub mod etc_spec;
pub mod fs_walk;
#[cfg(test)]
mod generated;
pub mod hash;
pub mod image_spec;
pub mod init_layout;
pub mod init_spec;
pub mod nix_build;
pub mod oci_index;
pub mod out;
pub mod passwd;
pub mod problems;
pub mod proc_tree;
pub mod profile;
pub mod rules;
pub mod signals;
pub mod systemd_spec;
pub mod tar;
pub mod tree_manifest;
pub mod users_spec;

pub use error::{Error, Result};

/// The Nix store directory (`builtins.storeDir` of a default install):
/// the default of the specs' `storeDir` and of `nci-image layer`.
pub const STORE_DIR: &str = "/nix/store";
