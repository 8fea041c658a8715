//! Browser test: each page kind (run, plan, sweep, trend) in headless Chromium, driven over
//! WebDriver by Debian's `chromedriver` (package `chromium-driver`), checked as a person
//! would look at it: nothing wider than a 1,280 px window (no page or table scrolling
//! sideways), every chart image loaded, a silent console (no script error, no blocked
//! resource, no Content Security Policy violation, no injected script), the headline
//! numbers on the first screen. A full-page screenshot of each is kept in
//! `target/screenshots/<kind>.png`, and the first screen (the 1,280 × 1,000 window before
//! scrolling) in `<kind>-first-screen.png` (CI keeps them as artefacts).
//!
//! Skips with a `SKIP` line when `chromedriver` or Chromium is missing.
//! `OFFSIM_CHROMIUM` and `OFFSIM_CHROMEDRIVER` override `/usr/bin/chromium` and
//! `/usr/bin/chromedriver`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use offsim_reports::{Report, example, render};
use serde_json::{Value, json};

use crate::util;

/// The window a person looks at the page in.
const WIDTH: u32 = 1280;

fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    p.is_file().then_some(p)
}

/// Chromium and chromedriver, or a printed `SKIP`.
fn browser() -> Option<(PathBuf, PathBuf)> {
    match (
        tool("OFFSIM_CHROMIUM", "/usr/bin/chromium"),
        tool("OFFSIM_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            util::skip(
                "browser test: /usr/bin/chromium or /usr/bin/chromedriver not found (apt-get install chromium chromium-driver)",
            );
            None
        }
    }
}

/// A chromedriver process and one browser session in it.
struct Driver {
    child: Child,
    port: u16,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to chromedriver on localhost (which refuses HTTP/1.0), the
/// connection closed after it; the JSON body of the answer.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open despite `Connection: close`: read the head,
    // then exactly Content-Length bytes.
    let mut resp = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the answer".into());
        }
        resp.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&resp[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Content-Length in {head}"))?;
    while resp.len() < head_end + len {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-answer".into());
        }
        resp.extend_from_slice(&buf[..n]);
    }
    let json = String::from_utf8_lossy(&resp[head_end..head_end + len]).into_owned();
    serde_json::from_str(&json).map_err(|e| format!("{e}: {json}"))
}

impl Driver {
    fn start(chromium: &Path, driver: &Path, profile: &Path) -> Driver {
        // A free port: bind 0, read it, release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let start = Instant::now();
        while http(port, "GET", "/status", None)
            .ok()
            .and_then(|v| v["value"]["ready"].as_bool())
            != Some(true)
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    format!("--window-size={WIDTH},1000"),
                    format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let mut d = Driver {
            child,
            port,
            session: String::new(),
        };
        let v = http(port, "POST", "/session", Some(&caps)).expect("new session");
        d.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        d
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let p = format!("/session/{}{path}", self.session);
        let v = http(self.port, method, &p, Some(&body)).unwrap_or_else(|e| panic!("{p}: {e}"));
        if v["value"]["error"].is_string() {
            panic!("{p}: {}", v["value"]);
        }
        v["value"].clone()
    }

    fn script(&self, js: &str) -> Value {
        self.cmd("POST", "/execute/sync", json!({"script": js, "args": []}))
    }

    /// The browser console since the last call.
    fn console(&self) -> Vec<String> {
        let v = self.cmd("POST", "/se/log", json!({"type": "browser"}));
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Load `page` and wait for its image check (the page's script marks `<body>`).
    fn open(&self, page: &Path) {
        let url = format!("file://{}", page.canonicalize().unwrap().display());
        self.cmd("POST", "/url", json!({ "url": url }));
        let start = Instant::now();
        while self.script("return document.body.getAttribute('data-images-ok')") == "pending" {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{url}: never loaded"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A screenshot of the whole page (not only the window), as PNG bytes.
    fn full_screenshot(&self) -> Vec<u8> {
        let h = self
            .script("return document.documentElement.scrollHeight")
            .as_f64()
            .unwrap_or(1000.0);
        let v = self.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Page.captureScreenshot", "params": {
                "format": "png", "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": h, "scale": 1}
            }}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64")
    }
}

/// What the page looks like to a person, measured in the browser.
const MEASURE: &str = "
var de = document.documentElement;
var wide = [];
document.querySelectorAll('div.scroll, table, figure, pre').forEach(function (e) {
  if (e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > window.innerWidth + 1) {
    var th = e.querySelector('th');
    wide.push(e.tagName + ' ' + (e.id || (th ? th.textContent : '')) + ' ' + e.scrollWidth + '>' + e.clientWidth);
  }
});
var broken = [];
for (var i = 0; i < document.images.length; i++) {
  var im = document.images[i];
  if (!(im.complete && im.naturalWidth > 0)) broken.push(im.getAttribute('src'));
}
return {innerWidth: window.innerWidth, scrollWidth: de.scrollWidth, wide: wide,
  images: document.images.length, broken: broken,
  imagesOk: document.body.getAttribute('data-images-ok'),
  firstScreen: document.body.innerText.slice(0, 4000),
  text: document.body.innerText};
";

/// Where the screenshots go: `target/screenshots/`.
fn screenshot_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Load the page in `site`, check it, keep a screenshot as `target/screenshots/<name>.png`;
/// `headline` are strings a person must find on the first screen.
fn check_site(d: &Driver, name: &str, site: &Path, images: usize, headline: &[String]) {
    d.console(); // drop what an earlier page logged
    d.open(&site.join("index.html"));
    let m = d.script(MEASURE);
    // The screenshot first, so that a failing check leaves it to look at.
    let png = d.full_screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let shot = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&shot, &png).unwrap();
    // What a person sees first: the window, before scrolling.
    let first = d.cmd("GET", "/screenshot", json!({}));
    let first = base64::engine::general_purpose::STANDARD
        .decode(first.as_str().expect("screenshot data"))
        .expect("screenshot base64");
    std::fs::write(
        screenshot_dir().join(format!("{name}-first-screen.png")),
        first,
    )
    .unwrap();
    println!("{name}: screenshot saved to {}", shot.display());
    let console = d.console();
    assert!(
        console.is_empty(),
        "{name}: console messages:\n{}",
        console.join("\n")
    );
    assert_eq!(
        m["imagesOk"], "true",
        "{name}: broken images {}",
        m["broken"]
    );
    assert_eq!(
        m["images"].as_u64(),
        Some(images as u64),
        "{name}: image count"
    );
    assert_eq!(m["innerWidth"].as_u64(), Some(u64::from(WIDTH)), "{name}");
    assert!(
        m["scrollWidth"].as_u64() <= Some(u64::from(WIDTH)),
        "{name}: the page scrolls sideways at {WIDTH} px: {}",
        m["scrollWidth"]
    );
    assert_eq!(
        m["wide"].as_array().map(Vec::len),
        Some(0),
        "{name}: wider than the window at {WIDTH} px: {}",
        m["wide"]
    );
    let first = m["firstScreen"].as_str().unwrap_or("");
    for s in headline {
        assert!(
            first.contains(s.as_str()),
            "{name}: {s:?} not on the first screen:\n{first}"
        );
    }
}

