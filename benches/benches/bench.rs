//! The criterion entry point (`harness = false`): one call per subsystem module.

fn main() {
    let mut c = criterion::Criterion::default().configure_from_args();
    offsim_benches::r#gen::bench(&mut c);
    offsim_benches::nft::benches(&mut c);
    c.final_summary();
}
