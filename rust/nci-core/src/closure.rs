//! The reference graph Nix exports for `exportReferencesGraph` under
//! structured attrs: a list of `{path, references, narSize, ...}`.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathInfo {
    pub path: String,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub nar_size: u64,
    /// `sha256:<base32>`, as Nix records it in its database.
    #[serde(default)]
    pub nar_hash: String,
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

/// A non-negative integer of any size: popularity counts the paths
/// through the reference graph, which grows exponentially with its
/// depth, and the order must be exact to match nixpkgs'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Count(Vec<u64>);

impl Count {
    fn one() -> Self {
        Count(vec![1])
    }

    fn add(&mut self, other: &Count) {
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            if i == self.0.len() {
                self.0.push(0);
            }
            let (a, c1) = self.0[i].overflowing_add(other.0.get(i).copied().unwrap_or(0));
            let (b, c2) = a.overflowing_add(carry);
            self.0[i] = b;
            carry = u64::from(c1) + u64::from(c2);
        }
        if carry > 0 {
            self.0.push(carry);
        }
    }

    fn add_one(&mut self) {
        self.add(&Count::one());
    }
}

impl PartialOrd for Count {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Count {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let trim = |v: &[u64]| v.len() - v.iter().rev().take_while(|&&x| x == 0).count();
        let (a, b) = (&self.0[..trim(&self.0)], &other.0[..trim(&other.0)]);
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }
}

impl Closure {
    /// `paths` ordered most popular first, as nixpkgs'
    /// `references-by-popularity` orders a closure: every path reached
    /// from a root (a path no other path of the set refers to) scores one
    /// for each way down to it, plus one per step; equal scores are
    /// ordered by name (the part after the hash, then the hash).
    /// Only references between members of `paths` count.
    pub fn popularity_order(&self, paths: &BTreeSet<String>) -> Vec<String> {
        let index: BTreeMap<&str, usize> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        let names: Vec<&str> = paths.iter().map(String::as_str).collect();
        let children: Vec<Vec<usize>> = names
            .iter()
            .map(|p| {
                let mut c: Vec<usize> = self
                    .paths
                    .get(*p)
                    .map(|i| {
                        i.references
                            .iter()
                            .filter(|r| r.as_str() != *p)
                            .filter_map(|r| index.get(r.as_str()).copied())
                            .collect()
                    })
                    .unwrap_or_default();
                c.sort_unstable();
                c.dedup();
                c
            })
            .collect();
        let mut referenced = vec![false; names.len()];
        for c in children.iter().flatten() {
            referenced[*c] = true;
        }
        // contest[n]: the scores of n's descendants within n's subgraph.
        let mut memo: Vec<Option<BTreeMap<usize, Count>>> = vec![None; names.len()];
        let mut total: BTreeMap<usize, Count> = BTreeMap::new();
        for root in (0..names.len()).filter(|&i| !referenced[i]) {
            total.entry(root).or_default().add_one();
            for (d, score) in subcontest(root, &children, &mut memo) {
                let slot = total.entry(d).or_default();
                slot.add(&score);
                slot.add_one();
            }
        }
        let mut ranked: Vec<(Count, String, usize)> = total
            .into_iter()
            .map(|(i, c)| (c, package_name(names[i]), i))
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut out: Vec<String> = ranked.iter().map(|r| names[r.2].to_owned()).collect();
        // Paths on a cycle with no root above them (impossible in a Nix
        // store, possible in a hand-written graph) come last, by name.
        if out.len() < names.len() {
            let seen: BTreeSet<String> = out.iter().cloned().collect();
            out.extend(
                names
                    .iter()
                    .filter(|n| !seen.contains(**n))
                    .map(|n| n.to_string()),
            );
        }
        out
    }
}

/// The popularity of every descendant of `n` within its own subgraph,
/// memoised (the recursion depth is the depth of the reference graph).
fn subcontest(
    n: usize,
    children: &[Vec<usize>],
    memo: &mut Vec<Option<BTreeMap<usize, Count>>>,
) -> BTreeMap<usize, Count> {
    if let Some(done) = &memo[n] {
        return done.clone();
    }
    // Mark as in progress so that a cycle terminates.
    memo[n] = Some(BTreeMap::new());
    let mut scores: BTreeMap<usize, Count> = BTreeMap::new();
    for &c in &children[n] {
        scores.entry(c).or_default().add_one();
        for (d, score) in subcontest(c, children, memo) {
            let slot = scores.entry(d).or_default();
            slot.add(&score);
            slot.add_one();
        }
    }
    memo[n] = Some(scores.clone());
    scores
}

/// `/nix/store/<hash>-<name>` → `<name>-/nix/store/<hash>`: nixpkgs'
/// tie-break key, which keeps the order stable when only hashes change.
fn package_name(path: &str) -> String {
    match path.split_once('-') {
        Some((start, rest)) => format!("{rest}-{start}"),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> Closure {
        Closure::from_infos(edges.iter().map(|(p, refs)| PathInfo {
            path: p.to_string(),
            references: refs.iter().map(|r| r.to_string()).collect(),
            ..PathInfo::default()
        }))
    }

    #[test]
    fn popularity_matches_the_nixpkgs_contest() {
        // nixpkgs' own example: foo → bar → baz → tux, foo → baz.
        // Scores: foo 1, bar 2, baz 4, tux 6.
        let c = graph(&[
            ("/s/foo", &["/s/foo", "/s/bar", "/s/baz"]),
            ("/s/bar", &["/s/baz"]),
            ("/s/baz", &["/s/tux"]),
            ("/s/tux", &[]),
        ]);
        let all = c.paths.keys().cloned().collect();
        assert_eq!(
            c.popularity_order(&all),
            ["/s/tux", "/s/baz", "/s/bar", "/s/foo"]
        );
    }

    #[test]
    fn equal_scores_are_ordered_by_name_after_the_hash() {
        let c = graph(&[
            ("/nix/store/bbbb-zlib", &[]),
            ("/nix/store/aaaa-zzz", &[]),
            ("/nix/store/cccc-abc", &[]),
        ]);
        let all = c.paths.keys().cloned().collect();
        assert_eq!(
            c.popularity_order(&all),
            [
                "/nix/store/cccc-abc",
                "/nix/store/bbbb-zlib",
                "/nix/store/aaaa-zzz"
            ]
        );
    }

    #[test]
    fn counts_beyond_u64_stay_exact() {
        // A ladder of diamonds doubles the number of ways down per rung.
        let mut edges: Vec<(String, Vec<String>)> = Vec::new();
        for i in 0..80 {
            let (top, l, r, next) = (
                format!("/s/t{i:03}"),
                format!("/s/l{i:03}"),
                format!("/s/r{i:03}"),
                format!("/s/t{:03}", i + 1),
            );
            edges.push((top, vec![l.clone(), r.clone()]));
            edges.push((l, vec![next.clone()]));
            edges.push((r, vec![next]));
        }
        edges.push(("/s/t080".into(), vec![]));
        let c = Closure::from_infos(edges.iter().map(|(p, r)| PathInfo {
            path: p.clone(),
            references: r.clone(),
            ..PathInfo::default()
        }));
        let all = c.paths.keys().cloned().collect();
        let order = c.popularity_order(&all);
        assert_eq!(order[0], "/s/t080");
        assert_eq!(order.last().map(String::as_str), Some("/s/t000"));
        let mut big = Count::one();
        for _ in 0..70 {
            let b = big.clone();
            big.add(&b);
        }
        assert!(big > Count(vec![u64::MAX]));
    }
}
