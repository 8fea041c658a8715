//! The README's Slurm job-array recipe, run for real: the job script is taken from
//! README.md (only the array size, the CPUs per task and the scenario path are changed, for a
//! two-core node and a small grid), submitted with `sbatch --array`, its shards merged with
//! the README's `offsim merge` line, and the merged report must equal the one-machine sweep
//! byte for byte.
//!
//! Needs a Slurm controller that answers (`.ci/run` starts a single-node cluster with
//! `scripts/start-slurm.sh`); otherwise it prints `SKIP` and passes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli_run::scenario;
use crate::util::{offsim, scratch, skip};

/// The README's job script (the `sh` block after "Slurm job array:").
fn readme_recipe() -> String {
    let readme = std::fs::read_to_string(crate::util::repo().join("README.md")).unwrap();
    let at = readme
        .find("Slurm job array:")
        .expect("README has the Slurm recipe");
    let block = &readme[at..];
    let start = block.find("```sh\n").unwrap() + 6;
    let end = block[start..].find("```").unwrap();
    block[start..start + end].to_string()
}

/// `text` with `from` replaced by `to`, which must occur.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the README recipe no longer has {from:?}:\n{text}"
    );
    text.replace(from, to)
}

/// True when `sinfo` reports a usable node.
fn slurm_up() -> Result<(), String> {
    let o = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("sinfo: {e} (apt-get install slurm-wlm; scripts/start-slurm.sh)"))?;
    let states = String::from_utf8_lossy(&o.stdout);
    if o.status.success() && ["idle", "mix", "alloc"].iter().any(|s| states.contains(s)) {
        Ok(())
    } else {
        Err(format!(
            "no Slurm node up (sinfo: {} {}; run scripts/start-slurm.sh)",
            states.trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Run `cmd` in `dir` with `offsim` on the PATH; kill it after `limit`.
fn run_in(dir: &Path, cmd: &[&str], limit: Duration) -> (bool, String) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_offsim")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .current_dir(dir)
        .env("PATH", path)
        .env("OFFSIM_COMMIT", "")
        .env("OFFSIM_DATE", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn readme_job_array_recipe_merges_to_the_one_machine_sweep() {
    if let Err(why) = slurm_up() {
        skip(&format!("Slurm job array: {why}"));
        return;
    }
    let dir = scratch("slurm", "recipe");
    let sc = scenario(
        &dir,
        "[sweep]\n\"nic.table.capacity\" = [128, 1024]\n\"replay.rate_gbps\" = [0.05, 0.1]\n",
    );
    // The one-machine sweep.
    let full = dir.join("one-machine");
    let o = offsim(&[
        "sweep",
        sc.to_str().unwrap(),
        "--out",
        full.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let want = std::fs::read(full.join("report.json")).unwrap();
    // The README's script, for 4 shards of one CPU each on this node.
    let recipe = readme_recipe();
    let script = replace(&recipe, "--array=1-16", "--array=1-4");
    let script = replace(&script, "--cpus-per-task=8", "--cpus-per-task=1");
    let script = replace(&script, "/16\"", "/4\"");
    let script = replace(&script, "scenarios/sweep-table.toml", sc.to_str().unwrap());
    std::fs::write(dir.join("job.sh"), &script).unwrap();
    let (ok, out) = run_in(
        &dir,
        &["sbatch", "--wait", "job.sh"],
        Duration::from_secs(600),
    );
    let logs: String = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("slurm-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(ok, "sbatch failed: {out}\njob logs:\n{logs}");
    assert!(out.contains("Submitted batch job"), "{out}");
    for k in 1..=4 {
        assert!(
            dir.join(format!("shards/{k}/report.json")).is_file(),
            "shard {k} missing; job logs:\n{logs}"
        );
    }
    // The README's merge line, through a shell for its glob.
    let merge = recipe
        .lines()
        .find_map(|l| l.strip_prefix("# afterwards: "))
        .expect("README recipe has the merge line");
    let (ok, out) = run_in(&dir, &["sh", "-c", merge], Duration::from_secs(120));
    assert!(ok, "{merge}: {out}");
    let got = std::fs::read(dir.join("sweep/report.json")).unwrap();
    assert!(
        got == want,
        "the merged Slurm shards differ from the one-machine sweep ({} vs {} bytes)",
        got.len(),
        want.len()
    );
}
