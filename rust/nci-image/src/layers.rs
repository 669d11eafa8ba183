//! Which store paths go into which layer: nixpkgs' rule, so that images
//! built from the same nixpkgs share layers. Paths come most popular
//! first ([`nci_core::closure::Closure::popularity_order`]); each gets a
//! layer of its own while there are slots, and when there are more paths
//! than slots the last slot takes all the rest.

/// Groups `ordered` (most popular first) into at most `slots` layers.
pub fn group(ordered: Vec<String>, slots: usize) -> Vec<Vec<String>> {
    if slots == 0 || ordered.is_empty() {
        return Vec::new();
    }
    if ordered.len() <= slots {
        return ordered.into_iter().map(|p| vec![p]).collect();
    }
    let mut layers: Vec<Vec<String>> = Vec::with_capacity(slots);
    let mut rest = Vec::new();
    for (i, p) in ordered.into_iter().enumerate() {
        if i + 1 < slots {
            layers.push(vec![p]);
        } else {
            rest.push(p);
        }
    }
    rest.sort();
    layers.push(rest);
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn one_layer_each_while_there_are_slots() {
        assert_eq!(group(v(&["a", "b"]), 5), [v(&["a"]), v(&["b"])]);
    }

    #[test]
    fn the_last_slot_takes_the_rest_sorted() {
        let g = group(v(&["c", "z", "b", "a"]), 2);
        assert_eq!(g, [v(&["c"]), v(&["a", "b", "z"])]);
        assert_eq!(
            group(v(&["c", "z", "b", "a"]), 1),
            [v(&["a", "b", "c", "z"])]
        );
        assert!(group(v(&["a"]), 0).is_empty());
    }
}
