//! Any byte string as a capture file: the reader must end (error or EOF) without panicking,
//! and every record it returns must parse.
#![no_main]
use libfuzzer_sys::fuzz_target;
use offsim_traces::parse::parse_frame;
use offsim_traces::pcap::TraceReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = TraceReader::new(data, "fuzz") {
        while let Ok(Some(rec)) = r.next_record() {
            let _ = parse_frame(rec.link, rec.data, rec.orig_len, rec.ts, rec.iface);
        }
    }
});
