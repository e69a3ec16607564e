//! Parsing one typical `plugin.yaml`, the per-plugin cost of discovery.
//!
//! The manifest is the shape `start_1000` writes (builtin runtime, two `requires`, a small
//! configuration schema with defaults). Measured:
//! - `from_yaml_str`: `Manifest::from_yaml_str`, the public path (parse and semantic checks);
//! - `serde_only`: `serde_norway::from_str::<Manifest>`, the YAML parse and serde alone, with no
//!   checks and no positions: the floor for the first;
//! - `saphyr_events`: one pass of saphyr-parser's events over the text, what the location index
//!   costs at least when it is built.
//!
//! `cargo bench -p plugboard-manifest --bench parse`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use plugboard_manifest::Manifest;

const TYPICAL: &str = "\
id: p0042
version: 1.0.0
api: '^1'
runtime: builtin
entry: bench
requires:
  p0007: '^1'
  p0031: '^1'
config:
  schema:
    type: object
    properties:
      level: { type: integer, minimum: 0, default: 1 }
      name: { type: string, default: plugin }
";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("manifest_parse");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("from_yaml_str", |b| {
        b.iter(|| Manifest::from_yaml_str(black_box(TYPICAL), "plugin.yaml").expect("valid"))
    });
    group.bench_function("serde_only", |b| {
        b.iter(|| serde_norway::from_str::<Manifest>(black_box(TYPICAL)).expect("valid"))
    });
    group.bench_function("saphyr_events", |b| {
        b.iter(|| {
            let mut parser = saphyr_parser::Parser::new_from_str(black_box(TYPICAL));
            let mut n = 0usize;
            while let Some(Ok(_)) = parser.next_event() {
                n += 1;
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
