//! The size report of an image (`(lib.makeImage m).layers`): each layer
//! of the plan with what it holds (its store paths, "customisation", or a
//! layer of `image.from`), its size (the bytes of its tar, as the image
//! carries it) and its share of the image, as JSON (`layers.json`) and as
//! a table a person reads (`layers.txt`). Same plan, same bytes.

use crate::plan::{Plan, Source};
use serde::Serialize;

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub version: u32,
    /// `image.name`.
    pub image: String,
    /// The bytes of every layer together.
    pub total: u64,
    pub layers: Vec<LayerRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LayerRow {
    /// The store path, `customisation`, or `base layer N` (image.from).
    pub name: String,
    /// Every store path of the layer (several when `image.maxLayers`
    /// grouped them), empty for the others.
    pub paths: Vec<String>,
    pub size: u64,
    /// Hundredths of a percent of `total` (an integer: the same bytes
    /// everywhere).
    pub share_basis_points: u64,
    pub digest: String,
}

/// The report of a plan.
pub fn report(plan: &Plan) -> Report {
    let total: u64 = plan.layers.iter().map(|l| l.size).sum();
    let mut base = 0;
    let layers = plan
        .layers
        .iter()
        .map(|l| {
            let (name, paths) = match &l.source {
                Source::Store { paths, .. } => {
                    let name = match paths.len() {
                        0 | 1 => paths.first().cloned().unwrap_or_default(),
                        n => format!("{} (+{} more)", paths[0], n - 1),
                    };
                    (name, paths.clone())
                }
                Source::Entries { .. } => ("customisation".to_owned(), vec![]),
                Source::Base { .. } => {
                    base += 1;
                    (format!("base layer {base} (image.from)"), vec![])
                }
            };
            LayerRow {
                name,
                paths,
                size: l.size,
                share_basis_points: (l.size * 10_000).checked_div(total).unwrap_or(0),
                digest: l.digest.clone(),
            }
        })
        .collect();
    Report {
        version: VERSION,
        image: plan.name.clone(),
        total,
        layers,
    }
}

/// `1234567` → `"1,205.6"`: KiB with one decimal and thousands separated.
fn kib(bytes: u64) -> String {
    let tenths = (bytes * 10 + 512) / 1024;
    let whole = (tenths / 10).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{}", tenths % 10)
}

fn percent(basis_points: u64) -> String {
    format!("{}.{:02}%", basis_points / 100, basis_points % 100)
}

/// The table: one line per layer in image order, then the total.
pub fn table(r: &Report) -> String {
    let mut out = format!(
        "image '{}': {} layers, {} KiB ({} bytes)\n\n",
        r.image,
        r.layers.len(),
        kib(r.total),
        r.total
    );
    out += &format!("{:>3}  {:>11}  {:>7}  layer\n", "#", "KiB", "share");
    for (i, l) in r.layers.iter().enumerate() {
        out += &format!(
            "{:>3}  {:>11}  {:>7}  {}\n",
            i + 1,
            kib(l.size),
            percent(l.share_basis_points),
            l.name
        );
    }
    out += &format!(
        "{:>3}  {:>11}  {:>7}  total\n",
        "",
        kib(r.total),
        percent(if r.total == 0 { 0 } else { 10_000 })
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedLayer;

    fn layer(size: u64, source: Source) -> PlannedLayer {
        PlannedLayer {
            digest: format!("d{size}"),
            size,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            comment: String::new(),
            source,
        }
    }

    fn store(paths: &[&str]) -> Source {
        Source::Store {
            paths: paths.iter().map(|p| p.to_string()).collect(),
            links: vec![],
        }
    }

    fn plan(layers: Vec<PlannedLayer>) -> Plan {
        Plan {
            version: 1,
            name: "web".into(),
            tag: None,
            store_dir: "/nix/store".into(),
            layers,
            config: String::new(),
            manifest: String::new(),
        }
    }

    #[test]
    fn each_layer_with_its_size_and_share_then_the_total() {
        let p = plan(vec![
            layer(
                3 * 1024 * 1024,
                Source::Base {
                    file: "/b".into(),
                    offset: 0,
                },
            ),
            layer(
                1024 * 1024,
                store(&["/nix/store/a-glibc", "/nix/store/b-x"]),
            ),
            layer(1_200_000, store(&["/nix/store/c-hello"])),
            layer(10_240, Source::Entries { entries: vec![] }),
        ]);
        let r = report(&p);
        assert_eq!(r.total, 5_404_544);
        assert_eq!(
            r.layers
                .iter()
                .map(|l| (l.name.as_str(), l.share_basis_points))
                .collect::<Vec<_>>(),
            [
                ("base layer 1 (image.from)", 5820),
                ("/nix/store/a-glibc (+1 more)", 1940),
                ("/nix/store/c-hello", 2220),
                ("customisation", 18),
            ]
        );
        assert_eq!(r.layers[1].paths.len(), 2);
        let want = [
            "image 'web': 4 layers, 5,277.9 KiB (5404544 bytes)",
            "",
            "  #          KiB    share  layer",
            "  1      3,072.0   58.20%  base layer 1 (image.from)",
            "  2      1,024.0   19.40%  /nix/store/a-glibc (+1 more)",
            "  3      1,171.9   22.20%  /nix/store/c-hello",
            "  4         10.0    0.18%  customisation",
            "         5,277.9  100.00%  total",
            "",
        ];
        assert_eq!(table(&r), want.join("\n"));
    }

    #[test]
    fn an_empty_image_has_a_total_of_zero() {
        let r = report(&plan(vec![]));
        assert_eq!((r.total, r.layers.len()), (0, 0));
        assert!(
            table(&r).ends_with("0.0    0.00%  total\n"),
            "{}",
            table(&r)
        );
    }
}
