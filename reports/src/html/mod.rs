//! The self-contained `index.html` of a report.
//!
//! The page opens from disk with no network: inline CSS, no external script, style sheet
//! or font; charts are sibling PNG files (`<img src="x.png">`) with a link to the SVG of
//! each. Every string that comes from user input (scenario, file, run, reason, flow and
//! parameter names, descriptions, warnings) goes through `fmt::esc`. A Content
//! Security Policy allows only the page's own inline style, its one inline script (by
//! hash) and same-directory images, so even a missed escape could not run a script.
//!
//! The only script marks `<body data-images-ok="true|false">` after the load event, once
//! every image has loaded (used by the browser test; harmless otherwise).
//!
//! Output is deterministic: the same report gives the same bytes.
//!
//! Page order: findings, then the answer (a plan's capacity and knee, a sweep's grid, the
//! headline table of the configurations, which fits a 1,280 px window), warnings, CPU per
//! core, the inputs, the details, the charts, the reason codes shown, notes.
//!
//! Files: `mod.rs` the head (shared with the trend page: `open_document`), navigation,
//! findings, warnings, notes and charts (and [`page`], which calls the rest);
//! `findings.rs` the sentences; `plan.rs` and `sweep.rs` the sections of those reports;
//! `scenario.rs` the inputs; `run.rs` the sections about the runs; `glossary.rs` what each
//! reason code means; `common.rs` the tables and cells they share.

mod common;
mod events;
mod findings;
mod glossary;
mod plan;
mod run;
mod scenario;
mod senders;
mod sweep;

use std::fmt::Write as _;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::charts::{Chart, ChartKind, WIDTH};
use crate::fmt::esc;
use crate::schema::Report;
use common::h;
pub use events::{egress_sentences, event_sentences};
pub use findings::plan_sentence;
pub use glossary::{NOT_REFUSALS, describe as describe_reason};
pub use senders::sender_sentences;

