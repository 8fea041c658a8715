//! The integration tests of offsim-nicmodel, in one test binary (ripgrep's layout, as in
//! offsim-traces). [`model`]: table invariants under random operations, an end-to-end
//! offload loop driven the way the simulator drives the NIC, determinism, and a replay of a
//! real capture when it is available.

mod model;
