//! `wharf`: the binary. Config, CLI, wiring and telemetry; nothing else lives here.

fn main() {}
