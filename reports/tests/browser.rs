//! Browser test: open the rendered pages in headless Chromium (Debian's `chromium`
//! package) from disk, check that every image loaded, that the console stayed silent (no
//! script error, no blocked resource, no Content Security Policy violation, no injected
//! script ran) and save a screenshot.
//!
//! Skips with a message when Chromium is absent. `OFFSIM_CHROMIUM=/path/to/chromium`
//! overrides the default `/usr/bin/chromium`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use offsim_reports::{Report, example, render};

use crate::util;

fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("OFFSIM_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    p.is_file().then_some(p)
}

struct Output {
    stdout: String,
    stderr: String,
}

/// Run Chromium headless on `page` with `extra` arguments; kill it after two minutes.
fn run_chromium(bin: &Path, profile: &Path, page: &Path, extra: &[String]) -> Output {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(&url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Output {
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// Console messages in Chromium's log (`...:CONSOLE:N] "message", source: ...`).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Render `report`, load it, check images and console, save a screenshot; returns the
/// screenshot path.
fn check_page(bin: &Path, name: &str, report: &Report) -> PathBuf {
    let dir = util::scratch(&format!("browser-{name}"));
    let site = dir.join("site");
    render(report, &site).unwrap();
    let page = site.join("index.html");

    let dom = run_chromium(
        bin,
        &dir.join("profile-dom"),
        &page,
        &["--dump-dom".to_string()],
    );
    let console = console_lines(&dom.stderr);
    assert!(
        console.is_empty(),
        "{name}: console messages:\n{}",
        console.join("\n")
    );
    assert!(
        dom.stdout.contains("<body data-images-ok=\"true\">"),
        "{name}: not every image loaded; DOM starts:\n{}",
        &dom.stdout[..dom.stdout.len().min(2000)]
    );
    let n_img = dom.stdout.matches("<img ").count();
    assert_eq!(
        n_img,
        offsim_reports::charts::plan_charts(report).len(),
        "{name}: image count"
    );

    let shot = dir.join("screenshot.png");
    let out = run_chromium(
        bin,
        &dir.join("profile-shot"),
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".to_string(),
        ],
    );
    let console = console_lines(&out.stderr);
    assert!(
        console.is_empty(),
        "{name}: console messages:\n{}",
        console.join("\n")
    );
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("{name}: screenshot {}: {e}", shot.display()));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 10_000, "{name}: screenshot suspiciously small");
    println!("{name}: screenshot saved to {}", shot.display());
    shot
}

#[test]
fn pages_load_in_chromium() {
    let Some(bin) = chromium() else {
        println!(
            "SKIP browser test: /usr/bin/chromium not found (apt-get install chromium, or set OFFSIM_CHROMIUM)"
        );
        return;
    };
    check_page(&bin, "run", &example::run_report());
    check_page(&bin, "sweep", &example::sweep_report());
    check_page(&bin, "plan", &example::plan_report());
}

/// Hostile names everywhere: the page still loads silently, so no injected markup ran (an
/// injected script would log "xss", and one blocked by the CSP would log a violation).
#[test]
fn hostile_names_do_not_run_in_chromium() {
    let Some(bin) = chromium() else {
        println!("SKIP browser test: /usr/bin/chromium not found");
        return;
    };
    let r = util::hostile_report();
    check_page(&bin, "hostile", &r);
}

/// The check itself works: a page with a missing image and an injected script is caught.
#[test]
fn broken_page_is_detected() {
    let Some(bin) = chromium() else {
        println!("SKIP browser test: /usr/bin/chromium not found");
        return;
    };
    let dir = util::scratch("browser-broken");
    let site = dir.join("site");
    render(&example::run_report(), &site).unwrap();
    let page = site.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let broken = html.replacen(
        "<h1>",
        "<script>console.log(\"injected\")</script><img src=\"missing.png\"><h1>",
        1,
    );
    std::fs::write(&page, broken).unwrap();
    let dom = run_chromium(
        &bin,
        &dir.join("profile"),
        &page,
        &["--dump-dom".to_string()],
    );
    assert!(
        dom.stdout.contains("data-images-ok=\"false\""),
        "missing image not detected"
    );
    let console = console_lines(&dom.stderr).join("\n");
    assert!(
        console.contains("Content Security Policy"),
        "CSP did not block the injected script:\n{console}"
    );
    assert!(console.contains("missing.png"), "{console}");
    assert!(
        !console.contains("\"injected\""),
        "injected script ran:\n{console}"
    );
}
