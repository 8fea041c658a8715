//! Render the example reports into a directory: `cargo run -p offsim-reports --example
//! render_examples -- OUT_DIR` writes `OUT_DIR/{run,sweep,sweep1d,plan}/` with
//! `report.json`, `index.html` and the charts.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/example-reports".into()),
    );
    let reports = [
        ("run", offsim_reports::example::run_report()),
        ("sweep", offsim_reports::example::sweep_report()),
        ("sweep1d", offsim_reports::example::sweep_report_1d()),
        ("plan", offsim_reports::example::plan_report()),
    ];
    for (name, r) in reports {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("report.json"), r.to_json_string())?;
        let files = offsim_reports::render(&r, &dir)?;
        println!("{}: {} files", dir.display(), files.len() + 1);
    }
    Ok(())
}