/// The page's only script: checks that every image loaded and says so on `<body>`.
const IMAGE_CHECK_SCRIPT: &str = "window.addEventListener(\"load\",function(){var ok=true;\
for(var i=0;i<document.images.length;i++){var im=document.images[i];\
if(!(im.complete&&im.naturalWidth>0)){ok=false;console.error(\"image failed to load: \"+im.getAttribute(\"src\"));}}\
document.body.setAttribute(\"data-images-ok\",ok?\"true\":\"false\");});";

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0 auto;max-width:1200px;padding:0 1.2em 3em;color:#222;background:#fff;line-height:1.4}
h1{font-size:1.6em;margin:.8em 0 .2em}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .4em}
p.sub{color:#666;margin:0 0 1em}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.88em}
th,td{border:1px solid #ddd;padding:.2em .4em;text-align:right;vertical-align:top;white-space:nowrap}
th{background:#f4f6f8;text-align:center}
td.l,th.l{text-align:left;white-space:normal;overflow-wrap:anywhere;min-width:5em}
span.w{white-space:normal;display:inline-block;min-width:9em;text-align:left}
th{white-space:normal}
div.scroll{overflow-x:auto}
table.kv td:first-child{font-weight:600;text-align:left;white-space:nowrap}
table.kv td{text-align:left;white-space:normal}
.met{color:#1a7f37;font-weight:600}
.missed{color:#c62828;font-weight:600}
.muted{color:#777}
ul.findings li{margin:.25em 0}
figure{margin:1em 0;display:block;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}
code{background:#f4f6f8;padding:0 .2em}
.warn{background:#fff8e1;border-left:4px solid #f9a825;padding:.4em .8em;margin:.3em 0}
footer{margin-top:3em;color:#888;font-size:.85em}
";

/// The hash source of a script for a Content Security Policy: base64 of its SHA-256.
fn csp_hash(script: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()))
}

/// The whole page for `report`, listing `charts` (from [`crate::charts::plan_charts`]) as
/// sibling `<stem>.png` images.
pub fn page(report: &Report, charts: &[Chart]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, report);
    nav(&mut out, report, charts);
    findings_section(&mut out, report);
    // The answer first: the capacity of a plan (with its knee), the grid of a sweep, the
    // headline table of a run; then what may qualify it.
    let knee: Vec<&Chart> = charts
        .iter()
        .filter(|c| matches!(c.kind, ChartKind::PlanKnee))
        .collect();
    plan::plan_section(&mut out, report, &knee);
    sweep::sweep_section(&mut out, report);
    run::summary_section(&mut out, report);
    warnings_section(&mut out, report);
    run::cores_section(&mut out, report);
    scenario::scenario_section(&mut out, report);
    run::paths_section(&mut out, report);
    run::flows_section(&mut out, report);
    events::events_section(&mut out, report);
    events::egress_section(&mut out, report);
    senders::senders_section(&mut out, report);
    run::nic_section(&mut out, report);
    run::slo_section(&mut out, report);
    charts_section(&mut out, charts);
    glossary::glossary_section(&mut out, report);
    notes_section(&mut out, report);
    let _ = writeln!(
        out,
        "<footer>Generated by {} {} from <code>report.json</code> (schema <code>{}</code>). Open <code>report.json</code> for every figure.</footer>",
        esc(&report.tool.name),
        esc(&report.tool.version),
        esc(&report.schema)
    );
    close_document(&mut out);
    out
}

/// `<head>` (with the Content Security Policy and the CSS) and the page's `<header>`.
fn head(out: &mut String, report: &Report) {
    let name = esc(&report.scenario.name);
    let mut sub = format!(
        "{} report · {} configuration(s) · {} {}",
        report.kind.as_str(),
        report.runs.len(),
        esc(&report.tool.name),
        esc(&report.tool.version),
    );
    if let Some(c) = &report.tool.commit {
        let short: String = c.chars().take(10).collect();
        let _ = write!(sub, " · commit <code>{}</code>", esc(&short));
    }
    if let Some(d) = &report.tool.date {
        let _ = write!(sub, " · {}", esc(d));
    }
    let _ = write!(sub, " · schema <code>{}</code>", esc(&report.schema));
    open_document(
        out,
        &format!("offsim report: {name}"),
        &sub,
        &format!("{} {}", esc(&report.tool.name), esc(&report.tool.version)),
    );
}

/// The start of a page up to its `<header>`: `title` and `sub` (HTML, escaped by the
/// caller), the Content Security Policy, the CSS and the generator's name.
pub(crate) fn open_document(out: &mut String, title: &str, sub: &str, generator: &str) {
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; script-src 'sha256-{}'",
        csp_hash(IMAGE_CHECK_SCRIPT)
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"generator\" content=\"{generator}\">\n<title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n\
<body data-images-ok=\"pending\">\n<header>\n<h1>{title}</h1>\n"
    );
    let _ = writeln!(out, "<p class=\"sub\">{sub}</p>\n</header>");
}

/// The end of a page: the image check script.
pub(crate) fn close_document(out: &mut String) {
    let _ = writeln!(
        out,
        "<script>{IMAGE_CHECK_SCRIPT}</script>\n</body>\n</html>"
    );
}

/// Links to the sections the page has.
fn nav(out: &mut String, report: &Report, charts: &[Chart]) {
    h(
        out,
        "<nav><a href=\"#findings\">Findings</a><a href=\"#summary\">Configurations</a><a href=\"#scenario\">Scenario</a><a href=\"#paths\">Paths</a><a href=\"#flows\">Flows</a><a href=\"#nic\">Hardware table</a>",
    );
    if report.runs.iter().any(|r| r.slo.is_some()) {
        h(out, "<a href=\"#slo\">SLO</a>");
    }
    if report.sweep.is_some() {
        h(out, "<a href=\"#sweep\">Sweep</a>");
    }
    if report.plan.is_some() {
        h(out, "<a href=\"#plan\">Plan</a>");
    }
    if !charts.is_empty() {
        h(out, "<a href=\"#charts\">Charts</a>");
    }
    if events::has_events(report) {
        h(out, "<a href=\"#events\">Events</a>");
    }
    if events::has_egress(report) {
        h(out, "<a href=\"#egress\">Egress queues</a>");
    }
    if senders::has_senders(report) {
        h(out, "<a href=\"#senders\">TCP senders</a>");
    }
    if !glossary::codes_shown(report).is_empty() {
        h(out, "<a href=\"#glossary\">Reason codes</a>");
    }
    h(out, "</nav>\n");
}

/// The findings (see [`findings::findings`]) as a list.
fn findings_section(out: &mut String, report: &Report) {
    h(
        out,
        "<section id=\"findings\">\n<h2>Findings</h2>\n<ul class=\"findings\">\n",
    );
    for f in findings::findings(report) {
        let _ = writeln!(out, "<li>{}</li>", esc(&f));
    }
    h(out, "</ul>\n</section>\n");
}

/// The report's warnings, if any.
fn warnings_section(out: &mut String, report: &Report) {
    if report.warnings.is_empty() {
        return;
    }
    h(out, "<section id=\"warnings\">\n<h2>Warnings</h2>\n");
    for w in &report.warnings {
        let _ = writeln!(out, "<p class=\"warn\">{}</p>", esc(w));
    }
    h(out, "</section>\n");
}

/// The report's notes (how a search was run, …): information, not warnings.
fn notes_section(out: &mut String, report: &Report) {
    if report.notes.is_empty() {
        return;
    }
    h(out, "<section id=\"notes\">\n<h2>Notes</h2>\n");
    for n in &report.notes {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", esc(n));
    }
    h(out, "</section>\n");
}

/// The charts, as sibling PNG images with a link to each SVG.
fn charts_section(out: &mut String, charts: &[Chart]) {
    if charts.is_empty() {
        return;
    }
    h(out, "<section id=\"charts\">\n<h2>Charts</h2>\n");
    // The knee is in the plan section.
    for c in charts
        .iter()
        .filter(|c| !matches!(c.kind, ChartKind::PlanKnee))
    {
        figure(out, c);
    }
    h(out, "</section>\n");
}

/// One chart as a sibling PNG image with a link to its SVG.
pub(crate) fn figure(out: &mut String, c: &Chart) {
    let height = c.height();
    let stem = esc(&c.stem);
    let _ = writeln!(
        out,
        "<figure><img src=\"{stem}.png\" width=\"{WIDTH}\" height=\"{height}\" alt=\"{}\"><figcaption>{} · <a href=\"{stem}.svg\">SVG</a></figcaption></figure>",
        esc(&c.title),
        esc(&c.title)
    );
}

#[cfg(test)]
mod test {
    use super::*;

    /// The crates' SHA-256 and base64 give the published vectors (FIPS 180-4 examples).
    #[test]
    fn csp_hash_known_vectors() {
        assert_eq!(csp_hash(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(
            csp_hash("abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }
}