/// Render `report` and check its page.
fn check_report(d: &Driver, name: &str, report: &Report, headline: &[String]) {
    let site = util::scratch(&format!("browser-{name}")).join("site");
    render(report, &site).unwrap();
    let images = offsim_reports::charts::plan_charts(report).len();
    check_site(d, name, &site, images, headline);
}

/// The headline figures of a run report, as the page prints them.
fn run_headline(r: &Report) -> Vec<String> {
    let mut v: Vec<String> = r
        .runs
        .iter()
        .map(|x| offsim_reports::fmt::bps_text(x.throughput.delivered_bps))
        .collect();
    v.push("Configurations side by side".into());
    v.push("busiest core".into());
    v
}

/// A trend series of four example reports, the newest with a worse p99.
fn trend_series() -> offsim_reports::trend::Trend {
    let reports = (0..4)
        .map(|i| {
            let mut r = example::run_report();
            r.tool.commit = Some(format!("{:x}{}", 0xabc0 + i, "0".repeat(36)));
            r.tool.date = Some(format!("2026-02-{:02}T12:00:00Z", i + 1));
            if i == 3 {
                r.runs[2].latency_ns.overall.p99 *= 2;
            }
            (format!("r{i}/report.json"), r)
        })
        .collect();
    offsim_reports::trend::trend(reports, &[], 2.0).unwrap()
}

#[test]
fn every_page_kind_reads_well_at_1280_px() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let dir = util::scratch("browser-profile");
    let d = Driver::start(&chromium, &driver, &dir);
    let run = example::run_report();
    check_report(&d, "run", &run, &run_headline(&run));
    let plan = example::plan_report();
    let sentence = offsim_reports::html::plan_sentence(&plan).unwrap();
    check_report(&d, "plan", &plan, &[sentence]);
    let sweep = example::sweep_report();
    check_report(
        &d,
        "sweep",
        &sweep,
        &["Smallest nic.table_capacity that meets the SLO".to_string()],
    );
    let t = trend_series();
    let site = util::scratch("browser-trend").join("site");
    offsim_reports::trend::render(&t, &site).unwrap();
    check_site(
        &d,
        "trend",
        &site,
        t.metrics.len(),
        &["hardware latency_ns.p99 regressed".to_string()],
    );
}

/// Hostile names everywhere: the page still loads silently, so no injected markup ran (an
/// injected script would log "xss", and one blocked by the CSP would log a violation).
#[test]
fn hostile_names_do_not_run_in_chromium() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let d = Driver::start(
        &chromium,
        &driver,
        &util::scratch("browser-profile-hostile"),
    );
    let r = util::hostile_report();
    check_report(&d, "hostile", &r, &[]);
}

/// The checks themselves work: a missing image, an injected script and a table wider than
/// the window are all caught.
#[test]
fn broken_page_is_detected() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let d = Driver::start(&chromium, &driver, &util::scratch("browser-profile-broken"));
    let site = util::scratch("browser-broken").join("site");
    render(&example::run_report(), &site).unwrap();
    let page = site.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let wide: String = (0..40).map(|i| format!("<td>column{i}</td>")).collect();
    let broken = html.replacen(
        "<h1>",
        &format!("<script>console.log(\"injected\")</script><img src=\"missing.png\"><div class=\"scroll\"><table><tr>{wide}</tr></table></div><h1>"),
        1,
    );
    std::fs::write(&page, broken).unwrap();
    d.open(&page);
    let m = d.script(MEASURE);
    assert_eq!(m["imagesOk"], "false", "missing image not detected");
    assert!(
        !m["wide"].as_array().unwrap().is_empty(),
        "wide table not detected"
    );
    let console = d.console().join("\n");
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
