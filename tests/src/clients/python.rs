//! Running the Python client scripts under `tests/clients/`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use super::process::{find_program, run};

/// `tests/clients/<name>`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients").join(name)
}

/// Runs `python3 tests/clients/<script> '<request>'` with `home` as `HOME` and returns the
/// JSON object on the last line of stdout; `Err` with everything printed on failure.
pub fn call(
    script_name: &str,
    home: &Path,
    env: &[(&str, &Path)],
    request: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let python = find_program("WHARF_E2E_PYTHON", "python3", &["/usr/bin/python3"]);
    std::fs::create_dir_all(home).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(script(script_name))
        .arg(request.to_string())
        .current_dir(home)
        .env("HOME", home)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).map_err(|e| format!("{script_name}: bad output ({e}):\n{stdout}"))
}
