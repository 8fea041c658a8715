//! Any byte string as a frame of every link type.
#![no_main]
use libfuzzer_sys::fuzz_target;
use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::time::SimTime;

fuzz_target!(|data: &[u8]| {
    for lt in [
        LinkType::Ethernet,
        LinkType::Raw,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Ipv6,
    ] {
        let m = parse_frame(lt, data, data.len() as u32, SimTime(0), 0);
        let _ = m.flow_key();
        let _ = parse_frame(lt, data, data.len() as u32 + 100, SimTime(0), 0);
    }
});
