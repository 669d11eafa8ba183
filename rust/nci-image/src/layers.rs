//! Which store paths go into which layer. Paths are ordered by popularity
//! (how many paths of the closure depend on them), the order nixpkgs'
//! layered images use, so that widely shared paths get their own layer
//! and the same digest in every image.

use nci_core::closure::Closure;
use std::collections::BTreeSet;

/// Groups `paths` into at most `slots` layers: the most popular paths one
/// per layer, the rest together in the last.
pub fn group(closure: &Closure, paths: &BTreeSet<String>, slots: usize) -> Vec<Vec<String>> {
    if slots == 0 || paths.is_empty() {
        return Vec::new();
    }
    let mut ranked: Vec<(usize, &String)> = paths
        .iter()
        .map(|p| (popularity(closure, paths, p), p))
        .collect();
    // Most depended-upon first; ties by path for a stable order.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut layers: Vec<Vec<String>> = Vec::new();
    for (_, p) in ranked {
        if layers.len() < slots {
            layers.push(vec![p.clone()]);
        } else if let Some(last) = layers.last_mut() {
            last.push(p.clone());
        }
    }
    for l in &mut layers {
        l.sort();
    }
    layers
}

/// The number of paths in `paths` whose closure contains `p`.
fn popularity(closure: &Closure, paths: &BTreeSet<String>, p: &str) -> usize {
    paths
        .iter()
        .filter(|q| q.as_str() != p && closure.reachable([q.as_str()]).contains(p))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nci_core::closure::PathInfo;

    fn info(path: &str, refs: &[&str]) -> PathInfo {
        PathInfo {
            path: path.into(),
            references: refs.iter().map(|r| r.to_string()).collect(),
            nar_size: 0,
        }
    }

    #[test]
    fn popular_paths_come_first_and_the_rest_share_the_last_layer() {
        let c = Closure::from_infos([
            info("/s/app", &["/s/libc", "/s/lib"]),
            info("/s/lib", &["/s/libc"]),
            info("/s/libc", &[]),
            info("/s/tool", &["/s/libc"]),
        ]);
        let all = c.paths.keys().cloned().collect();
        let g = group(&c, &all, 10);
        assert_eq!(g[0], ["/s/libc"]);
        assert_eq!(g[1], ["/s/lib"]);
        assert_eq!(g.len(), 4);
        let g = group(&c, &all, 2);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0], ["/s/libc"]);
        assert_eq!(g[1], ["/s/app", "/s/lib", "/s/tool"]);
    }
}
