//! Typed outcomes of table operations.

use serde::Serialize;

/// Why a rule cannot be offloaded by this NIC (the driver's -EOPNOTSUPP / -EINVAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum UnsupportedReason {
    /// IPv6 flow on a NIC configured without IPv6 offload.
    #[error("IPv6 not offloaded")]
    Ipv6,
    /// More encapsulation layers than the NIC supports.
    #[error("too many VLAN/PPPoE layers")]
    EncapDepth,
    /// Transport protocol other than TCP/UDP.
    #[error("transport protocol not offloaded")]
    L4Protocol,
    /// The key is not a valid tuple (IP version not 4/6).
    #[error("invalid key")]
    InvalidKey,
}

/// Why an operation was refused. Submission-time refusals are `QueueFull` and `RateLimited`;
/// the others come back in the op's completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum InsertError {
    /// Every candidate slot for the key is taken (hashed bucket, or cuckoo after the kick-out
    /// bound) and the policy does not evict.
    #[error("bucket full")]
    BucketFull,
    /// Every usable entry is taken (fully associative table) and the policy does not evict.
    #[error("table full")]
    TableFull,
    /// The device was busy and the pipeline has no queue.
    #[error("insertion rate limit")]
    RateLimited,
    /// The op kind's queue is at its depth.
    #[error("insertion queue full")]
    QueueFull,
    /// The rule cannot be expressed in this NIC.
    #[error("unsupported: {0}")]
    Unsupported(UnsupportedReason),
    /// The cookie (or, for direct insertion, the key) is already present (-EEXIST).
    #[error("already present")]
    Exists,
    /// Remove/stats for a cookie the NIC does not know (-ENOENT).
    #[error("not found")]
    NotFound,
}
