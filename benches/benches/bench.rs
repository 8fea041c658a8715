//! The bench binary: one criterion run over every subsystem's benches.
//! Run one subsystem with a filter, e.g. `cargo bench -p offsim-benches -- nic`.

fn main() {
    let mut c = criterion::Criterion::default().configure_from_args();
    // One line per subsystem module under benches/src/.
    offsim_benches::r#gen::bench(&mut c);
    offsim_benches::nft::benches(&mut c);
    offsim_benches::dups::bench(&mut c);
    offsim_benches::sides::bench(&mut c);
    offsim_benches::conntrack::bench(&mut c);
    offsim_benches::nic::bench(&mut c);
    offsim_benches::traces::bench(&mut c);
    offsim_benches::flowtable::bench(&mut c);
    offsim_benches::nat::bench(&mut c);
    offsim_benches::engine::bench(&mut c);
    c.final_summary();
}
