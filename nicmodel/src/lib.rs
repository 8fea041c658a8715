//! offsim-nicmodel: the NIC (filled by the offload issue).
