//! Any byte string as a report: parsing never panics, and a report that parses
//! re-serialises and renders its page.
#![no_main]
use libfuzzer_sys::fuzz_target;
use offsim_reports::Report;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Report::from_json(text) {
        let again = r.to_json_string();
        assert!(Report::from_json(&again).is_ok());
        let _ = offsim_reports::html::page(&r, &[]);
    }
});
