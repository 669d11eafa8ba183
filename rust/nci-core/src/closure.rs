//! The reference graph Nix exports for `exportReferencesGraph` under
//! structured attrs: a list of `{path, references, narSize, ...}`.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathInfo {
    pub path: String,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub nar_size: u64,
}

/// A store closure: every path with its references.
#[derive(Debug, Default, Clone)]
pub struct Closure {
    pub paths: BTreeMap<String, PathInfo>,
}

impl Closure {
    pub fn from_infos(infos: impl IntoIterator<Item = PathInfo>) -> Self {
        Closure {
            paths: infos.into_iter().map(|i| (i.path.clone(), i)).collect(),
        }
    }

    /// Adds the paths of another graph (the union of two closures).
    pub fn extend(&mut self, other: Closure) {
        self.paths.extend(other.paths);
    }

    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }

    /// The paths reachable from `roots` (roots included), sorted.
    pub fn reachable<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().map(str::to_owned).collect();
        while let Some(p) = todo.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            if let Some(info) = self.paths.get(&p) {
                todo.extend(
                    info.references
                        .iter()
                        .filter(|r| !seen.contains(*r))
                        .cloned(),
                );
            }
        }
        seen
    }
}
