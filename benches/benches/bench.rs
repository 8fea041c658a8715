//! criterion entry point: runs every subsystem's benches.

fn main() {
    let mut c = criterion::Criterion::default().configure_from_args();
    offsim_benches::nft::benches(&mut c);
    c.final_summary();
}
